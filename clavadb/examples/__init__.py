"""Bundled real example databases (Parquet files + the Schema as JSON), written into any destination."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from clavadb.schema import Schema

HERE = Path(__file__).parent
NAMES = ("chinook", "movielens")


def example_schema(name: str) -> Schema:
    return Schema.from_json((HERE / name / "schema.json").read_text())


def write_example(name: str, dst: str, replace: bool = False, cascade: bool = False):
    """Create the example's tables with every constraint in `dst` and load its rows."""
    from clavadb.adapters import open_adapter

    schema = example_schema(name)
    data = {key: pq.read_table(HERE / name / f"{key}.parquet") for key in schema.tables}
    with open_adapter(dst, read_only=False) as out:
        if cascade:
            return out.write(schema, data, replace=replace, cascade=True)
        return out.write(schema, data, replace=replace)
