"""SQLAlchemy adapter: the engines clavadb does not speak natively, through SQLAlchemy's reflection and
its bulk insert path. Tested: SQLite (Python's sqlite3). MySQL / MariaDB through `mysql+pymysql://`.

DSNs: `sqlite:///relative.db`, `sqlite:////absolute/path.db`, a bare path ending in `.sqlite` / `.sqlite3`
(or `.db` for a file that is an SQLite database), `mysql+pymysql://user:password@host/db`,
`mariadb+pymysql://...`. A source is opened read-only (SQLite: `mode=ro`; MySQL: read-only transactions)
and must exist.

Reading: reflection (sqla_catalog) and `SELECT` streamed in batches of BATCH_ROWS rows, turned into Arrow
with one type per kind (sqla_types). Writing: one transaction; tables created with every constraint in
CREATE TABLE, rows loaded parents first by executemany of `insert()`. SQLite checks the foreign keys at
COMMIT (`PRAGMA defer_foreign_keys`), so cycles and self-references load in any order, and its
`PRAGMA foreign_key_check` names the table of a violation. MySQL commits each CREATE TABLE on its own: a
failed write drops the tables it created. A new SQLite file is removed when the write that made it fails.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import sqlalchemy as sa

from clavadb import dsn as dsns
from clavadb.errors import ClavaError, ConnectionFailed, ConstraintUnsatisfiable, DestinationNotEmpty
from clavadb.schema import Schema, Table

from .base import BATCH_ROWS, Adapter, WriteReport
from .sqla_catalog import introspect as _introspect
from .sqla_types import arrow_type, read_type
from .sqla_write import Planner, build_tables, dest_schema, write_all


def _sqlite_engine(path: str | None, read_only: bool) -> sa.Engine:
    if path is None:
        creator = lambda: sqlite3.connect(":memory:", check_same_thread=False)  # noqa: E731
    elif read_only:
        uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
        creator = lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)  # noqa: E731
    else:
        creator = lambda: sqlite3.connect(path, check_same_thread=False)  # noqa: E731
    # A file: a connection of its own per use (a read streams while another runs); memory: one, shared.
    pool = sa.pool.StaticPool if path is None else sa.pool.NullPool
    engine = sa.create_engine("sqlite://", creator=creator, poolclass=pool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_con, _record):
        # The driver's own transaction handling is off, so that BEGIN below covers the DDL too
        # (SQLAlchemy's documented recipe for SQLite); foreign keys are enforced (off by default).
        dbapi_con.isolation_level = None
        dbapi_con.execute("PRAGMA foreign_keys = ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(con):
        con.exec_driver_sql("BEGIN")

    return engine


class SQLAlchemyAdapter(Adapter):
    """An engine reached through SQLAlchemy (SQLite, MySQL / MariaDB)."""

    def __init__(self, dsn: str, read_only: bool = True):
        super().__init__(dsn, read_only)
        parsed = dsns.parse(dsn)
        self.url = parsed.url
        mysql = parsed.url is not None and parsed.url.drivername.split("+")[0] in ("mysql", "mariadb")
        self.dialect = "mysql" if mysql else "sqlite"
        self.engine = self.dialect
        self.path: str | None = None
        self._new_file = False
        self._failed = False
        if self.dialect == "sqlite":
            path = parsed.path if parsed.url is None else parsed.url.database  # a bare path, or sqlite:///path
            self.path = None if path in (None, "", dsns.MEMORY) else path
            if self.path is not None and not Path(self.path).exists():
                if read_only:
                    raise ClavaError(f"no SQLite database at {self.path}", "check the path of the source database")
                self._new_file = True
            self.sa_engine = _sqlite_engine(self.path, read_only)
        else:
            try:
                self.sa_engine = sa.create_engine(parsed.url, pool_pre_ping=True)
            except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as e:
                raise ConnectionFailed(f"cannot use {_redact(dsn)}: {e}",
                                       "install the driver: pip install pymysql") from None
            if read_only:
                sa.event.listen(self.sa_engine, "connect", _mysql_read_only)
        self._con: sa.Connection | None = None

    # -- connections ------------------------------------------------------------------------------
    def _connection(self) -> sa.Connection:
        if self._con is None:
            try:
                self._con = self.sa_engine.connect()
            except sa.exc.DBAPIError as e:
                raise ConnectionFailed(f"cannot connect to {_redact(self.dsn)}: {_first_line(e)}",
                                       "check the DSN, the server and the credentials") from None
        return self._con

    # -- reading ----------------------------------------------------------------------------------
    def introspect(self, schemas: list[str] | None = None) -> Schema:
        con = self._connection()
        try:
            return _introspect(con, schemas)
        finally:
            con.rollback()

    def _select(self, table: Table, columns: list[str] | None) -> tuple[sa.Select, list]:
        cols = [table.column(c) for c in (columns or table.column_names)]
        ref = sa.table(table.name, *[sa.column(c.name, read_type(c)) for c in cols], schema=dest_schema(table))
        return sa.select(*ref.c), cols

    def read_batches(self, table: Table, columns: list[str] | None = None,
                     batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        stmt, cols = self._select(table, columns)
        target = pa.schema([(c.name, arrow_type(c)) for c in cols])
        shared = self.dialect == "sqlite" and self.path is None  # an in-memory database has one connection
        con = self._connection() if shared else self.sa_engine.connect()
        try:
            result = con.execution_options(stream_results=True, yield_per=batch_rows).execute(stmt)
            while True:
                try:
                    rows = result.fetchmany(batch_rows)
                except (ValueError, TypeError) as e:  # a stored value SQLAlchemy's type cannot parse
                    raise ClavaError(f"{table.key}: a stored value does not match its column's type ({e})",
                                     "fix the value in the source, or exclude the column in clavadb.toml") from None
                if not rows:
                    break
                yield _to_batch(table, cols, rows, target)
        finally:
            if shared:
                con.rollback()
            else:
                con.close()

    def empty_arrow(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        cols = [table.column(c) for c in (columns or table.column_names)]
        return pa.schema([(c.name, arrow_type(c)) for c in cols]).empty_table()

    # -- writing ----------------------------------------------------------------------------------
    def identity(self) -> tuple | None:
        """The SQLite file (device and inode) or the MySQL server and database this adapter opens, so that
        a write into the source is refused."""
        if self.dialect == "sqlite":
            if self.path is None:
                return ("sqlite", "memory", id(self))
            p = Path(self.path)
            return ("sqlite", p.stat().st_dev, p.stat().st_ino) if p.exists() else ("sqlite", str(p.resolve()))
        u = self.sa_engine.url
        return ("mysql", (u.host or "").lower(), u.port or 3306, u.database)  # 3306: MySQL's default port

    def check_write(self, schema: Schema, *, replace: bool = False, cascade: bool = False) -> None:
        """Refuse (DestinationNotEmpty) what write() would refuse, before any long work; writes nothing."""
        if self.dialect == "sqlite" and self._new_file:
            return  # nothing there yet, and no file is made by looking
        clash = self._existing(self._connection(), schema)
        if clash and not replace:
            raise DestinationNotEmpty(
                f"{_redact(self.dsn)} already holds {len(clash)} of the tables to write: "
                f"{', '.join(sorted(clash)[:5])}",
                "write to an empty database, or pass replace (--replace) to drop and recreate those tables")

    def write(self, schema: Schema, data: Mapping[str, pa.Table | Iterator[pa.RecordBatch]], *,
              replace: bool = False, validate: bool = True, cascade: bool = False) -> WriteReport:
        """Mirror `schema` here and load `data` in one transaction (see the module docstring);
        every constraint is declared in CREATE TABLE and checked by the destination. `cascade` is taken for
        the contract: only the cloned tables are dropped, the engine refuses where others depend on them."""
        if self.read_only:
            raise ClavaError(f"the database {_redact(self.dsn)} is opened read-only",
                             "open the destination with read_only=False")
        t0 = time.perf_counter()
        report = WriteReport()
        order = schema.graph().top_down()
        try:
            plans = Planner(schema, self.dialect, report).plan()
            con = self._connection()
            clash = self._existing(con, schema)
            if clash and not replace:
                raise DestinationNotEmpty(
                    f"{_redact(self.dsn)} already holds {len(clash)} of the tables to write: "
                    f"{', '.join(sorted(clash)[:5])}",
                    "write to an empty database, or pass replace (--replace) to drop and recreate those tables")
            created: list[str] = []
            try:
                with con.begin():
                    if self.dialect == "sqlite":
                        con.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                    else:
                        con.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                    if clash:
                        self._drop(con, schema, clash, plans)
                    write_all(con, data, plans, order, report, created)
                    self._check_foreign_keys(con, schema, plans, order)
            except BaseException:
                if self.dialect != "sqlite" and created:  # MySQL committed each CREATE TABLE
                    self._drop_created(schema, plans, created)
                raise
            finally:
                if self.dialect != "sqlite":
                    con.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        except sa.exc.IntegrityError as e:
            self._failed = True
            raise ConstraintUnsatisfiable(f"the destination rejected the rows: {_first_line(e)}",
                                          "nothing was written; the data breaks a declared constraint") from None
        except sa.exc.DBAPIError as e:
            self._failed = True
            raise ClavaError(f"writing to {_redact(self.dsn)} failed: {_first_line(e)}", "nothing was written") from None
        except BaseException:
            self._failed = True
            raise
        report.seconds = time.perf_counter() - t0
        return report

    def _existing(self, con: sa.Connection, schema: Schema) -> list[str]:
        insp = sa.inspect(con)
        have: dict[str | None, set[str]] = {}
        out = []
        for key, t in schema.tables.items():
            s = dest_schema(t)
            if s not in have:
                have[s] = set(insp.get_table_names(schema=s)) if s is None or s in insp.get_schema_names() else set()
            if t.name in have[s]:
                out.append(key)
        con.rollback()
        return out

    def _drop(self, con: sa.Connection, schema: Schema, clash: list[str], plans) -> None:
        tables = build_tables(plans, list(schema.tables), self.dialect)
        for key in reversed(schema.graph().top_down()):  # children first
            if key in clash:
                tables[key].drop(con)

    def _drop_created(self, schema: Schema, plans, created: list[str]) -> None:
        tables = build_tables(plans, list(schema.tables), self.dialect)
        with self.sa_engine.connect() as con, con.begin():
            con.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            for key in reversed(created):
                tables[key].drop(con, checkfirst=True)
            con.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")

    def _check_foreign_keys(self, con: sa.Connection, schema: Schema, plans, order: list[str]) -> None:
        """Every FK holds before COMMIT: SQLite's own check; elsewhere a count of rows without a parent
        (MySQL loads with its checks off, so that cycles and self-references load)."""
        if self.dialect == "sqlite":
            bad = con.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if bad:
                tables = sorted({f"{r[0]} -> {r[2]}" for r in bad})
                raise ConstraintUnsatisfiable(
                    f"{len(bad)} rows break a FOREIGN KEY ({', '.join(tables[:5])})",
                    "nothing was written; the data breaks a declared constraint")
            return
        tables = build_tables(plans, order, self.dialect)
        for key in order:
            child = tables[key]
            for fk in child.foreign_key_constraints:
                parent = fk.referred_table.alias("parent")  # an alias: a self-reference joins the table twice
                on = sa.and_(*[parent.c[e.column.name] == e.parent for e in fk.elements])
                present = sa.and_(*[e.parent.isnot(None) for e in fk.elements])
                orphans = sa.select(sa.func.count()).select_from(child.outerjoin(parent, on)).where(
                    present, parent.c[fk.elements[0].column.name].is_(None))
                n = con.execute(orphans).scalar_one()
                if n:
                    raise ConstraintUnsatisfiable(f"{key}: {n} rows reference no row of {fk.referred_table.name}",
                                                  "nothing was written; the data breaks a declared constraint")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self.sa_engine.dispose()
        if self._failed and self._new_file and self.path is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(self.path + suffix).unlink(missing_ok=True)


def _mysql_read_only(dbapi_con, _record) -> None:
    with dbapi_con.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION READ ONLY")


def _to_batch(table: Table, cols: list, rows: list, target: pa.Schema) -> pa.RecordBatch:
    """Rows of Python values -> one record batch of the target types; a value of another type (SQLite
    stores any value in any column) stops the read naming the column."""
    arrays = []
    for i, (c, fld) in enumerate(zip(cols, target, strict=True)):
        values = [r[i] for r in rows]
        if pa.types.is_string(fld.type):
            values = [v if v is None or isinstance(v, str) else
                      (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v in values]
        try:
            arrays.append(pa.array(values, type=fld.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
            bad = next((v for v in values if v is not None and not _fits(v, fld.type)), None)
            raise ClavaError(f"{table.key}.{c.name} ({c.type}) holds a value that is not {c.kind}: {bad!r} ({e})",
                             "fix the value in the source, or exclude the column in clavadb.toml") from None
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _fits(value, typ: pa.DataType) -> bool:
    try:
        pa.array([value], type=typ)
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False


def _redact(dsn: str) -> str:
    """The DSN without its password."""
    return dsns.redact(dsn)


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    s = str(orig).strip()
    return s.splitlines()[0] if s else type(orig).__name__
