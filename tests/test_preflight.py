"""Checks before work: every failure a user can cause is one line and its own exit code, found before a
row is read or a model is fit (the stage lines `read:` / `fit:` never appear), and nothing is written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from clavadb.cli import main
from clavadb.examples import write_example

FAST = ["--preset", "test"]


def cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def assert_refused_early(code: int, out: str, want: int, pattern: str) -> None:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("clavadb: error:") or ln.startswith("Error:")]
    assert code == want, out
    assert len(errors) == 1 and pattern.lower() in errors[0].lower(), out
    assert not any(ln.startswith(("read:", "fit:", "sample:", "write:")) for ln in lines), out
    assert "Traceback" not in out


@pytest.fixture(scope="module")
def chinook(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("src") / "chinook.duckdb")
    write_example("chinook", path)
    return path


def test_existing_destination_refused_before_reading(chinook, tmp_path):
    dst = tmp_path / "dst.duckdb"
    write_example("chinook", str(dst))
    before = md5(dst)
    code, out = cli("clone", chinook, dst, *FAST)
    assert_refused_early(code, out, 3, "already holds 11 of the tables")
    assert md5(dst) == before


@pytest.mark.parametrize("dst, want, pattern", [
    ("oracle://u:pw@h/db", 12, "unknown DSN scheme"),
    ("mssql:///x.db", 12, "unknown DSN scheme 'mssql'"),
    ("not a dsn", 12, "is not a DSN"),
    ("postgresql://postgres@127.0.0.1:1/nodb", 6, "cannot reach PostgreSQL"),
    ("/nonexistent/dir/out.duckdb", 8, "does not exist"),
])
def test_bad_destination_refused_before_reading(chinook, dst, want, pattern):
    code, out = cli("clone", chinook, dst, *FAST)
    assert_refused_early(code, out, want, pattern)


@pytest.mark.parametrize("args, pattern", [
    (["--scale", "0"], "--scale"),
    (["--scale", "11"], "--scale"),
    (["--seed", "-5"], "--seed"),
    (["--rare-k", "0"], "--rare-k"),
])
def test_options_out_of_range_rejected_at_parse_time(chinook, tmp_path, args, pattern):
    code, out = cli("clone", chinook, tmp_path / "o.duckdb", *FAST, *args)
    assert_refused_early(code, out, 2, pattern)
    assert not (tmp_path / "o.duckdb").exists()


@pytest.mark.parametrize("setting, pattern", [
    ("steps=-1", "out of range"),
    ("lr=abc", "expected a number"),
    ("layers=[0]", "positive integers"),
    ("calibrate=maybe", "true or false"),
    ("nonsense=1", "unknown model setting"),
])
def test_bad_model_settings_rejected_before_reading(chinook, tmp_path, setting, pattern):
    code, out = cli("clone", chinook, tmp_path / "o.duckdb", *FAST, "--set", setting)
    assert_refused_early(code, out, 5, pattern)


@pytest.mark.parametrize("body, pattern", [
    ("[clone]\nscale = 0\n", "scale"),
    ("[clone]\nseed = -5\n", "seed"),
    ("[clone]\npreset = 'huge'\n", "preset"),
    ("[tables.nosuch]\nexclude = true\n", "nosuch"),
])
def test_bad_config_rejected_before_reading(chinook, tmp_path, body, pattern):
    cfg = tmp_path / "clavadb.toml"
    cfg.write_text(body)
    code, out = cli("clone", chinook, tmp_path / "o.duckdb", *FAST, "--config", cfg)
    assert_refused_early(code, out, 5, pattern)


def test_source_as_destination_refused_even_with_replace(chinook, tmp_path):
    before = md5(chinook)
    link = tmp_path / "alias.duckdb"
    link.symlink_to(chinook)
    for dst in (chinook, f"duckdb://{chinook}", str(link)):
        code, out = cli("clone", chinook, dst, *FAST, "--replace")
        assert_refused_early(code, out, 9, "the same database")
    assert md5(chinook) == before


def test_postgres_source_as_destination_refused_by_identity(pg_dataset):
    """Two spellings of one server (socket directory and 127.0.0.1 would differ by text; the server's own
    identity does not): the live check refuses both."""
    src = pg_dataset("chinook")
    with psycopg.connect(src) as con:
        before = con.execute("SELECT count(*), sum(album_id) FROM album").fetchone()
    alias = src.replace("postgresql://", "postgres://", 1)
    code, out = cli("clone", src, alias, *FAST, "--replace")
    assert_refused_early(code, out, 9, "the same database")
    with psycopg.connect(src) as con:
        assert con.execute("SELECT count(*), sum(album_id) FROM album").fetchone() == before


def test_source_without_tables_and_missing_source(tmp_path):
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    code, out = cli("clone", empty, tmp_path / "o.duckdb", *FAST)
    assert_refused_early(code, out, 7, "has no tables")
    code, out = cli("clone", tmp_path / "missing.duckdb", tmp_path / "o.duckdb", *FAST)
    assert_refused_early(code, out, 1, "no DuckDB database")


@pytest.fixture
def limited_role(pg_server, new_pg):
    """A login role that may read only table `a` of a fresh database and create nothing in it."""
    db = new_pg("perm")
    role = f"r_{os.urandom(4).hex()}"
    with psycopg.connect(db, autocommit=True) as con:
        con.execute(f'CREATE ROLE "{role}" LOGIN')
        con.execute("CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY)")
        con.execute("INSERT INTO a SELECT g, 'x' || g FROM generate_series(1, 50) g")
        con.execute(f'GRANT SELECT ON a TO "{role}"; REVOKE CREATE ON SCHEMA public FROM PUBLIC')
    yield db, role
    with psycopg.connect(db, autocommit=True) as con:
        con.execute(f'DROP OWNED BY "{role}"')
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f'DROP ROLE IF EXISTS "{role}"')


def _as(dsn: str, role: str) -> str:
    return dsn.replace("postgresql://postgres:", f"postgresql://{role}:", 1)


def test_unreadable_source_table_refused(limited_role, tmp_path):
    db, role = limited_role
    code, out = cli("clone", _as(db, role), tmp_path / "o.duckdb", *FAST)
    assert_refused_early(code, out, 7, "permission denied for table b")


def test_unwritable_postgres_destination_refused_before_reading(limited_role, chinook):
    db, role = limited_role
    code, out = cli("clone", chinook, _as(db, role), *FAST)
    assert_refused_early(code, out, 8, "permission")


def test_train_output_directory_checked_before_reading(chinook, tmp_path):
    code, out = cli("train", chinook, "-o", tmp_path / "no" / "dir" / "m.clava", *FAST)
    assert_refused_early(code, out, 8, "does not exist")


def test_report_output_checked_before_reading(chinook, tmp_path):
    code, out = cli("report", chinook, chinook, "--html", tmp_path / "no" / "r.html")
    assert_refused_early(code, out, 8, "does not exist")
