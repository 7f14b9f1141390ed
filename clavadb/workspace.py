"""The workspace: the one in-process DuckDB of a run, and the only core module that imports duckdb.

The source's tables are registered here under their Table.key, and every join, group size, statistic
and CHECK evaluation of the core runs here as SQL, over DuckDB tables (`load`, streamed from Arrow
batches; stored compressed) or over data the run already holds (`register`: Arrow is scanned in place,
a pandas frame is converted by DuckDB's scan, which can cost as much memory as its text columns). SQL
errors come out as QueryError, so callers need not know the engine.

    with Workspace() as ws:
        ws.register("t", frame)
        ws.query_df('SELECT a, count(*) AS n FROM "t" GROUP BY a')
        ws.evaluate_checks(table, arrow_rows, schema).failing   # {check name: failing-row mask}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from clavadb.dialect import to_duckdb
from clavadb.schema import ForeignKey, Schema, Table, check_expressions
from clavadb.sql import qident, qliteral

Data = pa.Table | pd.DataFrame

# Arrow -> pandas as the codecs expect: integers and booleans nullable (NULL stays NULL, not NaN / object)
_NULLABLE = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
}
_ROW = "__clava_rn"  # row-number column added to rows under evaluation


class QueryError(Exception):
    """SQL the workspace could not run: it does not bind (unknown function, column, type) or fails."""


@dataclass
class CheckResult:
    """CHECK evaluation of some rows: a failing-row mask per evaluated check, and the checks left out."""

    failing: dict[str, np.ndarray] = field(default_factory=dict)  # name -> bool mask, True = row fails
    unevaluable: list[str] = field(default_factory=list)  # "table.check: expression" the workspace cannot run


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas the way the codecs expect: decimals as floats, integers and booleans nullable."""
    cols = [table.column(f.name).cast(pa.float64()) if pa.types.is_decimal(f.type) else table.column(f.name)
            for f in table.schema]
    return pa.Table.from_arrays(cols, names=table.column_names).to_pandas(types_mapper=_NULLABLE.get)


class Workspace:
    """An in-memory DuckDB database; `threads` caps the threads its queries use (default: DuckDB's)."""

    def __init__(self, threads: int | None = None):
        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._enums: dict[str, list[str]] = {}
        self._names = count()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tables -----------------------------------------------------------------------------------
    def load(self, name: str, data: Data | Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> int:
        """Create or replace table `name` from Arrow, pandas, or a stream of record batches (given the
        stream's `schema`, an empty stream makes an empty table); returns its row count."""
        if isinstance(data, pd.DataFrame):
            data = pa.Table.from_pandas(data, preserve_index=False)
        if not isinstance(data, pa.Table):
            batches: Iterator[pa.RecordBatch] = iter(data)
            if schema is None:
                first = next(batches, None)
                if first is None:
                    raise ValueError(f"no schema for the empty stream of {name}")
                schema, batches = first.schema, _chain(first, batches)
            data = pa.RecordBatchReader.from_batches(schema, batches)
        with self.registered(data) as view:
            self._run(f"CREATE OR REPLACE TABLE {qident(name)} AS SELECT * FROM {view}")
        return self.count(name)

    def register(self, name: str, data: Data) -> None:
        """Make an Arrow table or a frame queryable as `name` (a view: nothing is loaded until a query)."""
        self.con.register(name, data)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    @contextmanager
    def registered(self, data: Data | pa.RecordBatchReader) -> Iterator[str]:
        """`data` registered under a fresh name (already quoted) for the block's queries."""
        name = f"__clava_{next(self._names)}"
        self.con.register(name, data)
        try:
            yield qident(name)
        finally:
            self.con.unregister(name)

    def drop(self, name: str) -> None:
        self._run(f"DROP TABLE IF EXISTS {qident(name)}")

    def count(self, name: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {qident(name)}"))

    def columns(self, relation: str) -> list[str]:
        """Column names of a table, view or registered frame (`relation` is SQL: quote a name)."""
        return [d[0] for d in self._run(f"SELECT * FROM {relation} LIMIT 0").description]

    def arrow(self, name: str) -> pa.Table:
        return self.query(f"SELECT * FROM {qident(name)}")

    def frame(self, name: str) -> pd.DataFrame:
        """Table `name` as pandas, in the types the codecs expect (see to_frame)."""
        return to_frame(self.arrow(name))

    # -- queries ----------------------------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> pa.Table:
        return self._run(sql, params).to_arrow_table()

    def query_df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return self._run(sql, params).df()

    def query_numpy(self, sql: str, params: list | None = None) -> dict[str, np.ndarray]:
        return self._run(sql, params).fetchnumpy()

    def row(self, sql: str, params: list | None = None) -> tuple | None:
        """The first row of a query's result (None when it has no row)."""
        return self._run(sql, params).fetchone()

    def scalar(self, sql: str, params: list | None = None) -> Any:
        row = self._run(sql, params).fetchone()
        return None if row is None else row[0]

    def binds(self, sql: str) -> bool:
        """Whether a query binds and runs here (an expression of another dialect may not)."""
        try:
            self._run(sql)
            return True
        except QueryError:
            return False

    def _run(self, sql: str, params: list | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(sql, params or [])
        except duckdb.Error as e:
            raise QueryError(str(e)) from None

    # -- constraints ------------------------------------------------------------------------------
    def rows_where(self, data: Data, expression: str, dialect: str = "duckdb") -> np.ndarray:
        """Mask of the rows of `data` for which a boolean SQL expression (of `dialect`) is TRUE."""
        with self.registered(data) as view:
            ok = self.query_numpy(f"SELECT coalesce(({to_duckdb(expression, dialect)}), false) AS ok FROM {view}")
        return np.asarray(ok["ok"], dtype=bool)

    def evaluate_checks(self, table: Table, data: pa.Table, schema: Schema | None = None, *,
                        columns_sql: Mapping[str, str] | None = None) -> CheckResult:
        """Which rows of `data` fail each CHECK of `table` and of its columns' domains (see
        schema.check_expressions for the names); NULL passes, as in SQL. The expressions are in
        `schema.engine`'s dialect, translated to DuckDB's; without a schema, one that does not bind as
        DuckDB SQL is retried as PostgreSQL's. A check that still does not run here (a function DuckDB
        lacks, a column missing from `data`) is listed in `unevaluable`, not guessed.

        columns_sql: per column of `table`, the SQL reading it from `data` in its declared type (e.g.
        TRY_CAST("d" AS DATE), or a typed NULL for a missing column); by default `data` as it is."""
        dialect = schema.engine if schema is not None else "duckdb"
        self._create_enums(schema)
        out = CheckResult()
        stage = qident(f"__clava_stage_{next(self._names)}")
        rows = data.append_column(_ROW, pa.array(np.arange(data.num_rows, dtype=np.int64)))
        with self.registered(rows) as view:
            sel = (", ".join(f"{sql} AS {qident(c)}" for c, sql in columns_sql.items())
                   if columns_sql is not None else "* EXCLUDE (" + qident(_ROW) + ")")
            self._run(f"CREATE TEMP TABLE {stage} AS SELECT {qident(_ROW)}, {sel} FROM {view}")
        try:
            for name, raw in check_expressions(schema, table):
                expr = to_duckdb(raw, dialect)
                if schema is None and not self.binds(f"SELECT ({expr}) FROM {stage} LIMIT 0"):
                    expr = to_duckdb(raw, "postgresql")
                try:
                    bad = self.query_numpy(f"SELECT {qident(_ROW)} FROM {stage} WHERE NOT ({expr})")[_ROW]
                except QueryError:
                    out.unevaluable.append(f"{table.key}.{name}: {raw}")
                    continue
                mask = np.zeros(data.num_rows, dtype=bool)
                mask[np.asarray(bad, dtype=np.int64)] = True
                out.failing[name] = mask
        finally:
            self._run(f"DROP TABLE {stage}")
        return out

    def _create_enums(self, schema: Schema | None) -> None:
        """The schema's enum types, so expressions casting to them (`'x'::mood`) bind."""
        for e in (schema.enums.values() if schema is not None else ()):
            if self._enums.get(e.name) == e.values:
                continue
            if e.name in self._enums:
                self._run(f"DROP TYPE {qident(e.name)}")
            self._run(f"CREATE TYPE {qident(e.name)} AS ENUM ({', '.join(qliteral(v) for v in e.values)})")
            self._enums[e.name] = list(e.values)

    def fk_positions(self, child: str, fk: ForeignKey) -> np.ndarray:
        """Per row of table `child` (a loaded table, in its stored order), the 0-based row of table `fk.ref_table` that its
        foreign key `fk` references: -1 for a NULL (any FK column NULL) and for an orphan. A referenced key
        that repeats in the parent (not declared unique) resolves to its first row."""
        on = " AND ".join(f"c.{qident(c)} = p.k{i}" for i, c in enumerate(fk.columns))
        keys = ", ".join(f"{qident(c)} AS k{i}" for i, c in enumerate(fk.ref_columns))
        res = self.query_numpy(
            f"""
            WITH p AS (SELECT {keys}, min(rowid) AS pos FROM {qident(fk.ref_table)} GROUP BY ALL)
            SELECT c.rowid, coalesce(p.pos, -1) FROM {qident(child)} c LEFT JOIN p ON {on}
            """
        )
        rowid, pos = (np.asarray(v, np.int64) for v in res.values())
        out = np.full(self.count(child), -1, np.int64)
        out[rowid] = pos
        return out

    def close(self) -> None:
        self.con.close()


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest
