"""DuckDB adapter: catalog introspection, Arrow reads, and transactional mirrored writes.

DSNs: `duckdb:///abs/path.duckdb`, `duckdb:///:memory:`, `:memory:`, or a bare path ending in .duckdb/.db/.ddb.
A source is opened read-only and must exist; a destination file is created, and removed again when the
write that created it fails.

Reading gives DuckDB's own Arrow types except where the PostgreSQL adapter reads a kind differently:
enums come out as strings and intervals as ISO 8601 strings, so each kind has one Arrow type downstream.

Writing a schema of another engine (PostgreSQL) here maps each column from its kind (type_substitutions
lists every mapping that is not exact):

| source (kind / type)                | DuckDB                                     | reported |
|-------------------------------------|--------------------------------------------|----------|
| smallint / integer / bigint         | SMALLINT / INTEGER / BIGINT                |          |
| real / double precision             | FLOAT / DOUBLE                             |          |
| numeric(p,s), p <= 38               | DECIMAL(p,s)                               |          |
| numeric (no precision, or p > 38)   | DOUBLE                                     | yes      |
| boolean, date, time, uuid           | same                                       |          |
| interval (ISO 8601 text in Arrow)   | INTERVAL (the text is parsed on load)      |          |
| timestamp / timestamptz / timetz    | TIMESTAMP / TIMESTAMPTZ / TIMETZ           |          |
| text                                | VARCHAR                                    |          |
| varchar(n), char(n)                 | VARCHAR + CHECK (length(c) <= n)           | yes      |
| json / jsonb                        | JSON                                       | jsonb    |
| bytea                               | BLOB                                       |          |
| enum type                           | ENUM type of the same name                 |          |
| domain                              | its base type + NOT NULL + CHECKs inlined  | yes      |
| T[]                                 | LIST T[]                                   |          |
| serial / identity / nextval default | SEQUENCE (START past max key) + DEFAULT nextval | identity |
| other (money, inet, tsvector, ...)  | VARCHAR                                    | yes      |

DuckDB declares PRIMARY KEY, UNIQUE, CHECK and FOREIGN KEY only inside CREATE TABLE (ALTER TABLE ADD
CONSTRAINT is not implemented in 1.5), keeps no constraint names, and checks every row on INSERT (so
`validate` has no effect: everything is validated). Hence: tables are created parents first with all their
constraints and loaded parents first. A self-referencing FK is declared and its rows are inserted level by
level (roots first), because DuckDB checks an INSERT only against the rows present before the statement.
In a cycle between tables, the FK towards a table created later cannot be declared; it is left out and
listed in type_substitutions. FK actions (ON DELETE CASCADE, ...) and partial unique indexes have no
DuckDB equivalent and are reported too. CHECK and DEFAULT expressions of PostgreSQL are translated
(clavadb.dialect) and bound on a scratch database before the write starts; a CHECK that cannot be expressed
stops the write with a ClavaError naming it, a DEFAULT that cannot is dropped and reported.
The whole write is one transaction (ROLLBACK on any error or interrupt).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from clavadb.errors import ClavaError, ConnectionFailed, ConstraintUnsatisfiable, DestinationNotEmpty
from clavadb.schema import Schema, Table
from clavadb.sql import qident
from clavadb.workspace import Workspace

from .base import BATCH_ROWS, Adapter, WriteReport
from .duck_catalog import introspect as _introspect
from .duck_types import cast_expr, iso_interval_sql, map_column
from .duck_writer import Writer, qualified


def parse_dsn(dsn: str) -> str:
    """The file path (or :memory:) a DuckDB DSN names."""
    path = dsn[len("duckdb://"):] if dsn.lower().startswith("duckdb://") else dsn
    if path in ("", "/:memory:", ":memory:"):
        return ":memory:"
    return path


class DuckDBAdapter(Adapter):
    engine = "duckdb"

    def __init__(self, dsn: str, read_only: bool = True):
        super().__init__(dsn, read_only)
        self.path = parse_dsn(dsn)
        self._new_file = False
        self._remove_on_close = False
        self._checks_ws: Workspace | None = None  # scratch database for evaluate_checks, made on first use
        if self.path != ":memory:":
            p = Path(self.path)
            if not p.exists():
                if read_only:
                    raise ClavaError(f"no DuckDB database at {self.path}", "check the path of the source database")
                self._new_file = True
        try:
            self.con = duckdb.connect(self.path, read_only=read_only and self.path != ":memory:")
        except duckdb.Error as e:
            raise ConnectionFailed(f"cannot open DuckDB database {self.path}: {e}",
                                   "is another process writing to it, or is it not a DuckDB file?") from None

    # -- reading ----------------------------------------------------------------------------------
    def introspect(self, schemas: list[str] | None = None) -> Schema:
        return _introspect(self.con, schemas or ["main"])

    def _select(self, table: Table, columns: list[str] | None) -> str:
        names = columns or table.column_names
        kinds = {c.name: c.kind for c in table.columns}
        # Enums come out as plain strings and intervals as ISO 8601 text: the Arrow types the PostgreSQL
        # adapter reads them as, so what follows sees one type per kind whatever the source engine.
        def expr(c: str) -> str:
            if kinds.get(c) == "enum":
                return f"CAST({qident(c)} AS VARCHAR) AS {qident(c)}"
            if kinds.get(c) == "interval":
                return f"{iso_interval_sql(c)} AS {qident(c)}"
            return qident(c)

        cols = ", ".join(expr(c) for c in names)
        return f"SELECT {cols} FROM {qualified(table)}"

    def read_batches(self, table: Table, columns: list[str] | None = None,
                     batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        cur = self.con.cursor()  # own cursor: other queries on the adapter may run while this streams
        try:
            yield from cur.execute(self._select(table, columns)).to_arrow_reader(batch_rows)
        finally:
            cur.close()

    def empty_arrow(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        cur = self.con.cursor()
        try:
            return cur.execute(self._select(table, columns) + " LIMIT 0").to_arrow_table()
        finally:
            cur.close()

    # -- writing ----------------------------------------------------------------------------------
    def write(self, schema: Schema, data: Mapping[str, pa.Table | Iterator[pa.RecordBatch]], *,
              replace: bool = False, validate: bool = True) -> WriteReport:
        if self.read_only:
            raise ClavaError(f"the DuckDB database {self.path} is opened read-only",
                             "open the destination with read_only=False")
        t0 = time.perf_counter()
        writer = Writer(self.con, schema, data)
        try:
            writer.plan()  # every check that needs no transaction, before anything is written
        except BaseException:
            self._remove_on_close = self._new_file
            raise
        clash = writer.existing_tables()
        if clash and not replace:
            raise DestinationNotEmpty(
                f"{self.path} already holds {len(clash)} of the tables to write: {', '.join(sorted(clash)[:5])}",
                "write to an empty database, or pass replace (--replace) to drop and recreate those tables",
            )
        seqs = writer.existing_sequences()
        if seqs and not replace:
            raise DestinationNotEmpty(f"{self.path} already has the sequences {', '.join(seqs[:5])}",
                                      "write to an empty database, or pass replace (--replace)")
        self.con.execute("BEGIN TRANSACTION")
        try:
            writer.run(replace=replace)
            self.con.execute("COMMIT")
        except BaseException as e:
            self.con.execute("ROLLBACK")
            self._remove_on_close = self._new_file
            if writer.source_error is not None and isinstance(e, duckdb.Error):
                raise writer.source_error from None  # e.g. KeyboardInterrupt in the caller's batch iterator
            if isinstance(e, duckdb.ConstraintException):
                raise ConstraintUnsatisfiable(
                    f"{writer.current}: {e}", "the rows violate a constraint DuckDB enforces; nothing was written"
                ) from None
            if isinstance(e, duckdb.Error):
                raise ClavaError(f"writing {writer.current} to {self.path} failed: {e}",
                                 "nothing was written") from None
            raise
        report = writer.report
        report.seconds = time.perf_counter() - t0
        return report

    # -- CHECK evaluation -------------------------------------------------------------------------
    def evaluate_checks(self, table: Table, data: pa.Table, schema: Schema | None = None) -> dict[str, np.ndarray]:
        """See Adapter.evaluate_checks. The rows are cast to the types this adapter would declare (a value
        that does not convert becomes NULL) in a private in-memory workspace, so nothing reaches any
        database and a check that fails to bind aborts no transaction. Without a schema the dialect is
        unknown: a check that is not DuckDB SQL is retried as PostgreSQL's."""
        # types are then mapped from the column kinds, which works for either engine's type names
        typing = schema or Schema(engine="postgresql", tables={table.key: table})
        present = set(data.column_names)
        columns_sql = {}
        for c in table.columns:
            target = map_column(table.key, c, typing).type
            columns_sql[c.name] = (cast_expr(c.name, data.schema.field(c.name).type, target, lenient=True)
                                   if c.name in present else f"CAST(NULL AS {target})")
        if self._checks_ws is None:
            self._checks_ws = Workspace()
        return self._checks_ws.evaluate_checks(table, data, schema, columns_sql=columns_sql).failing

    def close(self) -> None:
        if self._checks_ws is not None:
            self._checks_ws.close()
        self.con.close()
        if self._remove_on_close and self.path != ":memory:":
            for suffix in ("", ".wal"):
                Path(self.path + suffix).unlink(missing_ok=True)
