"""Which columns the fidelity metrics look at, and how each is read (as a number or as a category).

Rule (stated in the report): keys (primary, foreign), identity/sequence columns, columns the copy does not
model (generated personal data and free text, excluded columns: the caller passes them with the reason)
and text columns under a single-column UNIQUE constraint are skipped, so are
uuid/json/bytes/array/other columns, columns that are NULL in every real row, and high-cardinality text
(more than TEXT_MAX_DISTINCT distinct values or more than half the rows distinct: names, e-mails, free
text). A column is categorical when it is text, bool or enum, or an int/decimal/date column with at most
CATEGORICAL_MAX_DISTINCT distinct real values (as the paper treats MovieLens' small integers); the other
int/float/decimal/date/time columns are numerical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clavadb.schema import Table
from clavadb.sql import qident
from clavadb.workspace import Workspace

from .stats import bin_codes, quantile_edges

CATEGORICAL_MAX_DISTINCT = 20
TEXT_MAX_DISTINCT = 100
NUMBER_BINS = 10

NUMERIC_KINDS = {"int", "float", "decimal", "date", "timestamp", "timestamptz", "time", "interval"}
SMALL_DOMAIN_KINDS = {"int", "decimal", "date"}  # kinds whose few distinct values read as categories
CATEGORY_KINDS = {"bool", "enum"}
UNSUPPORTED_KINDS = {"uuid", "json", "bytes", "array", "other"}
# kinds read as seconds through epoch(), each cast to its type first: a side where the column is NULL in every
# row reaches the workspace untyped (DuckDB's NULL type), for which epoch() has no overload
EPOCH_KINDS = {"date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "time": "TIME",
               "interval": "INTERVAL"}


@dataclass
class ColumnSpec:
    table: str
    name: str
    kind: str
    role: str  # "numerical" | "categorical" | "skipped"
    reason: str = ""  # why skipped
    distinct: int = 0
    edges: np.ndarray | None = None  # inner quantile bin edges of a numerical column (real data)
    lo: float = 0.0  # real min / max of a numerical column, for DCR scaling
    hi: float = 1.0

    @property
    def modeled(self) -> bool:
        return self.role != "skipped"

    def expr(self, alias: str | None = None) -> str:
        """SQL reading the column as a DOUBLE (numerical) or VARCHAR (categorical)."""
        col = (alias + "." if alias else "") + qident(self.name)
        if self.role == "categorical":
            return f"CAST({col} AS VARCHAR)"
        if self.kind in EPOCH_KINDS:
            return f"CAST(epoch(CAST({col} AS {EPOCH_KINDS[self.kind]})) AS DOUBLE)"
        return f"CAST({col} AS DOUBLE)"

    def codes(self, real: pd.Series, synth: pd.Series) -> tuple[np.ndarray, np.ndarray, int, list]:
        """Shared integer codes of both sides (NULL is a category of its own); labels of the codes."""
        if self.role == "numerical":
            edges = self.edges if self.edges is not None else np.array([])
            labels = _bin_labels(edges) + ["NULL"]
            return bin_codes(real.to_numpy(float), edges), bin_codes(synth.to_numpy(float), edges), len(labels), labels
        both = pd.concat([real, synth], ignore_index=True).astype(object)
        codes, uniques = pd.factorize(both, use_na_sentinel=False)
        labels = ["NULL" if pd.isna(u) else str(u) for u in uniques]
        return codes[: len(real)], codes[len(real):], max(len(uniques), 1), labels


def _bin_labels(edges: np.ndarray) -> list[str]:
    pts = [f"{e:.4g}" for e in edges]
    if not pts:
        return ["all"]
    return [f"< {pts[0]}"] + [f"{a}..{b}" for a, b in zip(pts, pts[1:], strict=False)] + [f">= {pts[-1]}"]


def classify(ws: Workspace, table: Table, view: str, skip: Mapping[str, str] | None = None) -> dict[str, ColumnSpec]:
    """Column specs of one table, from its schema and the real rows in workspace view `view`. Columns in
    `skip` (column -> reason) are not scored for fidelity: the copy generates or leaves them out on purpose."""
    skip = skip or {}
    keys = set(table.primary_key) | table.fk_columns()
    unique = {u.columns[0] for u in table.uniques if len(u.columns) == 1}
    specs: dict[str, ColumnSpec] = {}
    candidates = []
    for c in table.columns:
        spec = ColumnSpec(table.key, c.name, c.kind, "skipped")
        specs[c.name] = spec
        if c.name in keys:
            spec.reason = "key"
        elif c.name in skip:
            spec.reason = skip[c.name]
        elif c.name in unique and c.kind == "text":
            spec.reason = "unique text"
        elif c.identity or c.sequence:
            spec.reason = "identity/sequence"
        elif c.kind in UNSUPPORTED_KINDS or c.kind not in NUMERIC_KINDS | CATEGORY_KINDS | {"text"}:
            spec.reason = f"{c.kind} column"
        else:
            candidates.append(spec)
    if not candidates:
        return specs
    sel = ", ".join(
        f"count(DISTINCT {qident(s.name)}), "
        + (f"min({s.expr()}), max({s.expr()})" if s.kind in NUMERIC_KINDS else "NULL, NULL")
        for s in candidates
    )
    row = ws.row(f"SELECT count(*), {sel} FROM {view}")
    n_rows = row[0]
    for i, spec in enumerate(candidates):
        distinct, lo, hi = row[1 + 3 * i: 4 + 3 * i]
        spec.distinct = distinct
        if distinct == 0:
            spec.reason = "NULL in every real row"
        elif spec.kind in CATEGORY_KINDS:
            spec.role = "categorical"
        elif spec.kind == "text":
            if distinct > TEXT_MAX_DISTINCT or (distinct > CATEGORICAL_MAX_DISTINCT and distinct > n_rows / 2):
                spec.reason = "high-cardinality text"
            else:
                spec.role = "categorical"
        elif spec.kind in SMALL_DOMAIN_KINDS and distinct <= CATEGORICAL_MAX_DISTINCT:
            spec.role = "categorical"
        else:
            spec.role = "numerical"
            spec.lo, spec.hi = float(lo), float(hi)
    numerical = [s for s in candidates if s.role == "numerical"]
    if numerical:
        # decile edges of every numerical column in one pass
        probs = [round(i / NUMBER_BINS, 6) for i in range(1, NUMBER_BINS)]
        qs = ", ".join(f"quantile_cont({s.expr()}, {probs})" for s in numerical)
        for s, q in zip(numerical, ws.row(f"SELECT {qs} FROM {view}"), strict=False):
            s.edges = np.unique(np.asarray(q, dtype=float)) if q is not None else np.array([])
    return specs


__all__ = ["ColumnSpec", "classify", "quantile_edges"]
