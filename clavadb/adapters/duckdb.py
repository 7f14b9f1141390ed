"""DuckDB adapter: catalog introspection, Arrow reads, and transactional mirrored writes.

DSNs: `duckdb:///abs/path.duckdb`, `duckdb:///:memory:`, `:memory:`, or a bare path ending in .duckdb/.db/.ddb
(parsed by clavadb.dsn). A source is opened read-only and must exist.

A destination file is never written in place: the write goes to a temporary file in the same directory (a
copy of the destination when it exists), which is renamed onto the destination when the write has committed
and been checkpointed. A failure, Ctrl-C or SIGTERM leaves the destination byte for byte as it was; even
`kill -9` leaves only the hidden temporary file (`.NAME.clavadb-*`), never a partial destination.

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

import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from clavadb import dsn as dsns
from clavadb.errors import (
    ClavaError,
    ConnectionFailed,
    ConstraintUnsatisfiable,
    DependentObjects,
    DestinationNotEmpty,
    DestinationUnwritable,
)
from clavadb.schema import Schema, Table
from clavadb.sql import qident
from clavadb.workspace import Workspace

from .base import BATCH_ROWS, Adapter, WriteReport
from .duck_catalog import introspect as _introspect
from .duck_types import cast_expr, iso_interval_sql, map_column
from .duck_writer import Writer, qualified


def parse_dsn(dsn: str) -> str:
    """The file path (or :memory:) a DuckDB DSN names."""
    return dsns.parse(dsn).path or dsns.MEMORY


def _temp_beside(path: str) -> str:
    """A hidden temporary name in the directory of `path`, so that the final rename stays on one filesystem."""
    p = Path(path)
    return str(p.with_name(f".{p.name}.clavadb-{uuid.uuid4().hex[:8]}.tmp"))


def _connect(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path, read_only=read_only and path != dsns.MEMORY)
    except duckdb.Error as e:
        raise ConnectionFailed(f"cannot open DuckDB database {path}: {e}",
                               "is another process writing to it, or is it not a DuckDB file?") from None


class DuckDBAdapter(Adapter):
    engine = "duckdb"

    def __init__(self, dsn: str, read_only: bool = True):
        super().__init__(dsn, read_only)
        self.path = parse_dsn(dsn)
        self._checks_ws: Workspace | None = None  # scratch database for evaluate_checks, made on first use
        self._work: str | None = None  # the temporary file a write goes to (None: writing in place, in memory)
        self._publish = False  # a write committed into _work: rename it onto the destination on close
        file = self.path != dsns.MEMORY
        exists = file and Path(self.path).exists()
        if file and not exists and read_only:
            raise ClavaError(f"no DuckDB database at {self.path}", "check the path of the source database")
        if file and not read_only:
            self._check_directory()
        if file and not read_only and not exists:
            self._work = _temp_beside(self.path)
            self.con = _connect(self._work, read_only=False)
        else:
            # an existing destination is only read until write() copies it
            self.con = _connect(self.path, read_only=read_only or exists)

    def _check_directory(self) -> None:
        d = Path(self.path).expanduser().resolve().parent
        if not d.is_dir():
            raise DestinationUnwritable(f"the directory {d} of {self.path} does not exist", "create it first")
        if not os.access(d, os.W_OK | os.X_OK):
            raise DestinationUnwritable(f"no permission to write in {d}", "choose a directory you can write to")
        if Path(self.path).exists() and not os.access(self.path, os.W_OK):
            raise DestinationUnwritable(f"{self.path} is not writable", "check its permissions")

    def identity(self) -> tuple:
        """The file this database is (device and inode), for refusing to write into the source."""
        if self.path == dsns.MEMORY:
            return ("duckdb", "memory", id(self))
        st = Path(self.path).stat() if Path(self.path).exists() else None
        return ("duckdb", st.st_dev, st.st_ino) if st else ("duckdb", os.path.realpath(self.path))

    def check_readable(self, schema: Schema) -> None:
        """The file was opened, so every table in its catalog can be read."""

    def check_write(self, schema: Schema, *, replace: bool = False, cascade: bool = False) -> None:
        """What write() would refuse, found before any work: tables that exist without `replace`, views or
        foreign keys of other tables depending on them without `cascade`."""
        if self.read_only:
            raise ClavaError(f"the DuckDB database {self.path} is opened read-only",
                             "open the destination with read_only=False")
        writer = Writer(self.con, schema, {})
        self._refuse(writer, replace, cascade)

    def _refuse(self, writer: Writer, replace: bool, cascade: bool) -> None:
        clash = writer.existing_tables()
        if clash and not replace:
            raise DestinationNotEmpty(
                f"{self.path} already holds {len(clash)} of the tables to write: {', '.join(sorted(clash)[:5])}",
                "write to an empty database, or pass replace (--replace) to drop and recreate those tables",
            )
        if clash:
            views, fks = writer.dependents(clash)
            if fks:
                raise DependentObjects(
                    f"--replace would drop {', '.join(sorted(clash)[:5])}, which other tables reference: "
                    f"{'; '.join(fks[:8])}", "DuckDB cannot drop a referenced table: drop those tables first")
            if views and not cascade:
                raise DependentObjects(
                    f"--replace would drop {', '.join(sorted(clash)[:5])}, and views depend on them: "
                    f"{', '.join(views[:8])}",
                    "drop those views first, or pass --replace-cascade to drop them with the tables")

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
              replace: bool = False, validate: bool = True, cascade: bool = False) -> WriteReport:
        """See Adapter.write. `replace` drops only the tables this write recreates and refuses (naming them)
        when views or other tables depend on them; `cascade` drops the dependent views too."""
        if self.read_only:
            raise ClavaError(f"the DuckDB database {self.path} is opened read-only",
                             "open the destination with read_only=False")
        t0 = time.perf_counter()
        writer = Writer(self.con, schema, data)
        writer.plan()  # every check that needs no transaction, before anything is written
        self._refuse(writer, replace, cascade)
        seqs = writer.existing_sequences()
        if seqs and not replace:
            raise DestinationNotEmpty(f"{self.path} already has the sequences {', '.join(seqs[:5])}",
                                      "write to an empty database, or pass replace (--replace)")
        if self._work is None and self.path != dsns.MEMORY:
            self._copy_for_write()
            writer.con = self.con
        self.con.execute("BEGIN TRANSACTION")
        try:
            writer.run(replace=replace, cascade=cascade)
            self.con.execute("COMMIT")
            if self._work is not None:
                self.con.execute("CHECKPOINT")  # everything in the file, no WAL to carry over
                self._publish = True
        except BaseException as e:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # an interrupted statement may have ended the transaction already
            if isinstance(e, duckdb.InterruptException):
                raise KeyboardInterrupt from None  # Ctrl-C inside a statement: an interrupt like any other
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

    def _copy_for_write(self) -> None:
        """Point the connection at a copy of the existing destination: the original stays untouched until the
        committed copy replaces it."""
        self.con.close()
        work = _temp_beside(self.path)
        try:
            shutil.copyfile(self.path, work)
            if Path(self.path + ".wal").exists():  # a log DuckDB has not folded in yet belongs to the copy
                shutil.copyfile(self.path + ".wal", work + ".wal")
        except BaseException:
            for p in (work, work + ".wal"):
                Path(p).unlink(missing_ok=True)
            raise
        self._work = work
        self.con = _connect(work, read_only=False)

    def close(self) -> None:
        if self._checks_ws is not None:
            self._checks_ws.close()
        self.con.close()
        if self._work is None:
            return
        try:
            if self._publish:
                os.replace(self._work, self.path)
                Path(self.path + ".wal").unlink(missing_ok=True)  # the old log, already in the copy
        finally:
            for p in (self._work, self._work + ".wal"):
                Path(p).unlink(missing_ok=True)
