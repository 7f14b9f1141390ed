"""The workspace: an in-process DuckDB database holding the working copy of the source tables.

Joins (child with augmented parent), group sizes and per-column statistics run here as SQL,
not as Python loops. Tables are stored under their Table.key, quoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import duckdb
import pandas as pd
import pyarrow as pa

from clavadb.sql import qident


class Workspace:
    def __init__(self, path: str | None = None, threads: int | None = None):
        self.con = duckdb.connect(path or ":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def load(self, name: str, data: pa.Table | pd.DataFrame | Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> int:
        """Create or replace table `name` from Arrow / pandas / a stream of record batches; returns rows."""
        if isinstance(data, pd.DataFrame):
            data = pa.Table.from_pandas(data, preserve_index=False)
        if not isinstance(data, pa.Table):
            batches: Iterator[pa.RecordBatch] = iter(data)
            reader = pa.RecordBatchReader.from_batches(schema, batches) if schema is not None else None
            if reader is None:
                first = next(batches, None)
                if first is None:
                    raise ValueError(f"no schema for empty stream of {name}")
                reader = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
            data = reader
        self.con.register("__clava_in", data)
        try:
            self.con.execute(f"CREATE OR REPLACE TABLE {qident(name)} AS SELECT * FROM __clava_in")
        finally:
            self.con.unregister("__clava_in")
        return self.count(name)

    def count(self, name: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {qident(name)}").fetchone()[0]

    def df(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        cols = ", ".join(qident(c) for c in columns) if columns else "*"
        return self.con.execute(f"SELECT {cols} FROM {qident(name)}").df()

    def arrow(self, name: str) -> pa.Table:
        return self.con.execute(f"SELECT * FROM {qident(name)}").to_arrow_table()

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(query, params or []).df()

    def tables(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]

    def close(self) -> None:
        self.con.close()


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
