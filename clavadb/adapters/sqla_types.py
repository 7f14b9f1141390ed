"""Types of the SQLAlchemy adapter: the kind of a reflected column, its Arrow type, and the SQLAlchemy type
a column of any engine's schema is declared with in the destination dialect.

Reading: the kind comes from the declared type name first (SQLite keeps it verbatim, and SQLAlchemy's own
reflection of SQLite falls back on type affinity, which reads `UUID` as NUMERIC), then from the class of
the type SQLAlchemy reflected. Each kind has one Arrow type, the one the PostgreSQL adapter reads it as,
except integers (int64: SQLite's INTEGER holds 64 bits whatever its declared name):

| kind                       | Arrow                    |
|----------------------------|--------------------------|
| int / float                | int64 / float64          |
| decimal numeric(p,s) p<=38 | decimal128(p,s), float64 otherwise |
| bool, date, time, bytes    | bool, date32, time64[us], binary |
| timestamp / timestamptz    | timestamp[us] / timestamp[us, UTC] |
| text, uuid, json, interval, enum, other | string      |

Writing (`declare`), from the column's kind, never from another engine's type text:

| kind                       | SQLite                         | MySQL / MariaDB           | reported |
|----------------------------|--------------------------------|---------------------------|----------|
| int                        | SMALLINT / INTEGER / BIGINT    | same                      |          |
| float                      | FLOAT / DOUBLE                 | same                      |          |
| decimal numeric(p,s)       | NUMERIC(p,s) (stored as REAL)  | DECIMAL(p,s)              | p > 15 on SQLite |
| bool, date, time, bytes    | BOOLEAN, DATE, TIME, BLOB      | BOOL, DATE, TIME(6), BLOB |          |
| timestamp                  | DATETIME                       | DATETIME(6)               |          |
| timestamptz                | TIMESTAMPTZ (UTC)              | DATETIME(6) (UTC)         | MySQL    |
| text, varchar(n)           | TEXT, VARCHAR(n) + CHECK (length(c) <= n) | TEXT, VARCHAR(n) | n on SQLite |
| uuid                       | UUID (text)                    | CHAR(36)                  | MySQL    |
| json                       | JSON (text)                    | JSON                      |          |
| interval                   | INTERVAL (ISO 8601 text)       | VARCHAR(64) (ISO 8601)    | yes      |
| enum                       | VARCHAR + CHECK (c IN (...))   | same                      | yes      |
| array                      | TEXT holding JSON              | same                      | yes      |
| other (money, inet, ...)   | TEXT                           | same                      | yes      |

A domain column is declared with its base type, its NOT NULL and its CHECKs inlined. In MySQL a TEXT column
in a key or an index becomes VARCHAR(255) (MySQL cannot index TEXT without a prefix length), reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from clavadb.schema import Column, Schema
from clavadb.sql import qident, qliteral

# Declared type names (lower case, without parameters) -> kind; checked before SQLAlchemy's type class.
_NAME_KINDS = {
    "uuid": "uuid", "json": "json", "jsonb": "json", "interval": "interval",
    "bool": "bool", "boolean": "bool",
    "date": "date", "time": "time", "time without time zone": "time", "time with time zone": "time",
    "timetz": "time",
    "timestamp": "timestamp", "datetime": "timestamp", "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    "bytea": "bytes", "blob": "bytes", "binary": "bytes", "varbinary": "bytes", "longblob": "bytes",
    "mediumblob": "bytes", "tinyblob": "bytes",
    "numeric": "decimal", "decimal": "decimal",
    "real": "float", "float": "float", "double": "float", "double precision": "float", "float4": "float",
    "float8": "float",
}
# SQLAlchemy type classes -> kind, most specific first (Float is a Numeric, DateTime is not a Date).
_CLASS_KINDS: list[tuple[type, str]] = [
    (sa.Boolean, "bool"), (sa.Integer, "int"), (sa.Float, "float"), (sa.Numeric, "decimal"),
    (sa.DateTime, "timestamp"), (sa.Date, "date"), (sa.Time, "time"), (sa.Interval, "interval"),
    (sa.Uuid, "uuid"), (sa.JSON, "json"), (sa.Enum, "text"), (sa.String, "text"), (sa.LargeBinary, "bytes"),
    (sa.types._Binary, "bytes"),
]
_SIMPLE_ARROW = {
    "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "date": pa.date32(),
    "time": pa.time64("us"), "bytes": pa.binary(), "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", "UTC"),
}
_PARAMS = re.compile(r"\(.*\)")
# MySQL indexes at most 3072 bytes of a key; 255 characters of utf8mb4 (4 bytes each) fit several to a key.
MYSQL_KEY_VARCHAR = 255


def base_name(type_text: str) -> str:
    """`VARCHAR(40)` -> `varchar`, `timestamp(3) with time zone` -> `timestamp with time zone`."""
    return re.sub(r"\s+", " ", _PARAMS.sub("", type_text.lower())).strip()


def reflected_kind(type_text: str, sa_type: sa.types.TypeEngine) -> str:
    """Kind of a reflected column from its declared type name and the type SQLAlchemy reflected."""
    name = base_name(type_text)
    if name.endswith("[]"):
        return "other"  # no array type outside PostgreSQL and DuckDB; read as text
    if name in _NAME_KINDS:
        return _NAME_KINDS[name]
    if "unsigned" in name and "int" in name:
        return "int"
    for cls, kind in _CLASS_KINDS:
        if isinstance(sa_type, cls):
            return kind
    # SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1) for names SQLAlchemy does not know
    if "int" in name:
        return "int"
    if any(s in name for s in ("char", "clob", "text")):
        return "text"
    return "other"


def arrow_type(col: Column) -> pa.DataType:
    """Arrow type that read_batches produces for a reflected column."""
    if col.kind == "decimal":
        p, s = col.precision, col.scale
        if p is not None and p <= 38 and s is not None and 0 <= s <= p:
            return pa.decimal128(p, s)
        return pa.float64()
    return _SIMPLE_ARROW.get(col.kind, pa.string())


class Declared(sa.types.UserDefinedType):
    """A column type written with a given name and passed to the driver as it is (text)."""

    cache_ok = True

    def __init__(self, name: str):
        self.name = name

    def get_col_spec(self, **kw) -> str:
        return self.name


class TimestampTZ(sa.types.TypeDecorator):
    """A UTC timestamp: SQLAlchemy's DateTime, declared TIMESTAMPTZ in SQLite so the kind reflects back."""

    impl = sa.DateTime
    cache_ok = True


@compiles(TimestampTZ, "sqlite")
def _timestamptz_sqlite(element, compiler, **kw) -> str:
    return "TIMESTAMPTZ"


@compiles(TimestampTZ)
def _timestamptz_default(element, compiler, **kw) -> str:
    return compiler.process(sa.DateTime(), **kw)


_INT_BY_NAME = {
    "smallint": sa.SmallInteger, "int2": sa.SmallInteger, "smallserial": sa.SmallInteger,
    "tinyint": sa.SmallInteger, "utinyint": sa.SmallInteger,
    "bigint": sa.BigInteger, "int8": sa.BigInteger, "bigserial": sa.BigInteger, "hugeint": sa.BigInteger,
    "ubigint": sa.BigInteger, "uinteger": sa.BigInteger,
}
# The largest number of significant digits a double (SQLite's REAL) holds exactly.
_REAL_DIGITS = 15


@dataclass
class Declaration:
    """A column as the destination declares it."""

    type: sa.types.TypeEngine
    checks: list[str] = field(default_factory=list)  # column CHECKs in the destination's SQL
    not_null: bool = False  # from a NOT NULL domain
    notes: list[str] = field(default_factory=list)  # "t.c: jsonb -> JSON"
    as_json: bool = False  # an array, written as JSON text


def declare(table_key: str, col: Column, schema: Schema, dialect: str, keyed: bool) -> Declaration:
    """The destination type of `col` (from a schema of any engine) in `dialect` ("sqlite", "mysql", ...).
    keyed: the column is in a key, a UNIQUE or an index (MySQL cannot index TEXT)."""
    where = f"{table_key}.{col.name}"
    kind, type_text = col.kind, col.type
    out = Declaration(type=sa.Text())
    domain = schema.domains.get(col.domain) if col.domain else None
    if domain is not None:
        kind, type_text = domain.base_kind, domain.base_type
        out.not_null = domain.not_null
        out.checks += [re.sub(r"\bVALUE\b", qident(col.name), c.expression, flags=re.I) for c in domain.checks]
        out.notes.append(f"{where}: domain {domain.name} -> {domain.base_type} with its CHECKs inlined")
    mysql = dialect in ("mysql", "mariadb")
    name = base_name(type_text)
    if kind == "int":
        out.type = _INT_BY_NAME.get(name, sa.Integer)()
    elif kind == "float":
        out.type = sa.Float() if name in ("real", "float4", "float") else sa.Double()
    elif kind == "decimal":
        p, s = col.precision, col.scale
        out.type = sa.Numeric(p, s or 0) if p else sa.Numeric()
        if dialect == "sqlite" and (p is None or p > _REAL_DIGITS):
            out.notes.append(f"{where}: {type_text} -> NUMERIC (SQLite stores it as REAL: 15 significant digits)")
    elif kind == "bool":
        out.type = sa.Boolean()
    elif kind == "date":
        out.type = sa.Date()
    elif kind == "time":
        out.type = sa.dialects.mysql.TIME(fsp=6) if mysql else sa.Time()
    elif kind == "timestamp":
        out.type = sa.dialects.mysql.DATETIME(fsp=6) if mysql else sa.DateTime()
    elif kind == "timestamptz":
        out.type = sa.dialects.mysql.DATETIME(fsp=6) if mysql else TimestampTZ()
        if mysql:
            out.notes.append(f"{where}: {type_text} -> DATETIME(6) (UTC)")
    elif kind == "text":
        out.type = sa.String(col.max_length) if col.max_length else sa.Text()
        if dialect == "sqlite" and col.max_length:
            out.checks.append(f"length({qident(col.name)}) <= {int(col.max_length)}")
            out.notes.append(f"{where}: {type_text} -> VARCHAR({col.max_length}) + CHECK (length <= "
                             f"{col.max_length}) (SQLite does not enforce lengths)")
    elif kind == "uuid":
        out.type = sa.CHAR(36) if mysql else Declared("UUID")
        if mysql:
            out.notes.append(f"{where}: {type_text} -> CHAR(36)")
    elif kind == "json":
        out.type = Declared("JSON")
        if name == "jsonb":
            out.notes.append(f"{where}: jsonb -> JSON")
    elif kind == "bytes":
        out.type = sa.LargeBinary()
    elif kind == "interval":
        out.type = sa.String(64) if mysql else Declared("INTERVAL")
        out.notes.append(f"{where}: {type_text} -> {'VARCHAR(64)' if mysql else 'INTERVAL'} (ISO 8601 text)")
    elif kind == "enum" and col.enum in schema.enums:
        labels = schema.enums[col.enum].values
        out.type = sa.String(max((len(v) for v in labels), default=1))
        out.checks.append(f"{qident(col.name)} IN ({', '.join(qliteral(v) for v in labels)})")
        out.notes.append(f"{where}: enum {col.enum} -> VARCHAR + CHECK (IN its labels)")
    elif kind == "array":
        out.as_json = True
        out.notes.append(f"{where}: {type_text} -> TEXT (JSON)")
    else:
        out.notes.append(f"{where}: {type_text or kind} -> TEXT (no {dialect} equivalent)")
    if mysql and keyed and isinstance(out.type, sa.Text):
        out.type = sa.String(MYSQL_KEY_VARCHAR)
        out.notes.append(f"{where}: TEXT in a key or index -> VARCHAR({MYSQL_KEY_VARCHAR})")
    return out


def read_type(col: Column) -> sa.types.TypeEngine:
    """The type a SELECT reads `col` with: SQLAlchemy's result processing per kind (SQLite's dates are text),
    nothing for the kinds read as text."""
    if col.kind == "decimal":
        return sa.Numeric(col.precision, col.scale, asdecimal=arrow_type(col) != pa.float64())
    return {
        "int": sa.BigInteger(), "float": sa.Double(), "bool": sa.Boolean(), "date": sa.Date(),
        "time": sa.Time(), "timestamp": sa.DateTime(), "timestamptz": sa.DateTime(), "bytes": sa.LargeBinary(),
    }.get(col.kind, Declared("TEXT"))
