"""The write side of the SQLAlchemy adapter: a Schema of any engine as SQLAlchemy tables with every
constraint inside CREATE TABLE (SQLite cannot add one later), CHECKs translated into the destination's
dialect, rows loaded parents first through SQLAlchemy's executemany of `insert()`.

Planning happens before anything is written: each translated CHECK and DEFAULT is tried on a scratch
in-memory SQLite database when the destination is SQLite; one that does not compile there is left out and
reported (there is no general translation from another engine's SQL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import sqlglot
import sqlglot.errors

from clavadb.errors import ClavaError
from clavadb.schema import DEFAULT_SCHEMAS, Schema, Table
from clavadb.sql import qident

from .base import BATCH_ROWS, WriteReport
from .pg_types import simple_default
from .sqla_types import Declaration, declare

# Schema.engine -> sqlglot's dialect name
_SQLGLOT = {"postgresql": "postgres", "duckdb": "duckdb", "sqlite": "sqlite", "mysql": "mysql",
            "mariadb": "mysql"}


def translate(expr: str, src_engine: str, dst_dialect: str) -> str | None:
    """A CHECK/DEFAULT expression of `src_engine` in `dst_dialect`'s SQL; None when it cannot be read."""
    if src_engine == dst_dialect:
        return expr
    try:
        out = sqlglot.transpile(expr, read=_SQLGLOT.get(src_engine, src_engine),
                                write=_SQLGLOT.get(dst_dialect, dst_dialect))
    except sqlglot.errors.SqlglotError:
        return None
    return out[0] if len(out) == 1 else None


@dataclass
class TablePlan:
    table: Table
    decls: dict[str, Declaration]
    checks: list[tuple[str, str]] = field(default_factory=list)  # (name, expression in the destination)
    defaults: dict[str, str] = field(default_factory=dict)


class Planner:
    """Destination declarations of every table of a schema, checked before the write starts."""

    def __init__(self, schema: Schema, dialect: str, report: WriteReport):
        self.schema, self.dialect, self.report = schema, dialect, report
        self.scratch = sqlite3.connect(":memory:") if dialect == "sqlite" else None

    def plan(self) -> dict[str, TablePlan]:
        try:
            return {key: self._table(t) for key, t in self.schema.tables.items()}
        finally:
            if self.scratch is not None:
                self.scratch.close()

    def _table(self, t: Table) -> TablePlan:
        keyed = set(t.primary_key) | t.fk_columns() | {c for u in t.uniques for c in u.columns} | {
            c for ix in t.indexes for c in ix.columns}
        decls = {c.name: declare(t.key, c, self.schema, self.dialect, c.name in keyed) for c in t.columns}
        for d in decls.values():
            self.report.type_substitutions.extend(d.notes)
        p = TablePlan(t, decls)
        probe = self._probe(t, decls)
        for c in t.columns:
            for i, expr in enumerate(decls[c.name].checks):  # written in the destination's SQL already
                p.checks.append((f"{t.name}_{c.name}_check{i + 1}", expr))
            if c.generated:
                self.report.type_substitutions.append(f"{t.key}.{c.name}: generated column -> plain column")
            elif c.identity or c.sequence:
                self.report.type_substitutions.append(f"{t.key}.{c.name}: identity or sequence -> plain column")
            elif c.default:
                lit = simple_default(c.default)
                if lit is not None:
                    p.defaults[c.name] = lit
                else:
                    self.report.type_substitutions.append(f"{t.key}.{c.name}: DEFAULT {c.default} dropped")
        for chk in t.checks:
            expr = translate(chk.expression, self.schema.engine, self.dialect)
            if expr is None or not self._compiles(probe, expr):
                self.report.type_substitutions.append(
                    f"{t.key}.{chk.name}: CHECK ({chk.expression}) not declared (not {self.dialect} SQL)")
                continue
            p.checks.append((chk.name, expr))
        for u in t.uniques:
            if u.predicate:
                self.report.type_substitutions.append(f"{t.key}: partial unique index {u.name} not declared")
        for fk in t.foreign_keys:
            if fk.on_delete.upper() != "NO ACTION" or fk.on_update.upper() != "NO ACTION":
                self.report.type_substitutions.append(
                    f"{t.key}.{fk.name}: ON DELETE {fk.on_delete} ON UPDATE {fk.on_update} -> NO ACTION")
        return p

    def _probe(self, t: Table, decls: dict[str, Declaration]) -> str | None:
        if self.scratch is None:
            return None
        cols = ", ".join(qident(c.name) for c in t.columns)
        self.scratch.execute("DROP TABLE IF EXISTS __probe")
        self.scratch.execute(f"CREATE TABLE __probe ({cols})")
        return "__probe"

    def _compiles(self, probe: str | None, expr: str) -> bool:
        """Whether SQLite prepares the expression over the table's columns (unknown functions included)."""
        if self.scratch is None:
            return True
        try:
            self.scratch.execute(f"SELECT ({expr}) FROM {probe}").fetchall()
            return True
        except sqlite3.Error:
            return False


def dest_schema(table: Table) -> str | None:
    return None if table.schema in DEFAULT_SCHEMAS else table.schema


def build_tables(plans: dict[str, TablePlan], order: list[str], dialect: str) -> dict[str, sa.Table]:
    """SQLAlchemy tables with every constraint; FKs only towards tables of the write."""
    md = sa.MetaData()
    out: dict[str, sa.Table] = {}
    for key in order:
        p = plans[key]
        t = p.table
        cols = []
        for c in t.columns:
            d = p.decls[c.name]
            default = sa.text(p.defaults[c.name]) if c.name in p.defaults else None
            cols.append(sa.Column(c.name, d.type, nullable=c.nullable and not d.not_null and
                                  c.name not in t.primary_key, server_default=default, autoincrement=False))
        cons: list[sa.schema.Constraint] = []
        if t.primary_key:
            cons.append(sa.PrimaryKeyConstraint(*t.primary_key))
        cons += [sa.UniqueConstraint(*u.columns) for u in t.uniques if not u.predicate and u.columns != t.primary_key]
        # MySQL wants CHECK names unique in the database, PostgreSQL per table: MySQL names its own.
        named = dialect == "sqlite"
        cons += [sa.CheckConstraint(expr, name=name if named else None) for name, expr in p.checks]
        for fk in t.foreign_keys:
            if fk.ref_table not in plans:
                continue
            ref = plans[fk.ref_table].table
            prefix = f"{dest_schema(ref)}." if dest_schema(ref) else ""
            cons.append(sa.ForeignKeyConstraint(fk.columns, [f"{prefix}{ref.name}.{c}" for c in fk.ref_columns],
                                                use_alter=False))
        out[key] = sa.Table(t.name, md, *cols, *cons, schema=dest_schema(t))
        unique_cols = [u.columns for u in t.uniques]
        for ix in t.indexes:
            if ix.unique and ix.columns in unique_cols:
                continue
            if all(c in t.column_names for c in ix.columns):
                sa.Index(ix.name, *[out[key].c[c] for c in ix.columns])
    return out


def constraint_count(t: sa.Table) -> int:
    return sum(1 for c in t.constraints if isinstance(c, sa.PrimaryKeyConstraint | sa.UniqueConstraint |
                                                     sa.CheckConstraint | sa.ForeignKeyConstraint)
               and (not isinstance(c, sa.PrimaryKeyConstraint) or c.columns))


def _python_columns(batch: pa.RecordBatch, plan: TablePlan) -> list[list]:
    """The batch's columns as the Python values the SQLAlchemy types bind: UTC timestamps without a zone
    (SQLite and MySQL keep none), arrays as JSON text, anything else in Arrow's Python form."""
    out = []
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        d = plan.decls[name]
        if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
            arr = pc.cast(arr, pa.timestamp(arr.type.unit))  # Arrow keeps UTC values: the zone is dropped
        values = arr.to_pylist()
        if d.as_json:
            values = [None if v is None else json.dumps(v, default=str) for v in values]
        elif pa.types.is_interval(arr.type) or pa.types.is_duration(arr.type):
            values = [None if v is None else str(v) for v in values]
        out.append(values)
    return out


def insert_rows(con: sa.Connection, table: sa.Table, plan: TablePlan,
                data: pa.Table | Iterator[pa.RecordBatch]) -> int:
    """Load the rows with executemany of insert(), BATCH_ROWS at a time; the number of rows."""
    batches = data.to_batches(max_chunksize=BATCH_ROWS) if isinstance(data, pa.Table) else data
    rows = 0
    stmt = None
    for batch in batches:
        unknown = [n for n in batch.schema.names if n not in plan.decls]
        if unknown:
            raise ClavaError(f"data for {plan.table.key} has columns the table lacks: {', '.join(unknown)}")
        if batch.num_rows == 0:
            continue
        names = batch.schema.names
        cols = _python_columns(batch, plan)
        params = [dict(zip(names, r, strict=True)) for r in zip(*cols, strict=True)]
        stmt = stmt if stmt is not None else sa.insert(table)
        con.execute(stmt, params)
        rows += batch.num_rows
    return rows


def write_all(con: sa.Connection, data: Mapping, plans: dict[str, TablePlan], order: list[str],
              report: WriteReport, created: list[str]) -> None:
    """Create the tables and load them, parents first, on `con` (inside the caller's transaction);
    `created` gets the keys of the tables created, in order, also when a later step fails."""
    tables = build_tables(plans, order, con.dialect.name)
    current = "(schema)"
    try:
        for key in order:
            current = key
            tables[key].create(con)
            created.append(key)
            report.constraints += constraint_count(tables[key])
        for key in order:
            current = key
            src = data.get(key)
            report.tables[key] = insert_rows(con, tables[key], plans[key], src) if src is not None else 0
    except sa.exc.IntegrityError as e:
        from clavadb.errors import ConstraintUnsatisfiable

        raise ConstraintUnsatisfiable(f"{current}: the destination rejected the rows: {_first_line(e)}",
                                      "nothing was written; the data breaks a declared constraint") from None
    except sa.exc.DBAPIError as e:
        raise ClavaError(f"writing {current} failed: {_first_line(e)}", "nothing was written") from None


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    s = str(orig).strip()
    return s.splitlines()[0] if s else type(orig).__name__
