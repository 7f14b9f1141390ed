"""DuckDB types: the kind of a DuckDB type text (introspection), and the DuckDB type for a column of any
engine's schema (writing). The write-side type map is documented in adapters/duckdb.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from clavadb.schema import Column, Schema
from clavadb.sql import qident

_INT = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
        "UBIGINT", "UHUGEINT"}
_SIMPLE_KINDS = {
    "BOOLEAN": "bool", "FLOAT": "float", "REAL": "float", "DOUBLE": "float", "VARCHAR": "text",
    "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIME": "time",
    "TIME WITH TIME ZONE": "time", "TIME_NS": "time", "INTERVAL": "interval", "UUID": "uuid",
    "JSON": "json", "BLOB": "bytes",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_ARRAY = re.compile(r"^(.*)\[(\d*)\]$", re.S)


def duck_kind(type_text: str) -> str:
    """Column kind of a DuckDB type as duckdb_columns() prints it."""
    t = type_text.strip()
    if _ARRAY.match(t):
        return "array"
    if t in _INT:
        return "int"
    if t in _SIMPLE_KINDS:
        return _SIMPLE_KINDS[t]
    if t.startswith("DECIMAL"):
        return "decimal"
    if t.startswith("ENUM("):
        return "enum"
    return "other"


def element_type(type_text: str) -> str | None:
    m = _ARRAY.match(type_text.strip())
    return m.group(1) if m else None


def decimal_ps(type_text: str) -> tuple[int | None, int | None]:
    m = _DECIMAL.search(type_text)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


# Source type names (PostgreSQL spelling, lower case) that pick a narrower DuckDB type than the kind's default.
_INT_BY_NAME = {
    "smallint": "SMALLINT", "int2": "SMALLINT", "smallserial": "SMALLINT",
    "integer": "INTEGER", "int": "INTEGER", "int4": "INTEGER", "serial": "INTEGER",
    "bigint": "BIGINT", "int8": "BIGINT", "bigserial": "BIGINT",
}
_FLOAT_BY_NAME = {"real": "FLOAT", "float4": "FLOAT", "float": "FLOAT"}
_KIND_DEFAULT = {
    "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "text": "VARCHAR", "date": "DATE",
    "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "time": "TIME", "interval": "INTERVAL",
    "uuid": "UUID", "json": "JSON", "bytes": "BLOB",
}


@dataclass
class Mapped:
    """A source column as DuckDB declares it."""

    type: str
    notes: list[str] = field(default_factory=list)  # substitutions, "t.c: jsonb -> JSON"
    checks: list[str] = field(default_factory=list)  # extra column CHECK expressions (lengths, domains)
    not_null: bool = False  # from a NOT NULL domain


def _scalar(kind: str, type_text: str, col: Column, schema: Schema, enum: str | None) -> tuple[str, str | None]:
    """DuckDB type for one scalar kind, and a note when it is not a faithful equivalent."""
    low = type_text.lower().strip()
    base = re.sub(r"\(.*\)", "", low).strip()
    if schema.engine == "duckdb" and kind not in ("enum", "text"):
        return type_text.strip(), None  # same engine: the catalog text is DuckDB's own
    if kind == "int":
        if base in _INT_BY_NAME:
            return _INT_BY_NAME[base], None
        up = base.upper()
        return (up, None) if up in _INT else ("BIGINT", None)
    if kind == "float":
        return (_FLOAT_BY_NAME.get(base, "DOUBLE"), None)
    if kind == "decimal":
        p, s = col.precision, col.scale
        if p is None:
            p, s = decimal_ps(type_text.upper())
        if p is not None and p <= 38:
            return f"DECIMAL({p},{s or 0})", None
        return "DOUBLE", f"{type_text} -> DOUBLE (DuckDB DECIMAL holds at most 38 digits)"
    if kind == "enum":
        name = enum or col.enum
        if name and name in schema.enums:
            return qident(schema.enums[name].name), None
        return "VARCHAR", f"{type_text} -> VARCHAR (enum type unknown)"
    if kind == "json":
        return "JSON", (f"{type_text} -> JSON" if base == "jsonb" else None)
    if kind == "time" and ("with time zone" in low or base == "timetz"):
        return "TIMETZ", None
    if kind in _KIND_DEFAULT:
        return _KIND_DEFAULT[kind], None
    return "VARCHAR", f"{type_text} -> VARCHAR (no DuckDB equivalent)"


def map_column(table_key: str, col: Column, schema: Schema) -> Mapped:
    """DuckDB declaration of `col` (from a schema of any engine)."""
    where = f"{table_key}.{col.name}"
    out = Mapped(type="VARCHAR")
    kind, type_text = col.kind, col.type
    domain = schema.domains.get(col.domain) if col.domain else None
    if domain is not None:
        type_text, kind = domain.base_type, domain.base_kind
        out.notes.append(f"{where}: domain {domain.name} -> {domain.base_type} with its CHECKs inlined")
        out.not_null = domain.not_null
        for chk in domain.checks:
            out.checks.append(re.sub(r"\bVALUE\b", qident(col.name), chk.expression, flags=re.I))
    if kind == "array":
        el_kind = col.element_kind or "other"
        el_type = col.element_type or (element_type(type_text) or "text")
        t, note = _scalar(el_kind, el_type, col, schema, col.enum if el_kind == "enum" else None)
        out.type = f"{t}[]"
        if note:
            out.notes.append(f"{where}: array of {note}")
    else:
        out.type, note = _scalar(kind, type_text, col, schema, col.enum)
        if note:
            out.notes.append(f"{where}: {note}")
    if kind == "text" and col.max_length is not None and out.type == "VARCHAR":
        # DuckDB's catalog drops VARCHAR(n); a CHECK keeps the limit enforced (and introspects back to n).
        out.checks.append(f"length({qident(col.name)}) <= {int(col.max_length)}")
        if schema.engine != "duckdb":
            out.notes.append(f"{where}: {col.type} -> VARCHAR + CHECK (length <= {col.max_length})")
    return out


_LEN_CHECK = re.compile(r'^\(*\s*length\(("(?:[^"]|"")+"|\w+)\)\s*<=\s*(\d+)\s*\)*$', re.I)


def length_check(expression: str) -> tuple[str, int] | None:
    """(column, n) when a CHECK is exactly `length(col) <= n`, the form VARCHAR(n) is written as."""
    m = _LEN_CHECK.match(expression.strip())
    if not m:
        return None
    name = m.group(1)
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    return name, int(m.group(2))


# ISO 8601 durations as PostgreSQL prints intervals with intervalstyle iso_8601 (a sign per field).
_ISO_PARTS = ["y", "mo", "d", "h", "mi", "s"]
_ISO_RE = r"^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?$"


def cast_expr(name: str, source: pa.DataType, target: str, lenient: bool = False) -> str:
    """SQL casting an Arrow column to its DuckDB type; ISO 8601 interval strings are parsed here.
    lenient: TRY_CAST (a value that does not convert becomes NULL)."""
    col = qident(name)
    cast = "TRY_CAST" if lenient else "CAST"
    if target == "INTERVAL" and (pa.types.is_string(source) or pa.types.is_large_string(source)):
        p = f"regexp_extract({col}, '{_ISO_RE}', {_ISO_PARTS})"
        f = {k: f"coalesce(TRY_CAST(nullif({p}.{k}, '') AS DOUBLE), 0)" for k in _ISO_PARTS}
        iso = (f"to_months(CAST({f['y']} * 12 + {f['mo']} AS INTEGER)) + to_days(CAST({f['d']} AS INTEGER)) + "
               f"to_microseconds(CAST(round(({f['h']} * 3600 + {f['mi']} * 60 + {f['s']}) * 1e6) AS BIGINT))")
        return f"CASE WHEN {col} LIKE 'P%' THEN {iso} ELSE {cast}({col} AS INTERVAL) END"
    return f"{cast}({col} AS {target})"


def iso_interval_sql(col: str) -> str:
    """SQL rendering a DuckDB INTERVAL as ISO 8601 text, the form the PostgreSQL adapter reads intervals in
    (intervalstyle iso_8601: a sign per field, zero fields left out, PT0S for zero)."""
    c = qident(col)
    secs = f"rtrim(rtrim(printf('%.6f', datepart('microseconds', {c}) / 1e6), '0'), '.')"
    fields = [(f"datepart('{p}', {c})", u) for p, u in (("year", "Y"), ("month", "M"), ("day", "D"))]
    times = [(f"datepart('hour', {c})", "H"), (f"datepart('minute', {c})", "M")]

    def part(value: str, unit: str, text: str | None = None) -> str:
        return f"CASE WHEN {value} <> 0 THEN {text or value} || '{unit}' ELSE '' END"

    date = " || ".join(part(v, u) for v, u in fields)
    time = " || ".join([part(v, u) for v, u in times] + [part(f"datepart('microseconds', {c})", "S", secs)])
    return (f"CASE WHEN {c} IS NULL THEN NULL WHEN {c} = INTERVAL 0 SECONDS THEN 'PT0S' "
            f"ELSE 'P' || {date} || CASE WHEN {time} <> '' THEN 'T' || {time} ELSE '' END END")
