"""DuckDB catalog -> Schema, from duckdb_tables(), duckdb_columns(), duckdb_constraints(), duckdb_types(),
duckdb_indexes() and duckdb_sequences() of the current database.

DuckDB keeps no VARCHAR length and no constraint names of its own choosing (names are generated as
table_columns_kind). A CHECK of the exact form `length(c) <= n`, which is how a VARCHAR(n) is written to
DuckDB, is read back as the column's max_length, so a PostgreSQL -> DuckDB -> PostgreSQL trip keeps VARCHAR(n).
Enum columns print as ENUM('a', ...) without their type name; the name is found by the labels.
"""

from __future__ import annotations

import re

import duckdb

from clavadb.schema import (
    Check,
    Column,
    EnumType,
    ForeignKey,
    Index,
    Schema,
    Sequence,
    Table,
    Unique,
)
from clavadb.sql import qident

from .duck_types import decimal_ps, duck_kind, element_type, length_check

_NEXTVAL = re.compile(r"nextval\(\s*'([^']+)'", re.I)
_FILTER = "database_name = current_database() AND schema_name IN (SELECT unnest($schemas))"


def _key(schema: str, name: str) -> str:
    return name if schema == "main" else f"{schema}.{name}"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, schemas: list[str]) -> list[dict]:
    cur = con.execute(sql, {"schemas": schemas})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def introspect(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> Schema:
    out = Schema(engine="duckdb", schemas=list(schemas))
    enum_rows = _rows(con, f"SELECT schema_name, type_name, labels FROM duckdb_types() WHERE {_FILTER} "
                           "AND logical_type = 'ENUM' AND NOT internal ORDER BY type_oid", schemas)
    for r in enum_rows:
        out.enums[r["type_name"]] = EnumType(r["type_name"], list(r["labels"]), r["schema_name"])
    by_labels = {tuple(e.values): e.name for e in out.enums.values()}

    tables = _rows(con, f"SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE {_FILTER} "
                        "AND NOT internal AND NOT temporary ORDER BY table_oid", schemas)
    table_sql: dict[str, str] = {}
    for r in sorted(tables, key=lambda r: schemas.index(r["schema_name"])):  # stable: creation order within
        t = Table(name=r["table_name"], schema=r["schema_name"])
        out.tables[t.key] = t
        table_sql[t.key] = r["sql"] or ""

    for r in _rows(con, f"SELECT * FROM duckdb_columns() WHERE {_FILTER} AND NOT internal "
                        "ORDER BY table_oid, column_index", schemas):
        t = out.tables.get(_key(r["schema_name"], r["table_name"]))
        if t is None:  # a view
            continue
        col = _column(con, r, out, by_labels)
        if col.default and _is_generated(table_sql[t.key], col.name, r["data_type"]):
            # duckdb_columns() shows a generated column's expression as its default
            col.generated, col.default = col.default, None
        t.columns.append(col)

    for r in _rows(con, f"SELECT * FROM duckdb_constraints() WHERE {_FILTER} "
                        "ORDER BY table_oid, constraint_index", schemas):
        t = out.tables.get(_key(r["schema_name"], r["table_name"]))
        if t is not None:
            _constraint(t, r)

    for r in _rows(con, f"SELECT * FROM duckdb_indexes() WHERE {_FILTER} ORDER BY index_oid", schemas):
        t = out.tables.get(_key(r["schema_name"], r["table_name"]))
        if t is None or r["is_primary"]:
            continue
        cols = [c.strip().strip('"') for c in (r["expressions"] or "").strip("[]").split(",") if c.strip()]
        t.indexes.append(Index(r["index_name"], cols, unique=bool(r["is_unique"]), definition=r["sql"]))
        if r["is_unique"]:
            t.uniques.append(Unique(r["index_name"], cols, from_index=True))

    owners = {c.sequence: (t.key, c.name) for t in out.tables.values() for c in t.columns if c.sequence}
    for r in _rows(con, f"SELECT * FROM duckdb_sequences() WHERE {_FILTER} AND NOT temporary", schemas):
        table, column = owners.get(r["sequence_name"], (None, None))
        out.sequences[r["sequence_name"]] = Sequence(
            r["sequence_name"], table, column, int(r["start_value"]), int(r["increment_by"]), r["schema_name"]
        )

    for t in out.tables.values():
        t.row_count = con.execute(f"SELECT count(*) FROM {qident(t.schema)}.{qident(t.name)}").fetchone()[0]
    return out


def _column(con: duckdb.DuckDBPyConnection, r: dict, out: Schema, by_labels: dict) -> Column:
    dtype: str = r["data_type"]
    kind = duck_kind(dtype)
    col = Column(name=r["column_name"], type=dtype, kind=kind, nullable=bool(r["is_nullable"]),
                 default=r["column_default"])
    if kind == "decimal":
        col.precision, col.scale = decimal_ps(dtype)
    if kind == "array":
        col.element_type = element_type(dtype)
        col.element_kind = duck_kind(col.element_type)
    if "enum" in (kind, col.element_kind):
        col.enum = _enum_name(con, col.element_type or dtype, r, out, by_labels)
        if kind == "enum":
            col.type = col.enum
    if col.default:
        m = _NEXTVAL.search(col.default)
        if m:
            col.sequence = m.group(1)
    return col


def _is_generated(create_sql: str, name: str, dtype: str) -> bool:
    names = {qident(name)} | ({name} if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else set())
    return any(f"{n} {dtype} GENERATED ALWAYS AS" in create_sql for n in names)


def _enum_name(con, dtype: str, r: dict, out: Schema, by_labels: dict) -> str:
    """Name of the enum type with these labels; an anonymous ENUM(...) column gets a type of its own."""
    labels = tuple(con.execute(f"SELECT enum_range(NULL::{dtype})").fetchone()[0])
    name = by_labels.get(labels)
    if name is None:
        name = f"{r['table_name']}_{r['column_name']}_enum"
        out.enums[name] = EnumType(name, list(labels), r["schema_name"])
        by_labels[labels] = name
    return name


def _constraint(t: Table, r: dict) -> None:
    kind, cols, name = r["constraint_type"], list(r["constraint_column_names"]), r["constraint_name"]
    if kind == "PRIMARY KEY":
        t.primary_key, t.primary_key_name = cols, name
    elif kind == "UNIQUE":
        t.uniques.append(Unique(name, cols))
    elif kind == "FOREIGN KEY":
        ref_schema = r["schema_name"]
        t.foreign_keys.append(
            ForeignKey(name, cols, _key(ref_schema, r["referenced_table"]), list(r["referenced_column_names"]))
        )
    elif kind == "CHECK":
        expr = r["expression"]
        length = length_check(expr)
        if length and length[0] in t.column_names and t.column(length[0]).kind == "text":
            col = t.column(length[0])
            col.max_length, col.type = length[1], f"VARCHAR({length[1]})"
        else:
            t.checks.append(Check(name, expr, cols))
