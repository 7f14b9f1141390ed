"""Constraint validity of a database held as workspace views: each declared constraint checked in SQL.

Counts follow SQL semantics: a CHECK is violated only when its expression is FALSE (NULL passes), an FK
is checked only when all its columns are non-NULL (MATCH SIMPLE), UNIQUE treats NULLs as distinct.
NOT NULL is counted on non-key columns (NULLs in the primary key are counted as pk_nulls).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from clavadb.schema import Schema, Table
from clavadb.sql import qident
from clavadb.workspace import QueryError, Workspace


@dataclass
class TableValidity:
    rows: int = 0
    pk_duplicates: int = 0  # rows beyond the first of each duplicated key
    pk_nulls: int = 0
    fk_orphans: dict[str, int] = field(default_factory=dict)  # by FK name
    unique_duplicates: dict[str, int] = field(default_factory=dict)  # by constraint name
    not_null: dict[str, int] = field(default_factory=dict)  # by column, only columns with violations
    checks: dict[str, int] = field(default_factory=dict)  # by CHECK name
    too_long: dict[str, int] = field(default_factory=dict)  # varchar(n) values longer than n
    not_evaluated: list[str] = field(default_factory=list)  # constraints DuckDB could not evaluate

    @property
    def violations(self) -> int:
        return (self.pk_duplicates + self.pk_nulls + sum(self.fk_orphans.values())
                + sum(self.unique_duplicates.values()) + sum(self.not_null.values())
                + sum(self.checks.values()) + sum(self.too_long.values()))

    def to_dict(self) -> dict:
        return {**asdict(self), "violations": self.violations}


def _cols(cols: list[str], alias: str = "") -> str:
    return ", ".join((alias + "." if alias else "") + qident(c) for c in cols)


def _all_not_null(cols: list[str], alias: str = "") -> str:
    return " AND ".join(f"{(alias + '.') if alias else ''}{qident(c)} IS NOT NULL" for c in cols)


def _duplicates(ws: Workspace, view: str, cols: list[str], where: str = "TRUE") -> int:
    """Rows whose (non-NULL) key tuple already appeared: count(*) - count(distinct tuple)."""
    where = f"{_all_not_null(cols)} AND ({where})"
    return ws.row(
        f"SELECT (SELECT count(*) FROM {view} WHERE {where}) - "
        f"(SELECT count(*) FROM (SELECT DISTINCT {_cols(cols)} FROM {view} WHERE {where}))"
    )[0]


def check_table(ws: Workspace, schema: Schema, table: Table, views: dict[str, str]) -> TableValidity:
    """Validity of `table` (in workspace view views[table.key]); FK parents looked up in their own views."""
    view = views[table.key]
    v = TableValidity(rows=ws.scalar(f"SELECT count(*) FROM {view}"))
    present = set(ws.columns(view))
    missing = [c for c in table.column_names if c not in present]
    if missing:  # a copy without some columns: their constraints cannot be checked
        v.not_evaluated.append(f"columns missing: {', '.join(missing)}")
        table = _without(table, set(missing))
    pk = table.primary_key
    if pk:
        v.pk_nulls = ws.scalar(
            f"SELECT count(*) FROM {view} WHERE NOT ({_all_not_null(pk)})")
        v.pk_duplicates = _duplicates(ws, view, pk)
    for fk in table.foreign_keys:
        parent = views.get(fk.ref_table)
        if parent is None:
            v.not_evaluated.append(f"{fk.name} (parent {fk.ref_table} not compared)")
            continue
        on = " AND ".join(f"c.{qident(a)} = p.{qident(b)}" for a, b in zip(fk.columns, fk.ref_columns, strict=False))
        v.fk_orphans[fk.name] = ws.scalar(
            f"SELECT count(*) FROM {view} c WHERE {_all_not_null(fk.columns, 'c')} "
            f"AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {on})")
    for u in table.uniques:
        where = u.predicate or "TRUE"
        try:
            v.unique_duplicates[u.name] = _duplicates(ws, view, u.columns, where)
        except QueryError:
            v.not_evaluated.append(f"{u.name} (partial UNIQUE predicate)")
    for c in table.columns:
        if not c.nullable and c.name not in pk:
            n = ws.scalar(f"SELECT count(*) FROM {view} WHERE {qident(c.name)} IS NULL")
            if n:
                v.not_null[c.name] = n
        if c.max_length and c.kind == "text":
            n = ws.scalar(f"SELECT count(*) FROM {view} WHERE length({qident(c.name)}) > {int(c.max_length)}")
            if n:
                v.too_long[c.name] = n
    # CHECKs (the table's and its domains') by the workspace's one CHECK evaluation, in the schema's dialect
    checked = ws.evaluate_checks(table, ws.query(f"SELECT * FROM {view}"), schema)
    v.checks = {name: int(mask.sum()) for name, mask in checked.failing.items()}
    # listed as "<table>.<check>: <expression>": the check's name is what the report shows
    v.not_evaluated += [u.split(": ", 1)[0].removeprefix(f"{table.key}.") for u in checked.unevaluable]
    return v


def _without(table: Table, missing: set[str]) -> Table:
    """The table less every column and constraint that mentions a missing column."""
    def ok(cols: list[str]) -> bool:
        return not missing & set(cols)

    return Table(table.name, table.schema, [c for c in table.columns if c.name not in missing],
                 table.primary_key if ok(table.primary_key) else [], table.primary_key_name,
                 [f for f in table.foreign_keys if ok(f.columns)], [u for u in table.uniques if ok(u.columns)],
                 [c for c in table.checks if not c.columns or ok(c.columns)])  # unknown: try, may fail
