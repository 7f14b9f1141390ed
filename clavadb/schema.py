"""The schema model shared by every part of clavadb: tables, columns, keys, constraints, and the FK graph.

Adapters fill it from a live catalog; the model, the key generator and the destination writer read it.
Plain dataclasses with a JSON round-trip so a trained model file can carry the schema it was fit on.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx

from clavadb.sql import qident

# Logical column kinds, independent of the engine. The exact engine type stays in Column.type.
KINDS = (
    "int",  # smallint, integer, bigint, hugeint, unsigned ints
    "float",  # real, double
    "decimal",  # numeric(p,s)
    "bool",
    "text",  # text, varchar(n), char(n)
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "interval",
    "uuid",
    "json",
    "bytes",
    "enum",
    "array",
    "other",
)
# Groups of kinds, one definition each (what a module does with a column depends on its group):
NUMBER_KINDS = ("int", "float", "decimal")  # hold a number: quantile codec, numeric range, integer-like keys
DATETIME_KINDS = ("date", "timestamp", "timestamptz")  # a point in time: ranges kept as ISO text, clipped
TEMPORAL_KINDS = (*DATETIME_KINDS, "time")  # time-like kinds the encoder codes as ticks
ORDERED_KINDS = (*NUMBER_KINDS, *TEMPORAL_KINDS, "interval")  # compared as numbers (ranges, KS, correlation)
LABEL_KINDS = ("text", "enum")  # categories by their label


@dataclass
class Column:
    name: str
    type: str  # exact type as the source engine prints it, e.g. "numeric(10,2)", "character varying(40)"
    kind: str  # one of KINDS
    nullable: bool = True
    default: str | None = None  # SQL expression, engine dialect of Schema.engine
    identity: str | None = None  # "always" | "by default" for identity columns
    sequence: str | None = None  # sequence that feeds the column (serial / nextval default)
    generated: str | None = None  # expression of a GENERATED ALWAYS AS (...) STORED column
    max_length: int | None = None  # varchar(n) / char(n)
    precision: int | None = None  # numeric(p, s)
    scale: int | None = None
    enum: str | None = None  # name of the enum type (kind == "enum", or array of enum)
    domain: str | None = None  # name of the domain the column is declared with
    element_kind: str | None = None  # kind of array elements (kind == "array")
    element_type: str | None = None  # exact element type of arrays


@dataclass
class ForeignKey:
    name: str
    columns: list[str]
    ref_table: str  # Table.key of the referenced table
    ref_columns: list[str]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass
class Unique:
    name: str
    columns: list[str]
    from_index: bool = False  # a unique index rather than a UNIQUE constraint
    predicate: str | None = None  # partial unique index WHERE clause


@dataclass
class Check:
    name: str
    expression: str  # the boolean SQL expression, without the CHECK keyword
    columns: list[str] = field(default_factory=list)  # columns it mentions, where known


@dataclass
class Index:
    name: str
    columns: list[str]  # column names, or expressions as written
    unique: bool = False
    method: str | None = None  # btree, gin, ... (PostgreSQL)
    definition: str | None = None  # full CREATE INDEX statement of the source, same engine only


@dataclass
class Table:
    name: str
    schema: str = "public"
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    primary_key_name: str | None = None
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    uniques: list[Unique] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    row_count: int = 0
    partitioned: bool = False

    @property
    def key(self) -> str:
        """Name the rest of clavadb uses for this table: bare in the default schema, qualified elsewhere."""
        return self.name if self.schema in DEFAULT_SCHEMAS else f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.key} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def fk_columns(self) -> set[str]:
        return {c for fk in self.foreign_keys for c in fk.columns}


@dataclass
class EnumType:
    name: str
    values: list[str]
    schema: str = "public"


@dataclass
class DomainType:
    name: str
    base_type: str
    base_kind: str
    not_null: bool = False
    default: str | None = None
    checks: list[Check] = field(default_factory=list)
    schema: str = "public"


@dataclass
class Sequence:
    name: str
    table: str | None = None  # Table.key of the owning table
    column: str | None = None
    start: int = 1
    increment: int = 1
    schema: str = "public"


DEFAULT_SCHEMAS = ("public", "main")


@dataclass
class Schema:
    engine: str  # "postgresql" | "duckdb"
    tables: dict[str, Table] = field(default_factory=dict)  # by Table.key, in catalog order
    enums: dict[str, EnumType] = field(default_factory=dict)
    domains: dict[str, DomainType] = field(default_factory=dict)
    sequences: dict[str, Sequence] = field(default_factory=dict)
    schemas: list[str] = field(default_factory=lambda: ["public"])

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        tables = {}
        for k, t in d.get("tables", {}).items():
            tables[k] = Table(
                **{
                    **t,
                    "columns": [Column(**c) for c in t.get("columns", [])],
                    "foreign_keys": [ForeignKey(**f) for f in t.get("foreign_keys", [])],
                    "uniques": [Unique(**u) for u in t.get("uniques", [])],
                    "checks": [Check(**c) for c in t.get("checks", [])],
                    "indexes": [Index(**i) for i in t.get("indexes", [])],
                }
            )
        domains = {
            k: DomainType(**{**v, "checks": [Check(**c) for c in v.get("checks", [])]})
            for k, v in d.get("domains", {}).items()
        }
        return cls(
            engine=d["engine"],
            tables=tables,
            enums={k: EnumType(**v) for k, v in d.get("enums", {}).items()},
            domains=domains,
            sequences={k: Sequence(**v) for k, v in d.get("sequences", {}).items()},
            schemas=list(d.get("schemas", ["public"])),
        )

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))

    # -- helpers ----------------------------------------------------------------------------------
    def table(self, key: str) -> Table:
        try:
            return self.tables[key]
        except KeyError:
            raise KeyError(f"no table {key!r} in the schema") from None

    def foreign_keys(self) -> list[tuple[str, ForeignKey]]:
        """Every FK as (child table key, fk), in catalog order."""
        return [(t.key, fk) for t in self.tables.values() for fk in t.foreign_keys]

    def subset(self, keys: list[str] | set[str]) -> Schema:
        """The schema restricted to these tables; FKs to tables left out are dropped."""
        keep = set(keys)
        tables = {}
        for k, t in self.tables.items():
            if k not in keep:
                continue
            t2 = Table(**{**t.__dict__})
            t2.foreign_keys = [fk for fk in t.foreign_keys if fk.ref_table in keep]
            tables[k] = t2
        return Schema(
            engine=self.engine,
            tables=tables,
            enums=dict(self.enums),
            domains=dict(self.domains),
            sequences={k: s for k, s in self.sequences.items() if s.table is None or s.table in keep},
            schemas=list(self.schemas),
        )

    def graph(self) -> FKGraph:
        return FKGraph(self)


class FKGraph:
    """The FK graph: an edge parent -> child per foreign key (several edges between two tables allowed).

    Cycles and self-references are found here and broken by choosing "deferred" edges: the rows of a
    deferred edge's child are generated (or loaded) before its parent is known, and the FK value is
    filled afterwards (an UPDATE for a nullable column, a constraint added after the rows otherwise).
    """

    def __init__(self, schema: Schema):
        self.schema = schema
        g = nx.MultiDiGraph()
        g.add_nodes_from(schema.tables)
        for child, fk in schema.foreign_keys():
            if fk.ref_table in schema.tables:
                g.add_edge(fk.ref_table, child, key=fk.name, fk=fk)
        self.g = g
        self.deferred: list[tuple[str, str, str]] = self._choose_deferred()
        dag = nx.MultiDiGraph(g)
        dag.remove_edges_from(self.deferred)
        self.dag = dag

    # (parent, child, fk name) triples
    def edges(self, include_deferred: bool = False) -> list[tuple[str, str, ForeignKey]]:
        g = self.g if include_deferred else self.dag
        return [(p, c, d["fk"]) for p, c, d in g.edges(data=True)]

    def self_references(self) -> list[tuple[str, ForeignKey]]:
        return [(c, d["fk"]) for p, c, d in self.g.edges(data=True) if p == c]

    def cycles(self) -> list[list[str]]:
        """Cycles among distinct tables (self-references are listed by self_references)."""
        simple = nx.DiGraph((p, c) for p, c in self.g.edges() if p != c)
        return [sorted(c) for c in nx.simple_cycles(simple)]

    def _choose_deferred(self) -> list[tuple[str, str, str]]:
        """Edges to remove so the rest is a DAG: self-references, then per cycle one edge,
        preferring one whose FK columns are all nullable (it can be filled by a later UPDATE)."""
        deferred = [(p, c, k) for p, c, k in self.g.edges(keys=True) if p == c]
        work = nx.MultiDiGraph(self.g)
        work.remove_edges_from(deferred)
        while True:
            try:
                cycle = nx.find_cycle(work)
            except nx.NetworkXNoCycle:
                break

            def cost(edge: tuple[str, str, str]) -> tuple[int, str]:
                p, c, k = edge
                fk = work.edges[p, c, k]["fk"]
                table = self.schema.tables[c]
                nullable = all(table.column(col).nullable for col in fk.columns)
                return (0 if nullable else 1, f"{c}.{k}")

            edge = min(((p, c, k) for p, c, k in cycle), key=cost)
            deferred.append(edge)
            work.remove_edge(*edge)
        return deferred

    def is_deferred(self, child: str, fk_name: str) -> bool:
        return any(c == child and k == fk_name for _, c, k in self.deferred)

    def top_down(self) -> list[str]:
        """Parents before children (deferred edges ignored), ties broken by catalog order."""
        order = list(self.schema.tables)
        return list(nx.lexicographical_topological_sort(self.dag, key=order.index))

    def bottom_up(self) -> list[str]:
        return list(reversed(self.top_down()))

    def parents(self, table: str) -> list[tuple[str, ForeignKey]]:
        """Non-deferred parents of a table, one entry per FK (two FKs to one table are two parents)."""
        return [(p, d["fk"]) for p, _, d in self.dag.in_edges(table, data=True)]

    def children(self, table: str) -> list[tuple[str, ForeignKey]]:
        return [(c, d["fk"]) for _, c, d in self.dag.out_edges(table, data=True)]

    def roots(self) -> list[str]:
        return [t for t in self.top_down() if self.dag.in_degree(t) == 0]

    def descendants(self, table: str) -> set[str]:
        return nx.descendants(self.g, table)


def check_expressions(schema: Schema | None, table: Table) -> list[tuple[str, str]]:
    """The CHECKs rows of `table` must pass, as (name, boolean SQL in `schema.engine`'s dialect): the
    table's own, then those of the domains its columns are declared with, named "<column>.<check>" and
    with VALUE replaced by the column (a domain CHECK constrains that column). Without a schema the
    domains are unknown: only the table's own."""
    out = [(c.name, c.expression) for c in table.checks]
    for col in table.columns:
        dom = schema.domains.get(col.domain) if schema is not None and col.domain else None
        for chk in dom.checks if dom else []:
            out.append((f"{col.name}.{chk.name}",
                        re.sub(r"\bVALUE\b", qident(col.name), chk.expression, flags=re.IGNORECASE)))
    return out
