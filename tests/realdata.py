"""Schema and rows of a real dataset, read through the adapters, for the tests of keys, privacy and constraints."""

from __future__ import annotations

import pandas as pd

from clavadb.adapters.duckdb import DuckDBAdapter
from clavadb.adapters.postgres import PostgresAdapter
from clavadb.schema import Schema


def _read(adapter) -> tuple[Schema, dict[str, pd.DataFrame]]:
    schema = adapter.introspect()
    frames = {k: adapter.read_table(t).to_pandas() for k, t in schema.tables.items()}
    return schema, frames


def postgres(dsn: str) -> tuple[Schema, dict[str, pd.DataFrame]]:
    with PostgresAdapter(dsn, read_only=True) as a:
        return _read(a)


def duckdb(path: str) -> tuple[Schema, dict[str, pd.DataFrame]]:
    with DuckDBAdapter(path, read_only=True) as a:
        return _read(a)
