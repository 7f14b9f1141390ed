"""Database adapters. `open_adapter(dsn)` picks the engine from the DSN."""

from __future__ import annotations

from clavadb.errors import ClavaError

from .base import Adapter, WriteReport

__all__ = ["Adapter", "WriteReport", "open_adapter", "engine_of"]


# DSN schemes of the engines reached through SQLAlchemy (`mysql+pymysql://...` names its driver too).
SQLALCHEMY_SCHEMES = ("sqlite", "mysql", "mariadb")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite_file(path: str) -> bool:
    """Whether `path` is an existing SQLite database file (by its 16-byte header)."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def engine_of(dsn: str) -> str:
    """The engine a DSN names: "postgresql", "duckdb", or "sqlalchemy" (SQLite, MySQL / MariaDB)."""
    low = dsn.lower()
    if low.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql"
    if low.split(":", 1)[0].split("+", 1)[0] in SQLALCHEMY_SCHEMES and "://" in low:
        return "sqlalchemy"
    if low.endswith(SQLITE_SUFFIXES) or (low.endswith(".db") and is_sqlite_file(dsn)):
        return "sqlalchemy"  # a bare path; a new .db file stays DuckDB's, as before
    if low.startswith("duckdb://") or low.endswith((".duckdb", ".db", ".ddb")) or low == ":memory:":
        return "duckdb"
    raise ClavaError(
        f"unknown DSN {dsn!r}",
        "use postgresql://user:pass@host/db, duckdb:///path/file.duckdb (or a path ending in .duckdb), "
        "sqlite:///path/file.db or mysql+pymysql://user:pass@host/db",
    )


def open_adapter(dsn: str, read_only: bool = True) -> Adapter:
    engine = engine_of(dsn)
    if engine == "postgresql":
        from .postgres import PostgresAdapter

        return PostgresAdapter(dsn, read_only=read_only)
    if engine == "sqlalchemy":
        from .sqla import SQLAlchemyAdapter

        return SQLAlchemyAdapter(dsn, read_only=read_only)
    from .duckdb import DuckDBAdapter

    return DuckDBAdapter(dsn, read_only=read_only)
