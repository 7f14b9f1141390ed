"""PostgreSQL adapter (psycopg 3): catalog introspection, COPY-based bulk read and write.

The catalog side is in pg_catalog, types in pg_types (the type maps), COPY <-> Arrow in pg_copy,
DDL in pg_write. A read-only adapter holds one REPEATABLE READ READ ONLY transaction for its whole
life, so introspection, row counts and every table read see the same snapshot.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import errors as pgerr

from clavadb import dsn as dsns
from clavadb.errors import (
    ClavaError,
    ConnectionFailed,
    ConstraintUnsatisfiable,
    DependentObjects,
    DestinationNotEmpty,
    DestinationUnwritable,
    SourceUnreadable,
)
from clavadb.schema import Column, Schema, Table, check_expressions
from clavadb.sql import qident

from . import pg_write as ddl
from .base import BATCH_ROWS, Adapter, WriteReport
from .pg_catalog import introspect as read_catalog
from .pg_copy import copy_in, read_csv_batches
from .pg_types import arrow_type, render_type

_SESSION = {"DateStyle": "ISO, YMD", "TimeZone": "UTC", "IntervalStyle": "iso_8601", "bytea_output": "hex",
            "extra_float_digits": "3", "client_encoding": "UTF8"}


# a table created and rolled back to learn whether the destination accepts new tables
_PROBE = "clavadb_write_probe"

# errors of an expression written for another engine (CHECKs from DuckDB), as opposed to violations
_FOREIGN_SQL = (pgerr.SyntaxError, pgerr.UndefinedFunction, pgerr.UndefinedColumn, pgerr.DatatypeMismatch,
                pgerr.InvalidTextRepresentation, pgerr.UndefinedObject, pgerr.FeatureNotSupported)

# DuckDB spells regular-expression checks as functions; PostgreSQL has the ~ operator for them.
_DUCK_REGEX = re.compile(r"regexp_(full_match|matches)\(\s*((?:[^(),']|'(?:[^']|'')*')+?)\s*,\s*('(?:[^']|'')*')\s*\)")


def _duck_regex_to_pg(sql: str) -> str:
    def repl(m: re.Match) -> str:
        pattern = m.group(3)
        if m.group(1) == "full_match":
            pattern = "'^(?:" + pattern[1:-1] + ")$'"
        return f"({m.group(2)} ~ {pattern})"

    return _DUCK_REGEX.sub(repl, sql)


def _connect_error(dsn: str, exc: psycopg.Error) -> ConnectionFailed:
    secrets = dsns.secrets_of(dsn)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = dsns.scrub(text, secrets)
    low = str(exc).lower()
    where = dsns.redact(dsn)
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return ConnectionFailed(f"PostgreSQL rejected the credentials for {where}: {text}",
                                "check the user name and password in the DSN")
    if "does not exist" in low and "database" in low:
        return ConnectionFailed(f"database missing on {where}: {text}",
                                "create it first (createdb) or fix the database name in the DSN")
    if "permission denied" in low or "not permitted" in low:
        return ConnectionFailed(f"no permission to connect to {where}: {text}",
                                "grant CONNECT on the database to this user")
    return ConnectionFailed(f"cannot reach PostgreSQL at {where}: {text}",
                            "check host, port or socket path, and that the server is running")


class PostgresAdapter(Adapter):
    engine = "postgresql"

    def __init__(self, dsn: str, read_only: bool = True):
        super().__init__(dsn, read_only)
        conninfo = dsns.parse(dsn).conninfo()
        try:
            self.con = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise _connect_error(dsn, exc) from None
        # formats the COPY parsers rely on, whatever the server's defaults are
        settings = {**_SESSION, **({"default_transaction_read_only": "on"} if read_only else {})}
        self.con.execute("; ".join(f"SET {k} = '{v}'" for k, v in settings.items()))
        self.con.autocommit = False
        if read_only:
            self.con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.con.read_only = True
        self._schema: Schema | None = None

    # -- catalog ------------------------------------------------------------------------------------
    def introspect(self, schemas: list[str] | None = None) -> Schema:
        schema = read_catalog(self.con, list(schemas or ["public"]))
        if not self.read_only:
            self.con.rollback()
        self._schema = schema
        return schema

    # -- read ---------------------------------------------------------------------------------------
    def _columns(self, table: Table, columns: list[str] | None) -> list[Column]:
        return [table.column(c) for c in columns] if columns else list(table.columns)

    def read_batches(self, table: Table, columns: list[str] | None = None,
                     batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        cols = self._columns(table, columns)
        try:
            with self.con.cursor() as cur:
                yield from read_csv_batches(cur, ddl.table_sql(table), cols, self._schema, batch_rows)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ClavaError(f"cannot convert the rows of {table.key} to Arrow: {_first_line(exc)}",
                             "infinite dates/timestamps and multi-dimensional arrays are not supported") from None
        except psycopg.Error as exc:
            raise ClavaError(f"reading {table.key} from PostgreSQL failed: {_first_line(exc)}") from None
        finally:
            if not self.read_only:
                self._idle()

    def _idle(self) -> None:
        """End any implicit transaction, so that write() runs in a transaction of its own (not a savepoint)."""
        if self.con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.con.rollback()

    def empty_arrow(self, table: Table, columns: list[str] | None = None) -> pa.Table:
        cols = self._columns(table, columns)
        return pa.schema([(c.name, arrow_type(c, self._schema)) for c in cols]).empty_table()

    # -- write --------------------------------------------------------------------------------------
    def identity(self) -> tuple:
        """What names this database on its server, for refusing to write into the source: the server's start
        time (unique per running server), its port and the database."""
        row = self.con.execute("SELECT current_database(), pg_postmaster_start_time()::text, "
                               "current_setting('port')").fetchone()
        self._idle()
        return ("postgresql", row[1], row[2], row[0])

    def check_readable(self, schema: Schema) -> None:
        """Every table of `schema` can be selected from (privileges checked by the server, no row read)."""
        denied = []
        for t in schema.tables.values():
            try:
                with self.con.transaction():
                    self.con.execute(f"SELECT * FROM {ddl.table_sql(t)} LIMIT 0")
            except pgerr.InsufficientPrivilege:
                denied.append(t.key)
        self._idle()
        if denied:
            raise SourceUnreadable(f"no permission to read table(s) {', '.join(denied[:5])}"
                                   + (" ..." if len(denied) > 5 else ""),
                                   "GRANT SELECT on them to this user, or leave them out with --exclude")

    def check_write(self, schema: Schema, *, replace: bool = False, cascade: bool = False) -> None:
        """Everything write() would refuse, found before any work: a read-only server or role, no CREATE
        privilege, tables that exist without `replace`, objects depending on them without `cascade`.
        Runs in a transaction that is rolled back."""
        if self.read_only:
            raise ClavaError("this connection to PostgreSQL is read-only", "open the destination with read_only=False")
        self._idle()
        try:
            with self.con.transaction(force_rollback=True):
                self._refuse_existing(schema, replace, cascade)
                have = {n for (n,) in self.con.execute("SELECT nspname FROM pg_namespace").fetchall()}
                for sch in sorted({ddl.target_schema(t.schema) for t in schema.tables.values()}):
                    if sch not in have:  # as write() does: only a missing schema is created
                        self.con.execute(f"CREATE SCHEMA {qident(sch)}")
                    self.con.execute(f"CREATE TABLE {qident(sch)}.{qident(_PROBE)} (x int)")
        except psycopg.Error as exc:
            self._reset_after_failure()
            err = _write_error(exc)
            if isinstance(err, ClavaError) and not isinstance(err, DestinationUnwritable):
                raise DestinationUnwritable(f"cannot write to {dsns.redact(self.dsn)}: {_first_line(exc)}",
                                            "use a database and user that may create tables") from None
            raise err from None

    def write(self, schema: Schema, data: Mapping[str, pa.Table | Iterator[pa.RecordBatch]], *,
              replace: bool = False, validate: bool = True, cascade: bool = False) -> WriteReport:
        """See Adapter.write. `replace` drops only the tables this write recreates, and refuses (naming them)
        when other objects depend on them; `cascade` drops those dependents too (DROP ... CASCADE)."""
        if self.read_only:
            raise ClavaError("this connection to PostgreSQL is read-only", "open the destination with read_only=False")
        t0 = time.perf_counter()
        report = WriteReport()
        self._idle()
        try:
            with self.con.transaction():
                self._write(schema, data, replace, validate, report, cascade)
        except BaseException as exc:
            self._reset_after_failure()
            raise _write_error(exc) from exc
        report.seconds = time.perf_counter() - t0
        return report

    def _reset_after_failure(self) -> None:
        """Make sure nothing stays open: a broken connection is closed (the server then rolls back)."""
        try:
            if self.con.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.con.rollback()
        except psycopg.Error:
            self.con.close()

    def _existing(self, schema: Schema) -> tuple[list[str], set[str]]:
        tables = [(ddl.target_schema(t.schema), t.name) for t in schema.tables.values()]
        found = self.con.execute(
            """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
                 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""",
            [[s for s, _ in tables], [n for _, n in tables]],
        ).fetchall()
        types = {f"{n}.{t}" for n, t in self.con.execute(
            "SELECT n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE t.typtype IN ('e', 'd')").fetchall()}
        return [f"{s}.{n}" for s, n in found], types

    def _refuse_existing(self, schema: Schema, replace: bool, cascade: bool) -> tuple[list[str], set[str]]:
        existing, types = self._existing(schema)
        if existing and not replace:
            shown = ", ".join(existing[:5]) + (" ..." if len(existing) > 5 else "")
            raise DestinationNotEmpty(f"destination already has {len(existing)} of the tables: {shown}",
                                      "write into an empty database, or pass --replace to drop and recreate them")
        kinds = dict(self.con.execute(
            "SELECT n.nspname || '.' || c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE n.nspname || '.' || c.relname = ANY(%s::text[])", [existing]).fetchall())
        others = sorted(k for k, kind in kinds.items() if kind not in ("r", "p"))
        if others:
            raise DestinationNotEmpty(f"destination has views or other relations named like the tables: "
                                      f"{', '.join(others[:5])}", "drop or rename them first; --replace drops tables only")
        if existing and not cascade:
            deps = self._dependents(existing)
            if deps:
                raise DependentObjects(
                    f"--replace would drop {', '.join(existing[:5])}, and other objects depend on them: "
                    f"{'; '.join(deps[:8])}" + (" ..." if len(deps) > 8 else ""),
                    "drop those objects first, or pass --replace-cascade to drop them with the tables")
        return existing, types

    def _dependents(self, tables: list[str]) -> list[str]:
        """Objects outside `tables` that depend on them (views, foreign keys of other tables, functions,
        columns of their row types), described by PostgreSQL itself."""
        rows = self.con.execute(
            """WITH t AS (SELECT c.oid, c.reltype FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname || '.' || c.relname = ANY(%s::text[])),
               d AS (SELECT d.classid, d.objid, d.objsubid FROM pg_depend d
                     WHERE d.deptype = 'n' AND ((d.refclassid = 'pg_class'::regclass AND d.refobjid IN (SELECT oid FROM t))
                        OR (d.refclassid = 'pg_type'::regclass AND d.refobjid IN (SELECT reltype FROM t)))),
               o AS (SELECT d.*, CASE d.classid
                          WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)
                          WHEN 'pg_constraint'::regclass THEN (SELECT conrelid FROM pg_constraint WHERE oid = d.objid)
                          WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = d.objid)
                          WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
                          WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = d.objid)
                          WHEN 'pg_class'::regclass THEN d.objid END AS rel FROM d)
               SELECT DISTINCT CASE WHEN o.classid = 'pg_rewrite'::regclass
                                    THEN pg_describe_object('pg_class'::regclass, o.rel, 0)
                                    ELSE pg_describe_object(o.classid, o.objid, o.objsubid) END
               FROM o WHERE o.rel IS NULL OR o.rel NOT IN (SELECT oid FROM t) ORDER BY 1""",
            [tables]).fetchall()
        return [r[0] for r in rows]

    def _write(self, schema: Schema, data, replace: bool, validate: bool, report: WriteReport,
               cascade: bool = False) -> None:
        con = self.con
        existing, types = self._refuse_existing(schema, replace, cascade)
        if existing:
            # only the tables this write recreates; RESTRICT (the default) unless cascading was asked for
            con.execute("DROP TABLE " + ", ".join(
                f"{qident(s)}.{qident(n)}" for s, n in (e.split(".", 1) for e in existing))
                + (" CASCADE" if cascade else ""))
        subs = report.type_substitutions
        for sql in ddl.type_ddl(schema, types):
            con.execute(sql)
        for t in schema.tables.values():
            con.execute(ddl.create_table(schema, t, subs))
        for sql in ddl.owned_by(schema):
            con.execute(sql)
        with con.cursor() as cur:
            for key, t in schema.tables.items():
                nul: dict[str, int] = {}
                report.tables[key] = self._load(cur, schema, t, data.get(key), nul)
                subs.extend(f"{key}.{c}: NUL bytes removed from {n:,} values (PostgreSQL text cannot hold them)"
                            for c, n in nul.items())
        n = 0
        for t in schema.tables.values():
            for sql in ddl.key_ddl(t):
                con.execute(sql)
                n += 1
        for t in schema.tables.values():
            for name, sql in ddl.check_ddl(t, validate):
                n += self._add_check(t, name, sql, schema, subs)
        for t in schema.tables.values():
            for fk in t.foreign_keys:
                if fk.ref_table in schema.tables:
                    con.execute(ddl.fk_ddl(schema, t, fk, validate))
                    n += 1
        for t in schema.tables.values():
            for sql in ddl.index_ddl(schema, t):
                con.execute(sql)
            for sql in ddl.sequence_sync(schema, t):
                con.execute(sql)
        report.constraints = n

    def _add_check(self, t: Table, name: str, sql: str, schema: Schema, subs: list[str]) -> int:
        """Add a CHECK; one from another engine that PostgreSQL cannot parse is skipped and reported."""
        if schema.engine == "postgresql":
            self.con.execute(sql)
            return 1
        try:
            with self.con.transaction():
                self.con.execute(_duck_regex_to_pg(sql))
            return 1
        except _FOREIGN_SQL:
            subs.append(f"{t.key}: CHECK {name} skipped (not valid in PostgreSQL)")
            return 0

    def _load(self, cur, schema: Schema, t: Table, rows, nul_counts: dict[str, int] | None = None) -> int:
        if rows is None:
            return 0
        # generated columns are computed here when the schema is PostgreSQL's, loaded otherwise
        cols = [c.name for c in t.columns if not (c.generated and schema.engine == "postgresql")]
        if isinstance(rows, pa.Table):
            present = [c for c in cols if c in rows.column_names]
            batches = rows.select(present).to_batches(max_chunksize=BATCH_ROWS)
        else:
            batches, present = _select_stream(rows, cols)
        return copy_in(cur, ddl.table_sql(t), present, batches, nul_counts)

    # -- CHECK evaluation -----------------------------------------------------------------------------
    def evaluate_checks(self, table: Table, data: pa.Table, schema: Schema | None = None) -> dict[str, np.ndarray]:
        """Rows of `data` failing each CHECK of `table` (and of its columns' domains), as boolean masks.

        Keys: the check name; a domain check is "<column>.<check name>". PostgreSQL evaluates the
        expressions on a temporary copy of the rows, in a transaction that is rolled back; a NULL
        result passes, as in SQL. Left out: checks on columns missing from `data`, and checks of
        another engine's schema that PostgreSQL cannot run (write() skips those too)."""
        if self.read_only:
            raise ClavaError("evaluating CHECK constraints needs a writable PostgreSQL connection",
                             "open the adapter with read_only=False")
        schema = schema or self._schema or Schema(engine="postgresql")
        present = [c for c in table.columns if c.name in data.column_names and not c.generated]
        names = {c.name for c in present}
        own = {c.name: c for c in table.checks}
        checks = [(name, expr) for name, expr in check_expressions(schema, table)
                  if (set(own[name].columns) <= names if name in own else name.split(".", 1)[0] in names)]
        masks = {name: np.zeros(data.num_rows, dtype=bool) for name, _ in checks}
        if not checks or data.num_rows == 0:
            return masks
        tmp = qident("clava_check_rows")
        self._idle()
        try:
            with self.con.transaction(force_rollback=True), self.con.cursor() as cur:
                _, types = self._existing(Schema(engine=schema.engine))
                for sql in ddl.type_ddl(Schema(engine=schema.engine, enums=schema.enums), types):
                    if sql.startswith("CREATE TYPE"):
                        cur.execute(sql)
                subs: list[str] = []
                known = set(schema.enums) | {t.removeprefix("public.") for t in types}
                coldefs = ", ".join(f"{qident(c.name)} {self._check_type(c, schema, known, subs)}" for c in present)
                cur.execute(f"CREATE TEMP TABLE {tmp} (clava_rn bigint, {coldefs}) ON COMMIT DROP")
                rn = pa.array(np.arange(data.num_rows, dtype=np.int64))
                rows = data.select([c.name for c in present]).add_column(0, "clava_rn", rn)
                copy_in(cur, tmp, rows.column_names, rows.to_batches(max_chunksize=BATCH_ROWS))
                for name, expr in checks:
                    bad = self._failing_rows(cur, tmp, expr, schema.engine == "postgresql")
                    if bad is None:  # another engine's expression PostgreSQL cannot run, as in write()
                        del masks[name]
                    elif bad:
                        masks[name][np.fromiter((r[0] for r in bad), dtype=np.int64, count=len(bad))] = True
        except psycopg.Error as exc:
            self._reset_after_failure()
            raise ClavaError(f"cannot evaluate the CHECK constraints of {table.key}: {_first_line(exc)}",
                             "the check expressions must be valid PostgreSQL") from None
        return masks

    def _failing_rows(self, cur, tmp: str, expr: str, same_engine: bool) -> list[tuple[int]] | None:
        if same_engine:
            return cur.execute(f"SELECT clava_rn FROM {tmp} WHERE NOT ({expr})").fetchall()
        sql = f"SELECT clava_rn FROM {tmp} WHERE NOT ({_duck_regex_to_pg(expr)})"
        try:
            with self.con.transaction():
                return cur.execute(sql).fetchall()
        except _FOREIGN_SQL:
            return None

    @staticmethod
    def _check_type(c: Column, schema: Schema, known_enums: set[str], subs: list[str]) -> str:
        """Column type of the staging table: a domain's base type (its checks are evaluated apart);
        text for an enum this database does not know, so rows load without the schema."""
        if schema.engine != "postgresql":
            return render_type(c, schema, subs, c.name)
        if c.domain:
            if c.domain in schema.domains:
                return schema.domains[c.domain].base_type
            return render_type(Column(**{**c.__dict__, "domain": None, "type": ""}), schema, subs, c.name)
        if c.enum and c.enum not in known_enums:
            return "text[]" if c.kind == "array" else "text"
        return c.type

    def close(self) -> None:
        if not self.con.closed:
            try:
                self.con.rollback()
            finally:
                self.con.close()


def _select_stream(rows, cols: list[str]):
    """Columns of the table present in a stream of record batches, and the stream restricted to them."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return iter(()), cols
    present = [c for c in cols if c in first.schema.names]

    def gen():
        yield first.select(present)
        for b in it:
            yield b.select(present)

    return gen(), present


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return s.splitlines()[0] if s else type(exc).__name__


def _write_error(exc: BaseException) -> BaseException:
    """psycopg errors -> one-line ClavaErrors; ClavaErrors and interrupts pass through."""
    if isinstance(exc, ClavaError) or not isinstance(exc, psycopg.Error):
        return exc
    diag = getattr(exc, "diag", None)
    where = f" (table {diag.table_name})" if diag is not None and diag.table_name else ""
    if isinstance(exc, pgerr.IntegrityError):
        return ConstraintUnsatisfiable(f"the destination rejected the rows{where}: {_first_line(exc)}",
                                       "nothing was written; the data breaks a declared constraint")
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return DestinationUnwritable(f"no permission to create the tables in the destination: {_first_line(exc)}",
                          "grant CREATE on the target schema (GRANT CREATE ON SCHEMA public TO <user>)")
    if isinstance(exc, pgerr.ReadOnlySqlTransaction):
        return DestinationUnwritable(f"the destination is read-only: {_first_line(exc)}", "use a writable database")
    if isinstance(exc, pgerr.DependentObjectsStillExist):
        return DependentObjects(f"--replace would drop tables other objects depend on: {_first_line(exc)}",
                                "drop those objects first, or pass --replace-cascade")
    return ClavaError(f"writing to PostgreSQL failed{where}: {_first_line(exc)}", "nothing was written")
