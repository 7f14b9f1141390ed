"""Functional dependencies: found in the real tables (SQL in the DuckDB workspace), kept in the synthetic ones.

Two kinds:
- within a table, a determinant column fixes a dependent one (brand -> manufacturer, postal code -> city): the
  model generates the determinant, the dependent is looked up in a mapping learned from the real rows;
- across a foreign key, a child column equals a column of its parent row (an invoice's billing country is its
  customer's country): the dependent is copied from the synthetic parent row.
A determinant whose dependent is already fixed by its parent (city -> country, where the country is the
customer's) is the third kind, "given": it is redrawn where it contradicts the fixed value, from the real
determinant values of that dependent value, weighted by their frequency, so the pair stays consistent.
Each holds in at least MIN_CONSISTENCY of the real rows; the rows where it does not are kept as exceptions at
their real rate (they keep what the model drew). The mapping holds only determinant values seen at least
`rare_k` times together with their dependent value, so a model file gains no value the rare-value rule hides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from clavadb.schema import Schema, Table
from clavadb.sql import qident
from clavadb.workspace import Workspace

# A dependency must hold in this share of the real rows (the rest are its exceptions): looser, and a strong
# correlation would be turned into a rule and its minority values lost.
MIN_CONSISTENCY = 0.99
# A determinant value supports a dependency only when seen in this many rows: with one or two rows every value
# "determines" every column, so agreement within such small groups says nothing.
MIN_GROUP = 5
# The rows of supported determinant values must be this share of the rows with a determinant: a near-unique
# column (an id, a timestamp) has few such rows and must not be taken to determine everything.
MIN_COVERAGE = 0.5
# The dependency's mismatches must be at most this fraction of the mismatches expected by chance (a dependent
# drawn from its own marginal, independent of the determinant): two columns both 99.5% "yes" agree on 99% of
# rows by chance alone, and that is no rule.
MAX_CHANCE_SHARE = 0.1
# A foreign key dependency needs this many joined rows: with fewer, "99% of rows" cannot tell one exception
# (a 1-in-20 rate) from none.
MIN_JOINED = 20
# Columns with more distinct values than this are not determinants: a mapping that large is a copy of a
# column, not a rule, and the pair queries grow with it.
MAX_LEVELS = 10_000

# Column kinds whose values compare and store as JSON (within a table) or compare in SQL (across a key).
_FAMILY = {"text": "VARCHAR", "enum": "VARCHAR", "int": "DOUBLE", "float": "DOUBLE", "decimal": "DOUBLE",
           "bool": "BOOLEAN", "date": "TIMESTAMP", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ"}
_MAPPABLE = ("text", "enum", "int", "float", "decimal", "bool")
TEMP = "__clava_dependencies"  # the workspace table holding one table's candidate columns while it is searched


@dataclass
class Dependency:
    """One dependency: `table.dependent` follows `determinant` (a column of `table`, or of `parent` via `fk`)."""

    kind: str  # "table" (within one table), "fk" (equal to a column of the parent row), "given" (see module)
    table: str
    dependent: str  # the column the rule sets (kind "given": the determinant that is redrawn)
    determinant: str  # the column it follows (kind "given": the dependent fixed by the parent)
    consistency: float  # share of the real rows (with support) where it holds
    fk: str | None = None  # kind "fk": the foreign key's name in `table`
    parent: str | None = None  # kind "fk": the referenced table
    # kind "table": [determinant values, dependent values]; kind "given": [the redrawn column's values, the
    # fixed column's value each maps to]
    mapping: list[list[Any]] | None = None
    weights: list[int] | None = None  # kind "given": rows of each mapping pair (each >= rare_k)

    def describe(self) -> str:
        src = f"{self.parent}.{self.determinant} (via {self.fk})" if self.kind == "fk" else self.determinant
        rule = {"fk": "equal to", "given": "drawn consistent with"}.get(self.kind, "determined by")
        size = f", {len(self.mapping[0])} values" if self.mapping else ""
        return f"{self.table}.{self.dependent} {rule} {src}: holds in {100 * self.consistency:.2f}% of rows{size}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Dependency:
        return cls(**d)


# -- finding ---------------------------------------------------------------------------------------------

def find(ws: Workspace, schema: Schema, actions: Mapping[tuple[str, str], str], rare_k: int,
         tables: Iterable[str] | None = None) -> list[Dependency]:
    """Dependencies of the tables in workspace `ws` (each under its Table.key).

    actions: (table, column) -> the column plan's action; only modeled and generated columns become dependents,
    only modeled columns are determinants within a table (the model draws them). `tables`: those to look in
    (default all; a table copied as is needs none)."""
    wanted = set(schema.tables if tables is None else tables)
    deps: list[Dependency] = []
    taken: set[tuple[str, str]] = set()  # (table, column) already derived
    graph = schema.graph()
    for key in graph.top_down():
        if key not in wanted:
            continue
        table = schema.tables[key]
        from_parent = set()
        for d in _find_fk(ws, schema, table, actions, graph):
            if (key, d.dependent) not in taken:
                deps.append(d)
                taken.add((key, d.dependent))
                from_parent.add(d.dependent)
        deps.extend(_find_within(ws, table, actions, rare_k, taken, from_parent))
    return deps


def _n(x: Any) -> float:
    return 0.0 if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def _find_within(ws: Workspace, table: Table, actions: Mapping[tuple[str, str], str], rare_k: int,
                 taken: set[tuple[str, str]], from_parent: set[str] = frozenset()) -> list[Dependency]:
    key = table.key
    skip = table.fk_columns() | set(table.primary_key) | _unique_columns(table)
    cols = [c.name for c in table.columns if actions.get((key, c.name)) == "model" and c.kind in _MAPPABLE
            and c.name not in skip]
    if len(cols) < 2:
        return []
    # the candidate columns once in DuckDB's own storage: every pair query scans them
    ws.load(TEMP, ws.query(f"SELECT {', '.join(map(qident, cols))} FROM {qident(key)}"))
    try:
        return _pairs(ws, qident(TEMP), key, cols, rare_k, taken, from_parent)
    finally:
        ws.drop(TEMP)


def _pairs(ws: Workspace, t: str, key: str, cols: list[str], rare_k: int, taken: set[tuple[str, str]],
           from_parent: set[str] = frozenset()) -> list[Dependency]:
    counts = ws.row("SELECT count(*), " + ", ".join(f"count(DISTINCT {qident(c)})" for c in cols) + f" FROM {t}")
    n, distinct = counts[0], dict(zip(cols, counts[1:], strict=True))
    if n < MIN_GROUP:
        return []
    found = []
    for a in cols:
        if not 2 <= distinct[a] <= min(MAX_LEVELS, n / MIN_GROUP):
            continue
        for b in cols:
            if b == a or distinct[b] < 2:
                continue
            qa, qb = qident(a), qident(b)
            row = ws.row(f"""
                WITH pairs AS (SELECT {qa} AS a, {qb} AS b, count(*) AS c FROM {t} WHERE {qa} IS NOT NULL
                               GROUP BY 1, 2),
                     groups AS (SELECT a, sum(c) AS n, max(c) AS top FROM pairs GROUP BY a),
                     sup AS (SELECT p.b, sum(p.c) AS c FROM pairs p JOIN groups g ON p.a = g.a
                             WHERE g.n >= {MIN_GROUP} GROUP BY p.b)
                SELECT (SELECT sum(n) FROM groups), (SELECT sum(n) FROM groups WHERE n >= {MIN_GROUP}),
                       (SELECT sum(top) FROM groups WHERE n >= {MIN_GROUP}), (SELECT max(c) FROM sup)""")
            total, supported, top, modal = (_n(v) for v in row)
            if not total or supported < MIN_COVERAGE * total:
                continue
            consistency = top / supported
            chance = modal / supported  # the best any rule ignoring the determinant can do
            if consistency >= MIN_CONSISTENCY and (1 - consistency) <= MAX_CHANCE_SHARE * (1 - chance):
                found.append((supported, consistency, distinct[a], cols.index(a), cols.index(b), a, b))
    # Greedy, the rule that derives the most rows first (then the most consistent, the coarser determinant): a
    # column is derived once, and a derived column determines nothing (it is already a function of another).
    # City -> country beats state -> country where most rows have no state.
    found.sort(key=lambda f: (-f[0], -f[1], f[2], f[3], f[4]))
    # A dependent fixed by the parent row instead gets one determinant drawn consistent with it (the first in
    # the same order): a second one, drawn given the same value independently, would not agree with the first.
    dets: set[str] = set()
    given: set[str] = set()  # fixed columns that already have their determinant redrawn
    redrawn: set[str] = set()  # those determinants: no other rule sets them (it would undo the consistency)
    out = []
    for _, consistency, _, _, _, a, b in found:
        if b in from_parent:
            if b not in given and (key, a) not in taken and a not in redrawn:
                mapping, weights = _mapping(ws, t, a, b, rare_k, with_counts=True)
                if mapping[0]:
                    out.append(Dependency("given", key, a, b, round(consistency, 6), mapping=mapping,
                                          weights=weights))
                    given.add(b)
                    redrawn.add(a)
            continue
        if (key, b) in taken or (key, a) in taken or b in dets or b in redrawn:
            continue
        mapping = _mapping(ws, t, a, b, rare_k)
        if not mapping[0]:
            continue
        out.append(Dependency("table", key, b, a, round(consistency, 6), mapping=mapping))
        taken.add((key, b))
        dets.add(a)
    return out


def _mapping(ws: Workspace, t: str, a: str, b: str, rare_k: int, with_counts: bool = False):
    """The dependent's most frequent value per determinant value, for pairs seen at least rare_k times (and
    with `with_counts`, the rows of each pair as well)."""
    qa, qb = qident(a), qident(b)
    df = ws.query_df(f"""
        SELECT a, b, c FROM (
            SELECT {qa} AS a, {qb} AS b, count(*) AS c,
                   row_number() OVER (PARTITION BY {qa} ORDER BY count(*) DESC, {qb} NULLS LAST) AS rn
            FROM {t} WHERE {qa} IS NOT NULL GROUP BY 1, 2)
        WHERE rn = 1 AND c >= {max(int(rare_k), 1)} ORDER BY a""")
    mapping = [[_plain(v) for v in df["a"]], [_plain(v) for v in df["b"]]]
    return (mapping, [int(c) for c in df["c"]]) if with_counts else mapping


def _plain(v: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN / NA as None."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _find_fk(ws: Workspace, schema: Schema, table: Table, actions: Mapping[tuple[str, str], str], graph
             ) -> list[Dependency]:
    """Child columns equal to a column of the parent row, for each FK of `table` that sampling follows."""
    key = table.key
    best: dict[str, Dependency] = {}
    child_skip = table.fk_columns() | set(table.primary_key) | _unique_columns(table)
    for fk in table.foreign_keys:
        parent = schema.tables.get(fk.ref_table)
        if parent is None or parent.key == key or graph.is_deferred(key, fk.name):
            continue
        ccols = [c for c in table.columns if c.name not in child_skip and c.kind in _FAMILY
                 and actions.get((key, c.name)) in ("model", "generate")]
        pskip = parent.fk_columns() | set(parent.primary_key)
        pcols = [c for c in parent.columns if c.name not in pskip and c.kind in _FAMILY
                 and actions.get((parent.key, c.name)) in ("model", "generate", "keep")]
        pairs = [(c, p) for c in ccols for p in pcols if _FAMILY[c.kind] == _FAMILY[p.kind]]
        if not pairs:
            continue
        on = " AND ".join(f"c.{qident(a)} = p.{qident(b)}" for a, b in zip(fk.columns, fk.ref_columns, strict=True))
        join = f"{qident(key)} c JOIN {qident(parent.key)} p ON {on}"

        def cast(side: str, col, fam: str) -> str:
            return f"CAST({side}.{qident(col.name)} AS {fam})"

        sums = ", ".join(f"sum(CASE WHEN {cast('c', c, _FAMILY[c.kind])} IS NOT DISTINCT FROM "
                         f"{cast('p', p, _FAMILY[c.kind])} THEN 1 ELSE 0 END)" for c, p in pairs)
        row = ws.row(f"SELECT count(*), {sums} FROM {join}")
        n = row[0]
        if n < MIN_JOINED:
            continue
        for (c, p), eq in zip(pairs, row[1:], strict=True):
            consistency = _n(eq) / n
            if consistency < MIN_CONSISTENCY:
                continue
            fam = _FAMILY[c.kind]
            chance = _n(ws.row(f"""
                WITH j AS (SELECT {cast('c', c, fam)} AS u, {cast('p', p, fam)} AS v FROM {join}),
                     a AS (SELECT u AS w, count(*) AS n FROM j GROUP BY u),
                     b AS (SELECT v AS w, count(*) AS n FROM j GROUP BY v)
                SELECT sum(a.n * b.n) FROM a JOIN b ON a.w IS NOT DISTINCT FROM b.w""")[0]) / n / n
            if (1 - consistency) > MAX_CHANCE_SHARE * (1 - chance):
                continue
            cur = best.get(c.name)
            if cur is None or consistency > cur.consistency:
                best[c.name] = Dependency("fk", key, c.name, p.name, round(consistency, 6), fk=fk.name,
                                          parent=parent.key)
    return [best[c.name] for c in table.columns if c.name in best]


def _unique_columns(table: Table) -> set[str]:
    """Columns unique on their own: a value equal to a parent's or mapped from a determinant would repeat."""
    out = {u.columns[0] for u in table.uniques if len(u.columns) == 1}
    if len(table.primary_key) == 1:
        out.add(table.primary_key[0])
    return out


# -- applying --------------------------------------------------------------------------------------------

def apply(deps: list[Dependency], schema: Schema, frames: dict[str, pd.DataFrame], seed: int
          ) -> dict[str, pd.DataFrame]:
    """Derive the dependents of synthetic tables whose keys are assigned (parents first, so a parent's
    derived column is final before its children copy it). A row is an exception, keeping the value it was
    given, with the dependency's real exception rate."""
    out = dict(frames)
    by_table: dict[str, list[Dependency]] = {}
    for d in deps:
        by_table.setdefault(d.table, []).append(d)
    for key in schema.graph().top_down():
        if key not in by_table or key not in out:
            continue
        frame = out[key].copy()
        # across keys first (a within-table determinant may itself be a copy of a parent's column), then the
        # determinants redrawn given those copies, then the columns those determinants fix in turn
        for d in sorted(by_table[key], key=lambda d: _ORDER[d.kind]):
            if d.dependent not in frame or len(frame) == 0:
                continue
            rng = np.random.default_rng([seed, 0x66647073, *map(ord, f"{key}.{d.dependent}")])
            if d.kind == "given":
                if d.determinant in frame:
                    frame[d.dependent] = _redraw_given(d, frame[d.dependent], frame[d.determinant], rng)
                continue
            if d.kind == "fk":
                values, has = _parent_values(d, schema, frame, out)
            else:
                if d.determinant not in frame:
                    continue
                values, has = _mapped_values(d, frame[d.determinant])
            exception = rng.random(len(frame)) >= d.consistency
            if d.kind == "table":
                _exceptions(frame[d.dependent].to_numpy(dtype=object), values, has & exception, rng)
                take = has
            else:  # an exception keeps what the model or generator gave it, unrelated to the parent's
                take = has & ~exception
            frame[d.dependent] = _assign(frame[d.dependent], values, take)
        out[key] = frame
    return out


_ORDER = {"fk": 0, "given": 1, "table": 2}


def _redraw_given(d: Dependency, col: pd.Series, fixed: pd.Series, rng: np.random.Generator) -> pd.Series:
    """`col` where its mapped value contradicts `fixed`, redrawn from the real values that map to `fixed`'s
    value (weighted by their rows); a row is left as it is at the rule's real exception rate, and where its
    value or the fixed value is outside the mapping (a rare or generated value: nothing to be consistent with)."""
    keys, vals = d.mapping or [[], []]
    pairs = pd.DataFrame({"key": pd.Series(keys, dtype=object), "val": pd.Series(vals, dtype=object),
                          "w": np.asarray(d.weights or [1] * len(keys), dtype=float)})
    mapped, known = _mapped_values(d, col)
    fixed_obj = fixed.astype(object).to_numpy()
    wrong = known & ~pd.isna(fixed_obj) & (mapped != fixed_obj) & (rng.random(len(col)) < d.consistency)
    values = np.empty(len(col), dtype=object)
    take = np.zeros(len(col), bool)
    rows = pd.Series(np.flatnonzero(wrong)).groupby(pd.Series(fixed_obj[wrong], dtype=object))
    candidates = {v: (g["key"].to_numpy(dtype=object), (g["w"] / g["w"].sum()).to_numpy())
                  for v, g in pairs.groupby("val")}
    for v, at in rows:
        hit = candidates.get(v)
        if hit is not None:
            values[at.to_numpy()] = hit[0][rng.choice(len(hit[0]), size=len(at), p=hit[1])]
            take[at.to_numpy()] = True
    return _assign(col, values, take)


def _parent_values(d: Dependency, schema: Schema, frame: pd.DataFrame, frames: Mapping[str, pd.DataFrame]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per child row, the parent row's value of the determinant (and whether the row has a parent)."""
    fk = next(f for f in schema.tables[d.table].foreign_keys if f.name == d.fk)
    parent = frames.get(fk.ref_table)
    n = len(frame)
    if parent is None or d.determinant not in parent or not all(c in frame for c in fk.columns):
        return np.empty(n, dtype=object), np.zeros(n, bool)
    if len(fk.columns) == 1:
        index = pd.Index(parent[fk.ref_columns[0]].astype(object))
        idx = index.get_indexer(frame[fk.columns[0]].astype(object))
    else:
        index = pd.MultiIndex.from_frame(parent[fk.ref_columns].astype(object))
        idx = index.get_indexer(pd.MultiIndex.from_frame(frame[fk.columns].astype(object)))
    has = idx >= 0
    values = np.empty(n, dtype=object)
    values[has] = parent[d.determinant].to_numpy(dtype=object)[idx[has]]
    return values, has


def _mapped_values(d: Dependency, det: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    keys, vals = d.mapping or [[], []]
    idx = pd.Index(pd.Series(keys, dtype=object)).get_indexer(det.astype(object))
    has = idx >= 0
    values = np.empty(len(det), dtype=object)
    values[has] = np.asarray(vals, dtype=object)[idx[has]]
    return values, has


def _exceptions(current: np.ndarray, derived: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Exception rows get (in `derived`) the value the model drew, or, where that equals the mapped value,
    another row's value, so the exceptions keep their real rate instead of falling back onto the rule."""
    for i in np.flatnonzero(rows):
        same = current[i] is not None and current[i] == derived[i]
        derived[i] = current[rng.integers(len(current))] if same else current[i]


def _assign(col: pd.Series, values: np.ndarray, take: np.ndarray) -> pd.Series:
    """col with `values` where `take`, in col's dtype where the values fit it."""
    out = col.astype(object).to_numpy(copy=True)
    out[take] = values[take]
    s = pd.Series(out, index=col.index, dtype=object)
    try:
        return s.astype(col.dtype)
    except (TypeError, ValueError):
        return s
