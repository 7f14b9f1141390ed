"""The DuckDB side of a mirrored write: DDL from a Schema of any engine, Arrow loads in FK order, sequences.

Planning (types, CHECK/DEFAULT translation, which FKs can be declared) happens before the transaction
and binds every translated expression on a scratch in-memory DuckDB, because a failed statement would
abort the destination's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from clavadb.dialect import to_duckdb
from clavadb.errors import ClavaError
from clavadb.schema import DEFAULT_SCHEMAS, ForeignKey, Schema, Table
from clavadb.sql import qident, qliteral

from .base import WriteReport
from .duck_types import Mapped, cast_expr, map_column

_NEXTVAL = re.compile(r"nextval\(\s*'([^']+)'", re.I)
_SRC = "__clava_src"
_STAGE = "__clava_stage"
_LEVEL = "__clava_level"


def _dest_schema(table: Table) -> str:
    return "main" if table.schema in DEFAULT_SCHEMAS else table.schema


def qualified(table: Table) -> str:
    s = _dest_schema(table)
    return qident(table.name) if s == "main" else f"{qident(s)}.{qident(table.name)}"


def _seq_name(name: str) -> str:
    """Bare sequence name from a regclass text such as public."Seq"::regclass or a_id_seq."""
    last = re.split(r'\.(?=(?:[^"]*"[^"]*")*[^"]*$)', name)[-1]
    return last[1:-1].replace('""', '"') if last.startswith('"') else last


@dataclass
class TablePlan:
    table: Table
    cols: list[Mapped]
    defaults: dict[str, str] = field(default_factory=dict)  # column -> DuckDB DEFAULT expression
    sequences: dict[str, str] = field(default_factory=dict)  # column -> sequence name
    checks: list[str] = field(default_factory=list)
    fks: list[ForeignKey] = field(default_factory=list)  # declared
    self_fks: list[ForeignKey] = field(default_factory=list)  # declared, referencing the table itself
    uniques: list[list[str]] = field(default_factory=list)
    generated: dict[str, str] = field(default_factory=dict)  # column -> DuckDB expression


def _scratch(schema: Schema) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB holding the schema's enum types, for binding translated expressions."""
    con = duckdb.connect()
    for e in schema.enums.values():
        con.execute(f"CREATE TYPE {qident(e.name)} AS ENUM ({', '.join(qliteral(v) for v in e.values)})")
    return con


def _probe_table(con: duckdb.DuckDBPyConnection, table: Table, cols: list[Mapped]) -> str:
    name = "__probe"
    defs = ", ".join(f"{qident(c.name)} {m.type}" for c, m in zip(table.columns, cols, strict=True))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({defs})")
    return name


def _binds(con: duckdb.DuckDBPyConnection, sql: str) -> bool:
    try:
        con.execute(sql)
        return True
    except duckdb.Error:
        return False


class Writer:
    def __init__(self, con: duckdb.DuckDBPyConnection, schema: Schema, data: Mapping):
        self.con, self.schema, self.data = con, schema, data
        self.report = WriteReport()
        self.current = "(schema)"
        self.graph = schema.graph()
        self.order = self.graph.top_down()
        self.plans: dict[str, TablePlan] = {}
        self.source_error: BaseException | None = None  # raised by a caller's batch iterator mid-load

    # -- planning, outside the transaction ---------------------------------------------------------
    def plan(self) -> None:
        notes = self.report.type_substitutions
        scratch = _scratch(self.schema)
        created: set[str] = set()
        try:
            for key in self.order:
                t = self.schema.tables[key]
                self.current = key
                cols = [map_column(key, c, self.schema) for c in t.columns]
                p = TablePlan(t, cols)
                for m in cols:
                    notes.extend(m.notes)
                probe = _probe_table(scratch, t, cols)
                checks: list[tuple[str, str]] = []  # (what to call it in an error, DuckDB expression)
                for c, m in zip(t.columns, cols, strict=True):
                    self._plan_default(p, c, m, scratch)
                    checks += [(f"CHECK on {key}.{c.name} (from its type or domain)", e) for e in m.checks]
                checks += [(f"CHECK {chk.name} on {key}", to_duckdb(chk.expression, self.schema.engine))
                           for chk in t.checks]
                for what, expr in checks:
                    if not _binds(scratch, f"SELECT ({expr}) FROM {probe}"):
                        raise ClavaError(f"{what} cannot be expressed in DuckDB: {expr}",
                                         "drop or rewrite the constraint in the source, or write to PostgreSQL")
                    p.checks.append(expr)
                p.uniques = [u.columns for u in t.uniques if not u.predicate]
                for u in t.uniques:
                    if u.predicate:
                        notes.append(f"{key}: partial unique index {u.name} (WHERE {u.predicate}) not declared")
                self._plan_fks(p, created)
                created.add(key)
                self.plans[key] = p
        finally:
            scratch.close()

    def _plan_default(self, p: TablePlan, c, m: Mapped, scratch) -> None:
        key = p.table.key
        seq = c.sequence or (m2.group(1) if c.default and (m2 := _NEXTVAL.search(c.default)) else None)
        if c.identity and not seq:
            seq = f"{p.table.name}_{c.name}_seq"
        if seq:
            p.sequences[c.name] = _seq_name(seq)
            if c.identity:
                self.report.type_substitutions.append(f"{key}.{c.name}: identity -> sequence + DEFAULT nextval")
            return
        if c.generated:
            expr = to_duckdb(c.generated, self.schema.engine)
            probe = _probe_table(scratch, p.table, p.cols)
            if _binds(scratch, f"SELECT CAST(({expr}) AS {m.type}) FROM {probe}"):
                p.generated[c.name] = expr  # computed by DuckDB (VIRTUAL); not loaded
            else:
                self.report.type_substitutions.append(f"{key}.{c.name}: generated column -> plain column")
            return
        if not c.default:
            return
        expr = to_duckdb(c.default, self.schema.engine)
        if _binds(scratch, f"SELECT CAST(({expr}) AS {m.type})"):
            p.defaults[c.name] = expr
        else:
            self.report.type_substitutions.append(f"{key}.{c.name}: DEFAULT {c.default} dropped (not DuckDB SQL)")

    def _plan_fks(self, p: TablePlan, created: set[str]) -> None:
        key = p.table.key
        for fk in p.table.foreign_keys:
            if fk.ref_table not in self.schema.tables:
                continue
            if fk.ref_table == key:
                p.self_fks.append(fk)
            elif fk.ref_table not in created:
                self.report.type_substitutions.append(
                    f"{key}.{fk.name}: FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {fk.ref_table} not declared "
                    f"(cycle: DuckDB declares FKs only in CREATE TABLE, towards tables that exist)"
                )
                continue
            p.fks.append(fk)
            if fk.on_delete.upper() != "NO ACTION" or fk.on_update.upper() != "NO ACTION":
                self.report.type_substitutions.append(
                    f"{key}.{fk.name}: ON DELETE {fk.on_delete} ON UPDATE {fk.on_update} -> NO ACTION"
                )

    def existing_tables(self) -> list[str]:
        have = {(s, n) for s, n in self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT temporary").fetchall()}
        return [k for k, t in self.schema.tables.items() if (_dest_schema(t), t.name) in have]

    def existing_sequences(self) -> list[str]:
        """Sequences this write would create that the destination already has (planned first)."""
        have = {n for (n,) in self.con.execute(
            "SELECT sequence_name FROM duckdb_sequences() WHERE database_name = current_database() "
            "AND NOT temporary").fetchall()}
        return sorted({s for p in self.plans.values() for s in p.sequences.values()} & have)

    def dependents(self, clash: list[str]) -> tuple[list[str], list[str]]:
        """Views that read any of the `clash` tables, and FKs of other tables that reference them.

        DuckDB keeps no view dependencies (a view on a dropped table fails only when queried), so each
        view's SQL is parsed and its table references are compared."""
        import sqlglot
        from sqlglot import exp

        names = {(_dest_schema(self.schema.tables[k]), self.schema.tables[k].name) for k in clash}
        views = []
        for sch, name, sql in self.con.execute(
                "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE database_name = current_database() "
                "AND NOT internal AND NOT temporary").fetchall():
            try:
                refs = {(t.db or "main", t.name) for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}
            except sqlglot.errors.ParseError:
                refs = names  # a view we cannot read is assumed to depend: never drop one silently
            if refs & names:
                views.append(name if sch == "main" else f"{sch}.{name}")
        fks = [f"{t}.{c} ({text})" for sch, t, c, ref, text in self.con.execute(
            "SELECT schema_name, table_name, constraint_name, referenced_table, constraint_text "
            "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY' "
            "AND database_name = current_database()").fetchall()
            if (sch, ref) in names and (sch, t) not in names]
        return sorted(views), fks

    # -- inside the transaction --------------------------------------------------------------------
    def run(self, replace: bool, cascade: bool = False) -> None:
        con = self.con
        if replace:
            if cascade:
                for v in self.dependents(self.existing_tables())[0]:
                    con.execute("DROP VIEW " + ".".join(qident(part) for part in v.split(".", 1)))
            self._drop_existing()
        for s in {_dest_schema(t) for t in self.schema.tables.values()} - {"main"}:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {qident(s)}")
        used = {c.enum for t in self.schema.tables.values() for c in t.columns if c.enum}
        have = {n: list(labels) for n, labels in con.execute(
            "SELECT type_name, labels FROM duckdb_types() WHERE database_name = current_database() "
            "AND logical_type = 'ENUM' AND NOT internal").fetchall()}
        for key, e in self.schema.enums.items():
            if key not in used and e.name not in used:
                continue
            if e.name in have:
                if have[e.name] != list(e.values):
                    raise ClavaError(f"the destination has an enum type {e.name} with other labels",
                                     "drop it, or write with replace")
                continue
            con.execute(f"CREATE TYPE {qident(e.name)} AS ENUM ({', '.join(qliteral(v) for v in e.values)})")
        for key in self.order:
            self.current = key
            self._write_table(self.plans[key])
        self.current = "(indexes)"
        for key in self.order:
            self._indexes(self.plans[key].table)

    def _drop_existing(self) -> None:
        from .duck_catalog import introspect

        clash = self.existing_tables()
        if clash:
            dest = introspect(self.con, sorted({_dest_schema(self.schema.tables[k]) for k in clash}))
            names = {_name_in_dest(self.schema.tables[k]) for k in clash}
            for k in [k for k in dest.graph().bottom_up() if k in names]:  # children first
                self.con.execute(f"DROP TABLE {qualified(dest.tables[k])}")
        # sequences and enum types of the same names are recreated from this schema
        for seq in self.existing_sequences():
            self.con.execute(f"DROP SEQUENCE {qident(seq)}")
        if clash:
            for e in self.schema.enums.values():
                if e.name in dest.enums:
                    self.con.execute(f"DROP TYPE IF EXISTS {qident(e.name)}")

    def _source(self, key: str) -> tuple[str | None, pa.Schema | None]:
        """Register the table's rows as a scan and return (relation name, Arrow schema); None for no rows."""
        src = self.data.get(key)
        if src is None:
            return None, None
        if not isinstance(src, pa.Table):
            batches: Iterator[pa.RecordBatch] = iter(src)
            first = next(batches, None)
            if first is None:
                return None, None
            src = pa.RecordBatchReader.from_batches(first.schema, self._chain(first, batches))
        self.con.register(_SRC, src)
        return _SRC, src.schema

    def _chain(self, first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The batches, remembering an exception of the producer (DuckDB reports it as its own error)."""
        yield first
        try:
            yield from rest
        except BaseException as e:
            self.source_error = e
            raise

    def _write_table(self, p: TablePlan) -> None:
        con, t = self.con, p.table
        src, arrow = self._source(t.key)
        # generated columns are computed by DuckDB: their values in the data are not loaded
        names = [n for n in (arrow.names if arrow is not None else []) if n not in p.generated]
        try:
            unknown = [n for n in names if n not in t.column_names]
            if unknown:
                raise ClavaError(f"data for {t.key} has columns the table lacks: {', '.join(unknown)}")
            mapped = dict(zip(t.column_names, p.cols, strict=True))
            casts = ", ".join(f"{cast_expr(f.name, f.type, mapped[f.name].type)} AS {qident(f.name)}"
                              for f in arrow or [] if f.name in names)
            multi_scan = bool(p.sequences or p.self_fks)
            if src is not None and multi_scan:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT {casts} FROM {src}")
                src, casts = _STAGE, ", ".join(qident(n) for n in names)
            for col, seq in p.sequences.items():
                start = 1
                if src is not None and col in names:
                    top = con.execute(f"SELECT max({qident(col)}) FROM {src}").fetchone()[0]
                    start = int(top) + 1 if top is not None else 1
                known = self.schema.sequences.get(seq)
                inc = known.increment if known else 1
                con.execute(f"CREATE SEQUENCE {qident(seq)} START {max(start, 1)} INCREMENT BY {inc}")
            con.execute(self._create_sql(p))
            self.report.constraints += (1 if t.primary_key else 0) + len(p.uniques) + len(p.checks) + len(p.fks)
            rows = 0
            if src is not None:
                target = f"{qualified(t)} ({', '.join(qident(n) for n in names)})"
                if p.self_fks:
                    rows = self._insert_levels(p, target, names)
                else:
                    rows = con.execute(f"INSERT INTO {target} SELECT {casts} FROM {src}").fetchone()[0]
            self.report.tables[t.key] = int(rows)
            if src == _STAGE:
                con.execute(f"DROP TABLE temp.{_STAGE}")
        finally:
            if arrow is not None:
                con.unregister(_SRC)  # not SQL: safe after a failed statement

    def _create_sql(self, p: TablePlan) -> str:
        t = p.table
        parts = []
        for c, m in zip(t.columns, p.cols, strict=True):
            d = f"{qident(c.name)} {m.type}"
            if c.name in p.generated:
                parts.append(f"{d} GENERATED ALWAYS AS ({p.generated[c.name]})")
                continue
            if c.name in p.sequences:
                d += f" DEFAULT nextval({qliteral(p.sequences[c.name])})"
            elif c.name in p.defaults:
                d += f" DEFAULT ({p.defaults[c.name]})"
            if not c.nullable or m.not_null:
                d += " NOT NULL"
            parts.append(d)
        ql = lambda cols: ", ".join(qident(c) for c in cols)  # noqa: E731
        if t.primary_key:
            parts.append(f"PRIMARY KEY ({ql(t.primary_key)})")
        parts += [f"UNIQUE ({ql(u)})" for u in p.uniques if u != t.primary_key]
        parts += [f"CHECK ({e})" for e in p.checks]
        for fk in p.fks:
            ref = self.schema.tables[fk.ref_table]
            parts.append(f"FOREIGN KEY ({ql(fk.columns)}) REFERENCES {qualified(ref)} ({ql(fk.ref_columns)})")
        return f"CREATE TABLE {qualified(t)} (\n  " + ",\n  ".join(parts) + "\n)"

    def _insert_levels(self, p: TablePlan, target: str, names: list[str]) -> int:
        """Insert a self-referencing table root rows first: DuckDB checks each INSERT against the rows
        already there, so a row must come in a later statement than the row it references."""
        con = self.con
        con.execute(f"ALTER TABLE {_STAGE} ADD COLUMN {_LEVEL} INTEGER")

        def ready(fk: ForeignKey, level: int) -> str:
            nulls = " OR ".join(f"s.{qident(c)} IS NULL" for c in fk.columns)
            match = " AND ".join(f"r.{qident(rc)} = s.{qident(c)}" for c, rc in zip(fk.columns, fk.ref_columns,
                                                                                      strict=True))
            return f"({nulls} OR EXISTS (SELECT 1 FROM {_STAGE} r WHERE r.{_LEVEL} < {level} AND {match}))"

        level, total = 0, con.execute(f"SELECT count(*) FROM {_STAGE}").fetchone()[0]
        placed = 0
        while placed < total:
            cond = " AND ".join(ready(fk, level) for fk in p.self_fks)
            n = con.execute(f"UPDATE {_STAGE} AS s SET {_LEVEL} = {level} WHERE s.{_LEVEL} IS NULL AND {cond}"
                            ).fetchone()[0]
            if n == 0:
                break  # the rest reference missing rows or each other in a loop; the INSERT below rejects them
            placed += n
            level += 1
        cols = ", ".join(qident(n) for n in names)
        rows = 0
        for lv in range(level):
            rows += con.execute(f"INSERT INTO {target} SELECT {cols} FROM {_STAGE} WHERE {_LEVEL} = {lv}"
                                ).fetchone()[0]
        if placed < total:
            con.execute(f"INSERT INTO {target} SELECT {cols} FROM {_STAGE} WHERE {_LEVEL} IS NULL")
        return rows

    def _indexes(self, t: Table) -> None:
        unique_cols = [u.columns for u in t.uniques]
        for ix in t.indexes:
            if ix.unique and ix.columns in unique_cols:
                continue  # declared as UNIQUE in the table
            if not all(c in t.column_names for c in ix.columns):
                self.report.type_substitutions.append(f"{t.key}: expression index {ix.name} not created")
                continue
            cols = ", ".join(qident(c) for c in ix.columns)
            self.con.execute(f"CREATE INDEX {qident(ix.name)} ON {qualified(t)} ({cols})")


def _name_in_dest(t: Table) -> str:
    s = _dest_schema(t)
    return t.name if s == "main" else f"{s}.{t.name}"
