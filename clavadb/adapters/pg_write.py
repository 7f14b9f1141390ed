"""DDL for mirroring a Schema into PostgreSQL: types, tables, constraints, indexes, sequences.

Each function returns SQL statements; the adapter runs them inside one transaction.
A schema from PostgreSQL keeps its exact types, defaults, domains, generated columns and index
definitions; a schema from another engine is rendered from Column.kind (see pg_types).
"""

from __future__ import annotations

from clavadb.schema import Column, ForeignKey, Schema, Table
from clavadb.sql import qident, qliteral

from .pg_types import qualified, render_type, simple_default

_MAX_NAME = 63


def target_schema(name: str) -> str:
    return "public" if name in ("main", "public") else name


def table_sql(t: Table) -> str:
    return f"{qident(target_schema(t.schema))}.{qident(t.name)}"


def _type_key_sql(key: str, schema_name: str) -> str:
    """Quoted name of an enum/domain/sequence declared in this schema."""
    return qualified(key) if "." in key else f"{qident(target_schema(schema_name))}.{qident(key)}"


def _same(schema: Schema) -> bool:
    return schema.engine == "postgresql"


def type_ddl(schema: Schema, existing_types: set[str]) -> list[str]:
    """CREATE SCHEMA / TYPE (enums) / DOMAIN (same engine). Types that already exist are reused."""
    out = []
    for sch in sorted({target_schema(t.schema) for t in schema.tables.values()} - {"public"}):
        out.append(f"CREATE SCHEMA IF NOT EXISTS {qident(sch)}")
    for key, e in schema.enums.items():
        name = f"{target_schema(e.schema)}.{e.name}"
        if name in existing_types:
            continue
        labels = ", ".join(qliteral(v) for v in e.values)
        out.append(f"CREATE TYPE {_type_key_sql(key, e.schema)} AS ENUM ({labels})")
    if _same(schema):
        for key, d in schema.domains.items():
            if f"{target_schema(d.schema)}.{d.name}" in existing_types:
                continue
            sql = f"CREATE DOMAIN {_type_key_sql(key, d.schema)} AS {d.base_type}"
            if d.default:
                sql += f" DEFAULT {d.default}"
            if d.not_null:
                sql += " NOT NULL"
            for c in d.checks:
                sql += f" CONSTRAINT {qident(c.name)} CHECK ({c.expression})"
            out.append(sql)
    for key, s in schema.sequences.items():
        out.append(f"CREATE SEQUENCE IF NOT EXISTS {_type_key_sql(key, s.schema)}"
                   f" START WITH {int(s.start)} INCREMENT BY {int(s.increment)}")
    return out


def column_ddl(schema: Schema, t: Table, c: Column, subs: list[str]) -> str:
    same = _same(schema)
    if same:
        typ = c.type
    elif c.domain and c.domain in schema.domains:  # another engine's domain: its base kind
        typ = render_type(c, schema, subs, f"{t.key}.{c.name}")
    else:
        typ = render_type(c, schema, subs, f"{t.key}.{c.name}")
    sql = f"{qident(c.name)} {typ}"
    if c.generated:
        if same:
            return sql + f" GENERATED ALWAYS AS ({c.generated}) STORED"
        subs.append(f"{t.key}.{c.name}: generated column -> plain column")
    if c.identity:
        sql += f" GENERATED {'ALWAYS' if c.identity == 'always' else 'BY DEFAULT'} AS IDENTITY"
    elif same and c.default:
        sql += f" DEFAULT {c.default}"
    elif c.sequence and c.sequence in schema.sequences:
        seq = schema.sequences[c.sequence]
        name = _type_key_sql(c.sequence, seq.schema).replace("'", "''")
        sql += f" DEFAULT nextval('{name}')"
    elif not same and (lit := simple_default(c.default)) is not None:
        sql += f" DEFAULT {lit}"
    if not c.nullable:
        sql += " NOT NULL"
    return sql


def create_table(schema: Schema, t: Table, subs: list[str]) -> str:
    cols = ",\n  ".join(column_ddl(schema, t, c, subs) for c in t.columns)
    return f"CREATE TABLE {table_sql(t)} (\n  {cols}\n)"


def _named(name: str | None) -> str:
    return f"CONSTRAINT {qident(name[:_MAX_NAME])} " if name else ""


def _cols(cols: list[str]) -> str:
    return ", ".join(qident(c) for c in cols)


def key_ddl(t: Table) -> list[str]:
    """PRIMARY KEY and UNIQUE (constraints and unique indexes)."""
    out = []
    if t.primary_key:
        out.append(f"ALTER TABLE {table_sql(t)} ADD {_named(t.primary_key_name)}PRIMARY KEY ({_cols(t.primary_key)})")
    for u in t.uniques:
        if u.from_index:
            name = qident(u.name[:_MAX_NAME]) if u.name else ""
            where = f" WHERE {u.predicate}" if u.predicate else ""
            out.append(f"CREATE UNIQUE INDEX {name} ON {table_sql(t)} ({_cols(u.columns)}){where}")
        else:
            out.append(f"ALTER TABLE {table_sql(t)} ADD {_named(u.name)}UNIQUE ({_cols(u.columns)})")
    return out


def check_ddl(t: Table, validate: bool) -> list[tuple[str, str]]:
    """(check name, ALTER TABLE ... ADD CHECK) pairs."""
    nv = "" if validate else " NOT VALID"
    return [(c.name, f"ALTER TABLE {table_sql(t)} ADD {_named(c.name)}CHECK ({c.expression}){nv}")
            for c in t.checks]


def fk_ddl(schema: Schema, t: Table, fk: ForeignKey, validate: bool) -> str:
    parent = schema.tables[fk.ref_table]
    sql = (f"ALTER TABLE {table_sql(t)} ADD {_named(fk.name)}FOREIGN KEY ({_cols(fk.columns)}) "
           f"REFERENCES {table_sql(parent)} ({_cols(fk.ref_columns)}) "
           f"ON DELETE {fk.on_delete} ON UPDATE {fk.on_update}")
    if fk.deferrable:
        sql += " DEFERRABLE INITIALLY " + ("DEFERRED" if fk.initially_deferred else "IMMEDIATE")
    return sql + ("" if validate else " NOT VALID")


def index_ddl(schema: Schema, t: Table) -> list[str]:
    out = []
    for ix in t.indexes:
        if _same(schema) and ix.definition:
            out.append(ix.definition)
        elif all(c in t.column_names for c in ix.columns) and ix.columns:
            uniq = "UNIQUE " if ix.unique else ""
            out.append(f"CREATE {uniq}INDEX ON {table_sql(t)} ({_cols(ix.columns)})")
    return out


def sequence_sync(schema: Schema, t: Table) -> list[str]:
    """setval() past the largest value of each serial / identity column (start value when empty)."""
    out = []
    for c in t.columns:
        if not (c.identity or c.sequence) or c.kind != "int":
            continue
        if c.identity or not c.sequence or c.sequence not in schema.sequences:
            tbl = table_sql(t).replace("'", "''")
            seq = f"pg_get_serial_sequence('{tbl}', '{c.name.replace(chr(39), chr(39) * 2)}')"
        else:
            s = schema.sequences[c.sequence]
            seq = qliteral(_type_key_sql(c.sequence, s.schema))
        col = qident(c.name)
        out.append(
            f"SELECT setval({seq}, COALESCE(max({col}), (SELECT seqstart FROM pg_sequence "
            f"WHERE seqrelid = ({seq})::regclass)), max({col}) IS NOT NULL) FROM {table_sql(t)}"
        )
    return out


def owned_by(schema: Schema) -> list[str]:
    out = []
    for key, s in schema.sequences.items():
        if s.table in schema.tables and s.column:
            t = schema.tables[s.table]
            out.append(f"ALTER SEQUENCE {_type_key_sql(key, s.schema)} OWNED BY {table_sql(t)}.{qident(s.column)}")
    return out
