"""PostgreSQL types: catalog type -> Column.kind, Column -> Arrow type, and Column -> PostgreSQL DDL type.

Reading (PostgreSQL -> Arrow), chosen so values survive a round trip through COPY:

| PostgreSQL                         | kind        | Arrow                                      |
|------------------------------------|-------------|--------------------------------------------|
| smallint / integer / bigint        | int         | int16 / int32 / int64                      |
| real / double precision            | float       | float32 / float64                          |
| numeric(p,s), p <= 38, 0 <= s <= p | decimal     | decimal128(p, s)                           |
| numeric (no typmod, or p > 38)     | decimal     | float64 (NaN kept; > 15 digits rounded)    |
| boolean                            | bool        | bool                                       |
| text, varchar(n), char(n), name    | text        | string                                     |
| date                               | date        | date32                                     |
| timestamp                          | timestamp   | timestamp[us]                              |
| timestamptz                        | timestamptz | timestamp[us, UTC]                         |
| time                               | time        | time64[us]                                 |
| interval                           | interval    | string, ISO 8601 ("P1Y2M3DT4H5M6S")        |
| uuid, json, jsonb, enum            | ...         | string                                     |
| bytea                              | bytes       | binary                                     |
| T[] (one dimension)                | array       | list<int*/float*/bool/string> (others: string elements) |
| anything else (money, inet, ...)   | other       | string (PostgreSQL text form)              |
A domain column has the kind and Arrow type of its base type.

Writing a schema of another engine (DuckDB) here: the type is rendered from Column.kind and its
length / precision / scale / element kind, never copied from the source's type text:

| DuckDB kind / type               | PostgreSQL                    | substitution reported |
|----------------------------------|-------------------------------|-----------------------|
| int TINYINT, SMALLINT, UTINYINT  | smallint                      | TINYINT, UTINYINT     |
| int INTEGER, USMALLINT           | integer                       | USMALLINT             |
| int BIGINT, UINTEGER             | bigint                        | UINTEGER              |
| int HUGEINT / UBIGINT / UHUGEINT | numeric(39,0) / (20,0) / (39,0) | yes                 |
| float FLOAT / DOUBLE             | real / double precision       |                       |
| decimal DECIMAL(p,s)             | numeric(p,s)                  |                       |
| bool                             | boolean                       |                       |
| text VARCHAR(n) / VARCHAR        | varchar(n) / text             |                       |
| date, time, interval, uuid       | same                          |                       |
| time TIME WITH TIME ZONE         | time with time zone           |                       |
| timestamp (_S, _MS, _NS)         | timestamp (microseconds)      | _S, _MS, _NS          |
| timestamptz                      | timestamptz                   |                       |
| json                             | json                          |                       |
| bytes BLOB                       | bytea                         |                       |
| enum                             | the enum type, created here   | text when undeclared  |
| array T[] / LIST                 | element type []               |                       |
| other (STRUCT, MAP, UNION, BIT)  | text                          | yes                   |
"""

from __future__ import annotations

import re

import pyarrow as pa

from clavadb.schema import Column, Schema
from clavadb.sql import qident

# pg_type.typname of a base type -> kind
KIND_OF = {
    "int2": "int", "int4": "int", "int8": "int",
    "float4": "float", "float8": "float",
    "numeric": "decimal",
    "bool": "bool",
    "text": "text", "varchar": "text", "bpchar": "text", "name": "text", "citext": "text",
    "date": "date",
    "timestamp": "timestamp", "timestamptz": "timestamptz",
    "time": "time",
    "interval": "interval",
    "uuid": "uuid",
    "json": "json", "jsonb": "json",
    "bytea": "bytes",
}

_INT_ARROW = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}
_INT_BY_TYPE = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64()}
_SIMPLE_ARROW = {
    "bool": pa.bool_(), "text": pa.string(), "date": pa.date32(), "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", "UTC"), "time": pa.time64("us"), "interval": pa.string(),
    "uuid": pa.string(), "json": pa.string(), "bytes": pa.binary(), "enum": pa.string(), "other": pa.string(),
}
# Array elements that the JSON reader turns into typed lists; the rest arrive as strings.
_ELEMENT_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def base_type_text(col: Column, schema: Schema | None) -> str:
    """The type text of the column, or of its domain's base type."""
    if col.domain and schema is not None and col.domain in schema.domains:
        return schema.domains[col.domain].base_type
    return col.type


def arrow_type(col: Column, schema: Schema | None = None) -> pa.DataType:
    """Arrow type read_batches produces for a column introspected from PostgreSQL."""
    kind = col.kind
    if kind == "int":
        t = base_type_text(col, schema).lower()
        return _INT_BY_TYPE.get(t, pa.int64())
    if kind == "float":
        return pa.float32() if base_type_text(col, schema).lower() == "real" else pa.float64()
    if kind == "decimal":
        p, s = col.precision, col.scale
        if p is not None and p <= 38 and s is not None and 0 <= s <= p:
            return pa.decimal128(p, s)
        return pa.float64()
    if kind == "array":
        return pa.list_(_ELEMENT_ARROW.get(col.element_kind or "", pa.string()))
    return _SIMPLE_ARROW.get(kind, pa.string())


def typmod_details(typname: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """(max_length, precision, scale) from a type modifier."""
    if typmod is None or typmod < 0:
        return None, None, None
    if typname in ("varchar", "bpchar"):
        return typmod - 4, None, None
    if typname == "numeric":
        m = typmod - 4
        scale = m & 0xFFFF
        if scale >= 0x8000:  # negative scale (PostgreSQL 15+)
            scale -= 0x10000
        return None, (m >> 16) & 0xFFFF, scale
    return None, None, None


# ---- cross-engine DDL ------------------------------------------------------------------------------

_DUCK_INT = {
    "tinyint": ("smallint", True), "int1": ("smallint", True), "smallint": ("smallint", False),
    "int2": ("smallint", False), "utinyint": ("smallint", True), "integer": ("integer", False),
    "int4": ("integer", False), "int": ("integer", False), "usmallint": ("integer", True),
    "bigint": ("bigint", False), "int8": ("bigint", False), "uinteger": ("bigint", True),
    "hugeint": ("numeric(39,0)", True), "int128": ("numeric(39,0)", True),
    "ubigint": ("numeric(20,0)", True), "uhugeint": ("numeric(39,0)", True),
}
_KIND_DDL = {
    "bool": "boolean", "date": "date", "timestamptz": "timestamptz", "time": "time", "interval": "interval",
    "uuid": "uuid", "json": "json", "bytes": "bytea", "timestamp": "timestamp",
}


def qualified(name: str, default_schema: str = "public") -> str:
    """Quote a key "name" or "schema.name" (DuckDB's main maps to public)."""
    if "." in name:
        sch, bare = name.split(".", 1)
        return f"{qident(sch)}.{qident(bare)}"
    return f"{qident(default_schema)}.{qident(name)}"


def render_type(col: Column, schema: Schema, subs: list[str], where: str) -> str:
    """PostgreSQL type for a column of a schema from another engine; appends to subs what was changed."""
    if col.kind == "array":
        elem = Column(col.name, col.element_type or "", col.element_kind or "text", enum=col.enum,
                      max_length=col.max_length, precision=col.precision, scale=col.scale)
        return _render_scalar(elem, schema, subs, where, col.element_type or "") + "[]"
    return _render_scalar(col, schema, subs, where, col.type)


def _render_scalar(col: Column, schema: Schema, subs: list[str], where: str, src: str) -> str:
    kind, low = col.kind, (src or "").lower().strip()
    out: str
    if kind == "int":
        out, changed = _DUCK_INT.get(low, ("bigint", low not in ("", "bigint")))
        if changed:
            subs.append(f"{where}: {src} -> {out}")
        return out
    if kind == "float":
        return "real" if low in ("float", "float4", "real") else "double precision"
    if kind == "decimal":
        if col.precision:
            return f"numeric({col.precision},{col.scale or 0})"
        return "numeric"
    if kind == "text":
        return f"varchar({col.max_length})" if col.max_length else "text"
    if kind == "enum":
        if col.enum and col.enum in schema.enums:
            return qualified(col.enum)
        subs.append(f"{where}: {src} -> text")
        return "text"
    if kind == "time" and ("time zone" in low or low == "timetz"):
        return "time with time zone"
    if kind in _KIND_DDL:
        out = _KIND_DDL[kind]
        if kind == "timestamp" and re.search(r"_(s|ms|ns)\b", low):
            subs.append(f"{where}: {src} -> timestamp")
        return out
    subs.append(f"{where}: {src or kind} -> text")
    return "text"


_LITERAL = re.compile(r"^\s*(-?\d+(\.\d+)?|'([^']|'')*'|true|false|null)\s*$", re.IGNORECASE)
_CAST_LITERAL = re.compile(r"^\s*CAST\(('(?:[^']|'')*'|-?\d+(?:\.\d+)?) AS [A-Za-z ]+\)\s*$", re.IGNORECASE)


def simple_default(expr: str | None) -> str | None:
    """A default of another engine, kept only when it is a plain literal."""
    if not expr:
        return None
    if _LITERAL.match(expr):
        return expr.strip()
    m = _CAST_LITERAL.match(expr)
    return m.group(1) if m else None
