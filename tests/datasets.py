"""Load the real datasets of ../shared/datasets into PostgreSQL and DuckDB for tests and benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import psycopg

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("CLAVADB_DATASETS", ROOT.parent / "shared" / "datasets"))

MOVIELENS_ORDER = ["actor", "director", "movie", "user", "movie2actor", "movie2director", "rating"]


def load_postgres(dsn: str, name: str) -> None:
    """Load dataset `name` (movielens, chinook, northwind) into the PostgreSQL database at `dsn`."""
    folder = DATASETS / name
    with psycopg.connect(dsn, autocommit=True) as con:
        if name == "movielens":
            con.execute((folder / "schema.sql").read_text())
            for t in MOVIELENS_ORDER:
                with con.cursor().copy(f'COPY "{t}" FROM STDIN (FORMAT csv, HEADER true)') as cp:
                    cp.write((folder / f"{t}.csv").read_bytes())
        else:
            con.execute((folder / f"{name}.sql").read_text())


def load_duckdb(path: str, name: str = "movielens") -> None:
    """Load MovieLens (the dataset that loads into DuckDB as is) into a DuckDB file."""
    if name != "movielens":
        raise ValueError("only movielens loads into DuckDB directly; mirror the others from PostgreSQL")
    folder = DATASETS / name
    con = duckdb.connect(path)
    try:
        con.execute((folder / "schema.sql").read_text())
        for t in MOVIELENS_ORDER:
            csv = str(folder / f"{t}.csv").replace("'", "''")
            con.execute(f"INSERT INTO \"{t}\" SELECT * FROM read_csv('{csv}', header=true)")
    finally:
        con.close()
