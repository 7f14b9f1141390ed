"""--replace drops only the tables it recreates: it refuses, naming them, when views or other tables' foreign
keys depend on them, and --replace-cascade is the one way to drop those too. PostgreSQL and DuckDB."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import psycopg
import pytest
from click.testing import CliRunner

from clavadb.cli import main
from clavadb.examples import write_example


def cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


def objects(dsn: str) -> set[tuple]:
    with psycopg.connect(dsn) as con:
        rels = con.execute("SELECT relname, relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
                           "c.relnamespace WHERE nspname = 'public' AND relkind IN ('r', 'v')").fetchall()
        cons = con.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'").fetchall()
    return set(rels) | {("fk", c) for (c,) in cons}


@pytest.fixture
def pg_dst(new_pg):
    """The chinook example, plus a view on album and a table of the user's referencing artist."""
    dst = new_pg("rep")
    write_example("chinook", dst)
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute("CREATE VIEW album_titles AS SELECT title FROM album")
        con.execute("CREATE TABLE fan (id int PRIMARY KEY, artist_id int CONSTRAINT fan_artist_fk "
                    "REFERENCES artist (artist_id))")
        con.execute("INSERT INTO fan VALUES (1, 1)")
    return dst


def test_postgres_replace_refuses_dependents_and_keeps_everything(pg_dst):
    before = objects(pg_dst)
    code, out = cli("example", "chinook", pg_dst, "--replace")
    assert code == 10, out
    assert "album_titles" in out and "fan_artist_fk" in out and "--replace-cascade" in out
    assert objects(pg_dst) == before


def test_postgres_replace_without_dependents_drops_only_its_tables(new_pg):
    dst = new_pg("rep")
    write_example("chinook", dst)
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute("CREATE TABLE keepme (id int); INSERT INTO keepme VALUES (7)")
        con.execute("CREATE VIEW keep_view AS SELECT id FROM keepme")
    code, out = cli("example", "chinook", dst, "--replace", "--quiet")
    assert code == 0, out
    with psycopg.connect(dst) as con:
        assert con.execute("SELECT id FROM keep_view").fetchall() == [(7,)]
        assert con.execute("SELECT count(*) FROM album").fetchone()[0] == 347


def test_postgres_replace_cascade_drops_dependents(pg_dst):
    code, out = cli("example", "chinook", pg_dst, "--replace-cascade", "--quiet")
    assert code == 0, out
    after = objects(pg_dst)
    assert ("album_titles", "v") not in after and ("fk", "fan_artist_fk") not in after
    assert ("fan", "r") in after  # the other table itself stays, without its FK


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_duckdb_replace_refuses_a_dependent_view_unless_cascade(tmp_path):
    dst = tmp_path / "d.duckdb"
    write_example("chinook", str(dst))
    con = duckdb.connect(str(dst))
    con.execute("CREATE VIEW album_titles AS SELECT title FROM album")
    con.close()
    before = md5(dst)
    code, out = cli("example", "chinook", dst, "--replace")
    assert code == 10 and "album_titles" in out, out
    assert md5(dst) == before
    code, out = cli("example", "chinook", dst, "--replace-cascade", "--quiet")
    assert code == 0, out
    con = duckdb.connect(str(dst), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM album").fetchone()[0] == 347
    con.close()


def test_duckdb_replace_refuses_a_referencing_table_even_with_cascade(tmp_path):
    dst = tmp_path / "d.duckdb"
    write_example("chinook", str(dst))
    con = duckdb.connect(str(dst))
    con.execute("CREATE TABLE fan (id int PRIMARY KEY, artist_id int REFERENCES artist (artist_id))")
    con.close()
    before = md5(dst)
    for flag in ("--replace", "--replace-cascade"):
        code, out = cli("example", "chinook", dst, flag)
        assert code == 10 and "fan" in out, out
        assert md5(dst) == before
