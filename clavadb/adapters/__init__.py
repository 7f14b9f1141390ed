"""Database adapters. `open_adapter(dsn)` picks the engine from the DSN."""

from __future__ import annotations

from clavadb.errors import ClavaError

from .base import Adapter, WriteReport

__all__ = ["Adapter", "WriteReport", "open_adapter", "engine_of"]


def engine_of(dsn: str) -> str:
    low = dsn.lower()
    if low.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql"
    if low.startswith("duckdb://") or low.endswith((".duckdb", ".db", ".ddb")) or low == ":memory:":
        return "duckdb"
    raise ClavaError(
        f"unknown DSN {dsn!r}",
        "use postgresql://user:pass@host/db, duckdb:///path/file.duckdb or a path ending in .duckdb",
    )


def open_adapter(dsn: str, read_only: bool = True) -> Adapter:
    engine = engine_of(dsn)
    if engine == "postgresql":
        from .postgres import PostgresAdapter

        return PostgresAdapter(dsn, read_only=read_only)
    from .duckdb import DuckDBAdapter

    return DuckDBAdapter(dsn, read_only=read_only)
