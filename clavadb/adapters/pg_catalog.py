"""Read a PostgreSQL catalog (pg_catalog) into a clavadb Schema."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from clavadb.schema import (
    DEFAULT_SCHEMAS,
    Check,
    Column,
    DomainType,
    EnumType,
    ForeignKey,
    Index,
    Schema,
    Sequence,
    Table,
    Unique,
)
from clavadb.sql import qident

from .pg_types import KIND_OF, typmod_details

_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_NEXTVAL = re.compile(r"^nextval\('(.+)'::regclass\)$")

# attribute names of an (attrelid, int2[] attnums) pair, in array order
_ATTNAMES = """ARRAY(SELECT a.attname::text FROM unnest({arr}) WITH ORDINALITY k(n, o)
                JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.o)"""


def _key(schema: str, name: str) -> str:
    return name if schema in DEFAULT_SCHEMAS else f"{schema}.{name}"


def _check_expr(defn: str) -> str:
    """'CHECK ((a > 0)) NOT VALID' -> '(a > 0)'."""
    body = re.sub(r"\s+(NOT VALID|NO INHERIT)\s*$", "", defn.strip())
    body = re.sub(r"\s+(NOT VALID|NO INHERIT)\s*$", "", body)
    if body.upper().startswith("CHECK "):
        body = body[6:].strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    return body


def introspect(con: psycopg.Connection, schemas: list[str]) -> Schema:
    types = _types(con)
    out = Schema(engine="postgresql", schemas=list(schemas))
    out.enums = _enums(con, schemas)
    out.domains = _domains(con, schemas, types)

    rels = con.execute(
        """SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%s)
           ORDER BY n.nspname, c.relname""",
        [schemas],
    ).fetchall()
    by_oid: dict[int, Table] = {}
    for oid, nsp, name, relkind in rels:
        t = Table(name=name, schema=nsp, partitioned=relkind == "p")
        by_oid[oid] = t
        out.tables[t.key] = t
    if not by_oid:
        return out
    oids = list(by_oid)
    _columns(con, oids, by_oid, types, out)
    _constraints(con, oids, by_oid)
    _indexes(con, oids, by_oid)
    _sequences(con, schemas, by_oid, out)
    for t in by_oid.values():
        t.row_count = con.execute(f"SELECT count(*) FROM {qident(t.schema)}.{qident(t.name)}").fetchone()[0]
    return out


def _types(con: psycopg.Connection) -> dict[int, dict[str, Any]]:
    rows = con.execute(
        """SELECT t.oid, t.typname, t.typtype, t.typelem, t.typbasetype, t.typtypmod, n.nspname,
                  format_type(t.oid, NULL)
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"""
    ).fetchall()
    keys = ("typname", "typtype", "typelem", "typbasetype", "typtypmod", "nspname", "format")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def _kind(oid: int, types: dict[int, dict[str, Any]]) -> tuple[str, int]:
    """(kind, resolved base oid) of a type, following domains."""
    t = types[oid]
    while t["typtype"] == "d":
        oid = t["typbasetype"]
        t = types[oid]
    if t["typtype"] == "e":
        return "enum", oid
    if t["typelem"] and t["typname"].startswith("_"):
        return "array", oid
    return KIND_OF.get(t["typname"], "other"), oid


def _columns(con, oids, by_oid, types, out: Schema) -> None:
    rows = con.execute(
        """SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid, a.atttypmod,
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attrelid, a.attnum""",
        [oids],
    ).fetchall()
    for rel, name, ftype, typid, typmod, notnull, default, ident, gen in rows:
        kind, base = _kind(typid, types)
        t = types[typid]
        col = Column(name=name, type=ftype, kind=kind, nullable=not notnull)
        if t["typtype"] == "d":
            col.domain = _key(t["nspname"], t["typname"])
            if typmod < 0:
                typmod = t["typtypmod"]
        bt = types[base]
        if kind == "enum":
            col.enum = _key(bt["nspname"], bt["typname"])
        if kind == "array":
            ekind, eoid = _kind(bt["typelem"], types)
            col.element_kind, col.element_type = ekind, types[bt["typelem"]]["format"]
            if ekind == "enum":
                col.enum = _key(types[eoid]["nspname"], types[eoid]["typname"])
            col.max_length, col.precision, col.scale = typmod_details(types[eoid]["typname"], typmod)
        else:
            col.max_length, col.precision, col.scale = typmod_details(bt["typname"], typmod)
        if gen == "s":
            col.generated = default
        else:
            col.default = default
        if ident in ("a", "d"):
            col.identity = "always" if ident == "a" else "by default"
        by_oid[rel].columns.append(col)


def _constraints(con, oids, by_oid) -> None:
    rows = con.execute(
        f"""SELECT c.conrelid, c.conname, c.contype, {_ATTNAMES.format(arr='c.conkey', rel='c.conrelid')},
                   c.confrelid, {_ATTNAMES.format(arr='c.confkey', rel='c.confrelid')},
                   c.confdeltype, c.confupdtype, c.condeferrable, c.condeferred, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.conrelid = ANY(%s) AND c.contype IN ('p', 'u', 'f', 'c') AND c.conparentid = 0
            ORDER BY c.conrelid, c.contype, c.conname""",
        [oids],
    ).fetchall()
    for rel, name, ctype, cols, fref, fcols, deltype, updtype, deferrable, deferred, defn in rows:
        t = by_oid[rel]
        if ctype == "p":
            t.primary_key, t.primary_key_name = list(cols), name
        elif ctype == "u":
            t.uniques.append(Unique(name=name, columns=list(cols)))
        elif ctype == "c":
            t.checks.append(Check(name=name, expression=_check_expr(defn), columns=list(cols)))
        elif fref in by_oid:  # FKs to tables outside the introspected schemas are left out
            t.foreign_keys.append(ForeignKey(
                name=name, columns=list(cols), ref_table=by_oid[fref].key, ref_columns=list(fcols),
                on_delete=_ACTIONS[deltype], on_update=_ACTIONS[updtype],
                deferrable=bool(deferrable), initially_deferred=bool(deferred),
            ))


def _indexes(con, oids, by_oid) -> None:
    """Unique indexes on plain columns that back no constraint -> Unique(from_index); the rest -> Index."""
    rows = con.execute(
        f"""SELECT i.indrelid, ic.relname, i.indisunique, am.amname, pg_get_indexdef(i.indexrelid),
                   pg_get_expr(i.indpred, i.indrelid), 0 = ANY(i.indkey::int2[]),
                   {_ATTNAMES.format(arr='i.indkey::int2[]', rel='i.indrelid')},
                   ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                         FROM generate_series(1, i.indnkeyatts) k)
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
            WHERE i.indrelid = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                              AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
            ORDER BY i.indrelid, ic.relname""",
        [oids],
    ).fetchall()
    for rel, name, unique, method, defn, pred, has_expr, cols, keys in rows:
        t = by_oid[rel]
        if unique and not has_expr and method == "btree":
            t.uniques.append(Unique(name=name, columns=list(cols), from_index=True, predicate=pred))
        else:
            t.indexes.append(Index(name=name, columns=list(keys), unique=bool(unique), method=method,
                                   definition=defn))


def _enums(con, schemas) -> dict[str, EnumType]:
    rows = con.execute(
        """SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
           WHERE n.nspname = ANY(%s) GROUP BY n.nspname, t.typname ORDER BY n.nspname, t.typname""",
        [schemas],
    ).fetchall()
    return {_key(n, t): EnumType(name=t, values=list(v), schema=n) for n, t, v in rows}


def _domains(con, schemas, types) -> dict[str, DomainType]:
    rows = con.execute(
        """SELECT t.oid, n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod), t.typbasetype,
                  t.typnotnull, t.typdefault
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE t.typtype = 'd' AND n.nspname = ANY(%s) ORDER BY n.nspname, t.typname""",
        [schemas],
    ).fetchall()
    checks: dict[int, list[Check]] = {}
    for oid, name, defn in con.execute(
        """SELECT contypid, conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE contypid <> 0 AND contype = 'c' ORDER BY conname"""
    ).fetchall():
        checks.setdefault(oid, []).append(Check(name=name, expression=_check_expr(defn)))
    out = {}
    for oid, nsp, name, base, base_oid, notnull, default in rows:
        out[_key(nsp, name)] = DomainType(
            name=name, base_type=base, base_kind=_kind(base_oid, types)[0], not_null=bool(notnull),
            default=default, checks=checks.get(oid, []), schema=nsp,
        )
    return out


def _sequences(con, schemas, by_oid, out: Schema) -> None:
    """Sequences of the schemas, except identity ones (re-created by GENERATED ... AS IDENTITY)."""
    rows = con.execute(
        """SELECT n.nspname, c.relname, s.seqstart, s.seqincrement, d.refobjid, a.attname, d.deptype
           FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE n.nspname = ANY(%s) ORDER BY n.nspname, c.relname""",
        [schemas],
    ).fetchall()
    for nsp, name, start, inc, owner, col, deptype in rows:
        if deptype == "i":
            continue
        t = by_oid.get(owner)
        key = _key(nsp, name)
        out.sequences[key] = Sequence(name=name, table=t.key if t else None, column=col if t else None,
                                      start=start, increment=inc, schema=nsp)
        if t is not None and col:
            t.column(col).sequence = key
    # nextval defaults on sequences a column does not own
    for t in by_oid.values():
        for c in t.columns:
            m = _NEXTVAL.match(c.default or "")
            if m and c.sequence is None:
                ref = m.group(1).replace('"', "")
                c.sequence = _key(*ref.split(".", 1)) if "." in ref else ref
