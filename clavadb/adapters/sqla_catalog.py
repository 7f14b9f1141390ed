"""Reflection of a database through SQLAlchemy's inspector into a Schema: tables, columns and types,
primary keys, foreign keys, UNIQUE constraints, CHECKs where the dialect reports them, indexes, row counts.

SQLite reports what its CREATE TABLE statements declare at the table level; a UNIQUE written on a column
(`code TEXT UNIQUE`) is found through `PRAGMA index_list`, and declared type names through
`PRAGMA table_info`, since SQLAlchemy's reflection reduces an unknown name to its type affinity.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from clavadb.schema import Check, Column, ForeignKey, Index, Schema, Table, Unique
from clavadb.sql import qident

from .duck_types import length_check
from .sqla_types import reflected_kind

_DECIMAL = re.compile(r"\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")


def clava_schema_name(dialect: str, schema: str, default: str | None) -> str:
    """Table.schema for a reflected schema: the dialect's default one is the default schema of clavadb."""
    if schema == default or schema is None:
        return "main" if dialect == "sqlite" else "public"
    return schema


def _declared_types(con: sa.Connection, table: str, schema: str | None) -> dict[str, str]:
    """Declared type text per column (SQLite keeps it verbatim)."""
    if con.dialect.name != "sqlite":
        return {}
    prefix = f"{qident(schema)}." if schema else ""
    return {r[1]: r[2] for r in con.exec_driver_sql(f"PRAGMA {prefix}table_info({qident(table)})")}


def _sqlite_column_uniques(con: sa.Connection, table: str, schema: str | None) -> list[list[str]]:
    """UNIQUE constraints SQLite made an automatic index for (origin 'u'), inline ones among them."""
    if con.dialect.name != "sqlite":
        return []
    prefix = f"{qident(schema)}." if schema else ""
    out = []
    for row in con.exec_driver_sql(f"PRAGMA {prefix}index_list({qident(table)})").fetchall():
        if row[3] == "u":
            cols = [r[2] for r in con.exec_driver_sql(f"PRAGMA {prefix}index_info({qident(row[1])})")]
            out.append(cols)
    return out


def _column(raw: dict, declared: dict[str, str], dialect: sa.Dialect) -> Column:
    sa_type = raw["type"]
    text = declared.get(raw["name"])
    if text is None:
        try:
            text = str(sa_type.compile(dialect=dialect))
        except Exception:  # a type the dialect cannot render (NullType): its kind decides
            text = ""
    kind = reflected_kind(text, sa_type)
    col = Column(name=raw["name"], type=text, kind=kind, nullable=bool(raw.get("nullable", True)),
                 default=raw.get("default"))
    if kind == "text":
        col.max_length = getattr(sa_type, "length", None)
    if kind == "decimal":
        p, s = getattr(sa_type, "precision", None), getattr(sa_type, "scale", None)
        if p is None and (m := _DECIMAL.search(text)):
            p, s = int(m.group(1)), int(m.group(2) or 0)
        col.precision, col.scale = p, s
    if raw.get("computed"):
        col.generated = str(raw["computed"].get("sqltext"))
    return col


def _table(con: sa.Connection, insp: sa.Inspector, name: str, schema: str | None, clava_schema: str,
           keys: dict[tuple[str | None, str], str]) -> Table:
    declared = _declared_types(con, name, schema)
    t = Table(name=name, schema=clava_schema)
    t.columns = [_column(c, declared, con.dialect) for c in insp.get_columns(name, schema)]
    pk = insp.get_pk_constraint(name, schema) or {}
    t.primary_key = list(pk.get("constrained_columns") or [])
    t.primary_key_name = pk.get("name")
    for c in t.columns:  # a primary key is NOT NULL in every other engine (SQLite allows NULL for legacy)
        if c.name in t.primary_key:
            c.nullable = False
    for i, fk in enumerate(insp.get_foreign_keys(name, schema)):
        ref = keys.get((fk.get("referred_schema") or schema, fk["referred_table"]))
        if ref is None:
            continue  # a table outside the reflected schemas
        opts = fk.get("options") or {}
        t.foreign_keys.append(ForeignKey(
            name=fk.get("name") or f"{name}_fk{i + 1}", columns=list(fk["constrained_columns"]), ref_table=ref,
            ref_columns=list(fk["referred_columns"] or t.primary_key),
            on_delete=(opts.get("ondelete") or "NO ACTION").upper(),
            on_update=(opts.get("onupdate") or "NO ACTION").upper(),
            deferrable=bool(opts.get("deferrable")), initially_deferred=str(opts.get("initially", "")).upper()
            == "DEFERRED"))
    seen: list[list[str]] = []
    uniques = [(u.get("name"), list(u["column_names"])) for u in insp.get_unique_constraints(name, schema)]
    uniques += [(None, cols) for cols in _sqlite_column_uniques(con, name, schema)]
    for uname, cols in uniques:
        if sorted(cols) in seen or cols == t.primary_key:
            continue
        seen.append(sorted(cols))
        t.uniques.append(Unique(name=uname or f"{name}_{'_'.join(cols)}_key", columns=cols))
    try:
        checks = insp.get_check_constraints(name, schema)
    except NotImplementedError:  # the dialect does not report CHECKs
        checks = []
    lengths = {c.name: c.max_length for c in t.columns if c.max_length}
    for i, chk in enumerate(checks):
        expr = str(chk["sqltext"]).strip()
        lc = length_check(expr)
        if lc is not None and lengths.get(lc[0]) == lc[1]:
            continue  # the CHECK a VARCHAR(n) is written with where lengths are not enforced
        t.checks.append(Check(name=chk.get("name") or f"{name}_check{i + 1}", expression=expr,
                              columns=[c.name for c in t.columns if re.search(rf"\b{re.escape(c.name)}\b", expr)]))
    for ix in insp.get_indexes(name, schema):
        cols = [c for c in ix.get("column_names") or [] if c is not None]
        if not cols or len(cols) != len(ix.get("column_names") or []):
            continue  # an expression index
        if ix.get("unique") and sorted(cols) not in seen and cols != t.primary_key:
            seen.append(sorted(cols))
            t.uniques.append(Unique(name=ix["name"], columns=cols, from_index=True))
        t.indexes.append(Index(name=ix["name"], columns=cols, unique=bool(ix.get("unique"))))
    return t


def introspect(con: sa.Connection, schemas: list[str] | None) -> Schema:
    """The Schema of the given schemas (default: the connection's default schema), exact row counts."""
    insp = sa.inspect(con)
    dialect = con.dialect.name
    default = insp.default_schema_name
    wanted = [None if s in ("main", "public", default) else s for s in (schemas or [None])]
    names = {s: insp.get_table_names(schema=s) for s in wanted}
    keys: dict[tuple[str | None, str], str] = {}
    for s, tables in names.items():
        for n in tables:
            keys[(s, n)] = Table(name=n, schema=clava_schema_name(dialect, s, None)).key
    out = Schema(engine=dialect, schemas=[clava_schema_name(dialect, s, None) for s in wanted])
    for s, tables in names.items():
        for n in tables:
            t = _table(con, insp, n, s, clava_schema_name(dialect, s, None), keys)
            ref = sa.table(n, schema=s)
            t.row_count = int(con.execute(sa.select(sa.func.count()).select_from(ref)).scalar_one())
            out.tables[t.key] = t
    return out
