"""Database adapters. `open_adapter(dsn)` picks the engine from the DSN (parsed by clavadb.dsn)."""

from __future__ import annotations

from clavadb.dsn import engine_of

from .base import Adapter, WriteReport

__all__ = ["Adapter", "WriteReport", "open_adapter", "engine_of"]


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
