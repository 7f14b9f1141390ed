"""SQLite through the SQLAlchemy adapter, in every pair with PostgreSQL and DuckDB, on the real Chinook:
mirrors (exact rows, the same constraint set, each constraint enforced by the destination) and clones
with the `test` preset (constraints declared and holding, SQLite's own integrity checks, row counts)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from test_cli import FAST, assert_valid, constraint_set, read_all, run
from test_cross_engine import (
    _assert_rejected_duckdb,
    _assert_rejected_pg,
    _assert_same_rows,
    _constraints,
    _kinds,
    assert_rejected,
)

from clavadb.adapters import engine_of, open_adapter
from clavadb.errors import ClavaError, DestinationNotEmpty


def mirror(src: str, dst: str):
    """Copy src into dst through the adapters; (source schema, destination schema, write report)."""
    with open_adapter(src) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    with open_adapter(dst, read_only=False) as b:
        report = b.write(schema, data)
    with open_adapter(dst) as b:
        return schema, b.introspect(), report


def sqlite_checks(path: str) -> None:
    """SQLite's own verdict on a database file: every FK has its parent row, the file is sound."""
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


def assert_rejected_sqlite(path: str, schema) -> set[str]:
    """Each violating INSERT (duplicate key, dangling FK, NULL in NOT NULL) fails with foreign keys on."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys = ON")
    try:
        return assert_rejected(schema, con.execute, lambda kind: sqlite3.IntegrityError)
    finally:
        con.rollback()
        con.close()


@pytest.fixture(scope="module")
def chinook(pg_dataset, tmp_path_factory) -> dict[str, str]:
    """Chinook in each engine: the PostgreSQL dataset, and its mirrors into DuckDB and SQLite."""
    pg = pg_dataset("chinook")
    out = tmp_path_factory.mktemp("chinook_engines")
    duck, lite = str(out / "chinook.duckdb"), f"sqlite:///{out}/chinook.db"
    mirror(pg, duck)
    mirror(pg, lite)
    return {"postgresql": pg, "duckdb": duck, "sqlite": lite}


def _destination(engine: str, new_pg, tmp_path, name: str = "dst") -> str:
    if engine == "postgresql":
        return new_pg()
    return str(tmp_path / f"{name}.duckdb") if engine == "duckdb" else f"sqlite:///{tmp_path}/{name}.db"


def _assert_enforced(engine: str, dsn: str, schema) -> None:
    if engine == "sqlite":
        path = dsn.removeprefix("sqlite:///")
        sqlite_checks(path)
        seen = assert_rejected_sqlite(path, schema)
    elif engine == "duckdb":
        seen = _assert_rejected_duckdb(dsn, schema)
    else:
        seen = _assert_rejected_pg(dsn, schema)
    assert {"pk", "fk", "not null"} <= seen


PAIRS = [("postgresql", "sqlite"), ("duckdb", "sqlite"), ("sqlite", "sqlite"), ("sqlite", "postgresql"),
         ("sqlite", "duckdb")]


@pytest.mark.parametrize("src_engine, dst_engine", PAIRS)
def test_mirror_chinook(src_engine, dst_engine, chinook, new_pg, tmp_path):
    src = chinook[src_engine]
    dst = _destination(dst_engine, new_pg, tmp_path)
    schema, out, report = mirror(src, dst)
    rows = {k: t.row_count for k, t in schema.tables.items()}
    assert report.tables == rows
    assert {k: t.row_count for k, t in out.tables.items()} == rows
    assert _constraints(out) == _constraints(schema)
    assert _kinds(out) == _kinds(schema)
    _assert_same_rows(src, schema, dst, out)
    _assert_enforced(dst_engine, dst, out)


def test_sqlite_reflects_what_it_declares(tmp_path):
    """A hand-written SQLite schema: inline UNIQUE, named and unnamed CHECKs, declared type names SQLAlchemy
    reduces to an affinity (UUID, TIMESTAMPTZ), a self-reference; and a value of the wrong type."""
    path = tmp_path / "hand.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE team (id INTEGER PRIMARY KEY, code VARCHAR(4) NOT NULL UNIQUE, uid UUID, since TIMESTAMPTZ,
                           budget NUMERIC(8,2), CONSTRAINT budget_positive CHECK (budget >= 0));
        CREATE TABLE member (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES team (id),
                             mentor_id INTEGER REFERENCES member (id), email TEXT, CHECK (email LIKE '%@%'));
        INSERT INTO team VALUES (1, 'AB', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-02 03:04:05', 10.5);
        INSERT INTO member VALUES (1, 1, NULL, 'a@x.org'), (2, 1, 1, 'b@x.org');
    """)
    con.commit()
    con.close()
    with open_adapter(str(path)) as a:
        schema = a.introspect()
        team, member = schema.table("team"), schema.table("member")
        assert {c.name: c.kind for c in team.columns} == {
            "id": "int", "code": "text", "uid": "uuid", "since": "timestamptz", "budget": "decimal"}
        assert [u.columns for u in team.uniques] == [["code"]]
        assert [(c.name, c.expression) for c in team.checks] == [("budget_positive", "budget >= 0")]
        assert [c.expression for c in member.checks] == ["email LIKE '%@%'"]
        assert {(tuple(f.columns), f.ref_table) for f in member.foreign_keys} == {
            (("team_id",), "team"), (("mentor_id",), "member")}
        assert schema.table("member").row_count == 2
        rows = a.read_table(team).to_pylist()
        assert str(rows[0]["since"]) == "2024-01-02 03:04:05+00:00" and str(rows[0]["budget"]) == "10.50"
    con = sqlite3.connect(path)
    con.execute("UPDATE team SET budget = 'lots'")
    con.commit()
    con.close()
    with open_adapter(str(path)) as a, pytest.raises(ClavaError, match="team"):
        a.read_table(a.introspect().table("team"))


def test_failed_write_leaves_nothing(chinook, tmp_path):
    """A write the destination rejects (a dangling FK) is rolled back: a new SQLite file is removed, an
    existing one keeps exactly what it held; a second write without replace is refused."""
    with open_adapter(chinook["sqlite"]) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    track = data["track"]
    i = track.schema.get_field_index("album_id")
    bad = dict(data, track=track.set_column(i, "album_id", pc.add(track.column("album_id"), 100_000)))
    new = tmp_path / "new.db"
    with pytest.raises(ClavaError, match="FOREIGN KEY"), open_adapter(f"sqlite:///{new}", read_only=False) as b:
        b.write(schema, bad)
    assert not new.exists()

    kept = tmp_path / "kept.db"
    con = sqlite3.connect(kept)
    con.execute("CREATE TABLE other (x INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(ClavaError), open_adapter(f"sqlite:///{kept}", read_only=False) as b:
        b.write(schema, bad)
    con = sqlite3.connect(kept)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("other",)]
    con.close()
    with open_adapter(f"sqlite:///{kept}", read_only=False) as b:
        b.write(schema, data)
    with pytest.raises(DestinationNotEmpty), open_adapter(f"sqlite:///{kept}", read_only=False) as b:
        b.write(schema, data)
    with open_adapter(f"sqlite:///{kept}", read_only=False) as b:
        assert b.write(schema, data, replace=True).tables == {k: t.num_rows for k, t in data.items()}


def test_source_is_read_only(chinook):
    with open_adapter(chinook["sqlite"]) as a:
        schema = a.introspect()
        with pytest.raises(ClavaError, match="read-only"):
            a.write(schema, {})
    with pytest.raises(ClavaError, match="no SQLite database"):
        open_adapter("sqlite:///does/not/exist.db")


def test_dsns_pick_the_engine(chinook, tmp_path):
    path = chinook["sqlite"].removeprefix("sqlite:///")
    assert engine_of(chinook["sqlite"]) == engine_of(path) == engine_of("x.sqlite3") == "sqlalchemy"
    assert engine_of("mysql+pymysql://u:p@h/db") == "sqlalchemy"
    assert engine_of(str(tmp_path / "new.db")) == "duckdb"  # a .db path that is no SQLite file: as before


@pytest.fixture(scope="module")
def models(chinook, tmp_path_factory) -> dict[str, str]:
    """A `test`-preset model trained on Chinook in SQLite and in PostgreSQL."""
    out = tmp_path_factory.mktemp("models")
    made = {}
    for engine in ("sqlite", "postgresql"):
        made[engine] = str(out / f"{engine}.clava")
        run("train", chinook[engine], "-o", made[engine], *FAST)
    return made


# DuckDB -> SQLite is left to the mirror above: the write it tests is the same, and a third training
# would add a minute to the suite.
CLONES = [("postgresql", "sqlite"), ("sqlite", "sqlite"), ("sqlite", "postgresql"), ("sqlite", "duckdb")]


@pytest.mark.parametrize("src_engine, dst_engine", CLONES)
def test_clone_chinook(src_engine, dst_engine, chinook, models, new_pg, tmp_path):
    """A synthetic copy (train, then sample) from each engine into each: every table, the source's
    constraint set, every constraint holding (SQLite: its foreign_key_check and integrity_check), root
    tables' row counts."""
    dst = _destination(dst_engine, new_pg, tmp_path)
    run("sample", models[src_engine], dst, "--seed", 5, "--quiet")
    real_schema, real = read_all(chinook[src_engine])
    schema, synth = read_all(dst)
    assert set(schema.tables) == set(real_schema.tables)
    assert constraint_set(schema) == constraint_set(real_schema)
    assert_valid(schema, synth)
    if dst_engine == "sqlite":
        sqlite_checks(dst.removeprefix("sqlite:///"))
    for key in real_schema.graph().roots():
        assert len(synth[key]) == len(real[key]), key
    assert all(len(synth[k]) > 0 for k in real if len(real[k]) > 0)


# -- MySQL / MariaDB, opt-in: CLAVADB_TEST_MYSQL=mysql+pymysql://user:password@host:port/ -------------------

MYSQL = os.environ.get("CLAVADB_TEST_MYSQL")


@pytest.fixture
def new_mysql():
    """Factory of fresh MySQL databases on the server CLAVADB_TEST_MYSQL names; dropped afterwards."""
    if not MYSQL:
        pytest.skip("set CLAVADB_TEST_MYSQL=mysql+pymysql://user:password@host:port/ to test MySQL / MariaDB")
    server = sa.create_engine(MYSQL)
    made: list[str] = []

    def make() -> str:
        name = f"clava_{uuid.uuid4().hex[:10]}"
        with server.begin() as con:
            con.exec_driver_sql(f"CREATE DATABASE `{name}`")
        made.append(name)
        return sa.engine.make_url(MYSQL).set(database=name).render_as_string(hide_password=False)

    yield make
    with server.begin() as con:
        for name in made:
            con.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    server.dispose()


def test_mysql_mirror_and_clone(chinook, models, new_mysql, new_pg, tmp_path):
    """PostgreSQL -> MySQL -> PostgreSQL and SQLite exact; a clone into MySQL valid; a failed write into
    MySQL (which commits each CREATE TABLE) drops the tables it made."""
    my = new_mysql()
    schema, out, report = mirror(chinook["postgresql"], my)
    rows = {k: t.row_count for k, t in schema.tables.items()}
    assert {k: t.row_count for k, t in out.tables.items()} == rows == report.tables
    assert _constraints(out) == _constraints(schema) and _kinds(out) == _kinds(schema)
    _assert_same_rows(chinook["postgresql"], schema, my, out)
    for engine in ("postgresql", "sqlite"):
        dst = _destination(engine, new_pg, tmp_path, f"from_mysql_{engine}")
        _, back, _ = mirror(my, dst)
        assert _constraints(back) == _constraints(schema)
        _assert_same_rows(chinook["postgresql"], schema, dst, back)

    clone = new_mysql()
    run("sample", models["sqlite"], clone, "--seed", 5, "--quiet")
    real_schema, _ = read_all(chinook["sqlite"])
    got, synth = read_all(clone)
    assert constraint_set(got) == constraint_set(real_schema)
    assert_valid(got, synth)

    with open_adapter(chinook["sqlite"]) as a:
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    track = data["track"]
    i = track.schema.get_field_index("album_id")
    bad = dict(data, track=track.set_column(i, "album_id", pc.add(track.column("album_id"), 100_000)))
    empty = new_mysql()
    with pytest.raises(ClavaError), open_adapter(empty, read_only=False) as b:
        b.write(schema, bad)
    with open_adapter(empty) as b:
        assert b.introspect().tables == {}


def test_source_is_never_the_destination(chinook, models):
    """Sampling into the SQLite file the model was trained on is refused (by the file's identity)."""
    path = chinook["sqlite"].removeprefix("sqlite:///")
    before = Path(path).read_bytes()
    for dst in (chinook["sqlite"], path):
        result = run("sample", models["sqlite"], dst, "--replace", ok=False)
        assert result.exit_code == 9, result.output
    assert Path(path).read_bytes() == before
