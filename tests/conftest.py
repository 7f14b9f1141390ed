"""Fixtures: a real PostgreSQL (pgserver, or the server named by CLAVADB_TEST_POSTGRES) and fresh databases."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import load_duckdb, load_postgres  # noqa: E402


def with_database(uri: str, db: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path="/" + db))


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> str:
    """URI of a maintenance database on a running PostgreSQL server."""
    external = os.environ.get("CLAVADB_TEST_POSTGRES")
    if external:
        yield external
        return
    import shutil
    import tempfile

    import pgserver

    # Under root pgserver runs the server as its own user, which cannot enter pytest's 0700 temp root.
    base = Path(tempfile.mkdtemp(prefix="clavadb-pg-"))
    base.chmod(0o755)
    server = pgserver.get_server(base / "data", cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def new_pg(pg_server):
    """Factory of fresh, empty PostgreSQL databases; returns their DSN. Dropped after the test."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_server, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return with_database(pg_server, name)

    yield make
    with psycopg.connect(pg_server, autocommit=True) as con:
        for name in made:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_loaded: dict[str, str] = {}


@pytest.fixture(scope="session")
def pg_dataset(pg_server):
    """Factory: DSN of a PostgreSQL database holding a real dataset, loaded once per test session.
    Tests must treat it as read-only."""

    def get(name: str) -> str:
        if name not in _loaded:
            db = f"ds_{name}"
            with psycopg.connect(pg_server, autocommit=True) as con:
                con.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                con.execute(f'CREATE DATABASE "{db}"')
            dsn = with_database(pg_server, db)
            load_postgres(dsn, name)
            _loaded[name] = dsn
        return _loaded[name]

    return get


@pytest.fixture(scope="session")
def duckdb_movielens(tmp_path_factory) -> str:
    """Path of a DuckDB file holding MovieLens (read-only for tests)."""
    path = str(tmp_path_factory.mktemp("duck") / "movielens.duckdb")
    load_duckdb(path, "movielens")
    return path
