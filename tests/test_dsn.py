"""One DSN parser: engines by scheme in any case, paths, unknown schemes refused, identity of two DSNs."""

from __future__ import annotations

import pytest

from clavadb.dsn import parse, same_database
from clavadb.errors import BadDSN


@pytest.mark.parametrize("text, engine, path", [
    ("postgresql://u@h/db", "postgresql", None),
    ("POSTGRESQL://u@h/db", "postgresql", None),
    ("Postgres://u@h/db", "postgresql", None),
    ("postgresql+psycopg://u@h/db", "postgresql", None),
    ("duckdb:///abs/x.duckdb", "duckdb", "/abs/x.duckdb"),
    ("DuckDB:///abs/x.duckdb", "duckdb", "/abs/x.duckdb"),
    ("rel/x.DuckDB", "duckdb", "rel/x.DuckDB"),
    (":memory:", "duckdb", ":memory:"),
    ("duckdb:///:memory:", "duckdb", ":memory:"),
    ("sqlite:///x.db", "sqlalchemy", None),
    ("x.sqlite3", "sqlalchemy", "x.sqlite3"),
    ("mysql+pymysql://u:p@h/db", "sqlalchemy", None),
])
def test_forms(text, engine, path):
    d = parse(text)
    assert (d.engine, d.path) == (engine, path)


@pytest.mark.parametrize("text", ["oracle://u@h/db", "mssql://u@h/db", "x.csv", "", "postgresql://u@h:99999/db"])
def test_refused(text):
    with pytest.raises(BadDSN):
        parse(text)


def test_same_database(tmp_path):
    f = tmp_path / "a.duckdb"
    f.write_bytes(b"")
    (tmp_path / "link.duckdb").symlink_to(f)
    assert same_database(parse(str(f)), parse(f"duckdb://{tmp_path}/link.duckdb"))
    assert not same_database(parse(str(f)), parse(str(tmp_path / "b.duckdb")))
    assert not same_database(parse(":memory:"), parse(":memory:"))
    assert same_database(parse("postgresql://a:x@localhost/app"), parse("POSTGRES://b@127.0.0.1:5432/app"))
    assert not same_database(parse("postgresql://a@localhost/app"), parse("postgresql://a@localhost/app2"))
    assert not same_database(parse("postgresql://a@db1/app"), parse("postgresql://a@db2/app"))
    assert same_database(parse("postgresql://app@h/"), parse("postgresql://x@h/app"))  # libpq: db = user
