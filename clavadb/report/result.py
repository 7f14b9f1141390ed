"""ReportResult: every number of a report, JSON-able, and the text summary the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .validity import TableValidity

SCORE_LABELS = {"cardinality": "cardinality", "one_way": "1-way", "avg_2way": "avg 2-way"}
PAPER_MOVIELENS = {"cardinality": 99.07, "one_way": 99.34, "0_hop": 98.69, "1_hop": 96.19, "avg_2way": 97.11}


def score_label(key: str) -> str:
    return SCORE_LABELS.get(key) or key.replace("_hop", "-hop")


@dataclass
class ReportResult:
    """Scores are 0-100 (100 = synthetic indistinguishable from real on that measure)."""

    scores: dict[str, float | None] = field(default_factory=dict)  # cardinality, one_way, 0_hop, 1_hop.., avg_2way
    counts: dict[str, int] = field(default_factory=dict)  # how many FKs / columns / pairs each score averages
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows, sampling and scores per table
    columns: list[dict[str, Any]] = field(default_factory=list)  # 1-way per column, with plot data
    cardinality: list[dict[str, Any]] = field(default_factory=list)  # per FK edge, with histograms
    pairs: list[dict[str, Any]] = field(default_factory=list)  # every column pair scored
    validity: dict[str, TableValidity] = field(default_factory=dict)  # of the synthetic database
    privacy: dict[str, Any] = field(default_factory=dict)  # {"dcr": {table: ...}, "pii": [...]}
    fk_edges: list[dict[str, str]] = field(default_factory=list)  # {parent, child, fk} for the graph
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "validity"}
        d["validity"] = {k: v.to_dict() for k, v in self.validity.items()}
        return _clean(d)

    # -- text ------------------------------------------------------------------------------------
    def validity_totals(self) -> dict[str, int]:
        tot = {"pk_duplicates": 0, "pk_nulls": 0, "fk_orphans": 0, "unique_duplicates": 0, "not_null": 0,
               "checks": 0, "too_long": 0, "not_evaluated": 0}
        for v in self.validity.values():
            tot["pk_duplicates"] += v.pk_duplicates
            tot["pk_nulls"] += v.pk_nulls
            tot["fk_orphans"] += sum(v.fk_orphans.values())
            tot["unique_duplicates"] += sum(v.unique_duplicates.values())
            tot["not_null"] += sum(v.not_null.values())
            tot["checks"] += sum(v.checks.values())
            tot["too_long"] += sum(v.too_long.values())
            tot["not_evaluated"] += len(v.not_evaluated)
        return tot

    def summary(self) -> str:
        lines = ["Fidelity (0-100, 100 = same as the real database):"]
        for key, val in self.scores.items():
            shown = "   n/a" if val is None else f"{val:6.2f}"
            lines.append(f"  {score_label(key):<13}{shown}   ({self.counts.get(key, 0)} {_unit(key)})")
        tot = self.validity_totals()
        n_bad = sum(v for k, v in tot.items() if k != "not_evaluated")
        lines.append(
            f"Validity of the synthetic database: {n_bad} violations in {len(self.validity)} tables "
            f"(PK duplicates {tot['pk_duplicates']}, PK NULLs {tot['pk_nulls']}, FK orphans {tot['fk_orphans']}, "
            f"UNIQUE duplicates {tot['unique_duplicates']}, NOT NULL {tot['not_null']}, CHECK {tot['checks']}, "
            f"too long {tot['too_long']}; {tot['not_evaluated']} constraints not evaluated)")
        dcr = [d for d in self.privacy.get("dcr", {}).values() if d]
        if dcr:
            med = sum(d["median"] for d in dcr) / len(dcr)
            hmed = sum(d["holdout_median"] for d in dcr) / len(dcr)
            ex = sum(d["exact_copies"] for d in dcr) / len(dcr)
            hex_ = sum(d["holdout_exact_copies"] for d in dcr) / len(dcr)
            lines.append(f"Privacy: DCR median {med:.3f} (real holdout {hmed:.3f}), exact copies of real rows "
                         f"{100 * ex:.1f}% (real holdout {100 * hex_:.1f}%), mean over {len(dcr)} tables")
        pii = self.privacy.get("pii", [])
        if pii:
            copied = sum(p["copied_values"] for p in pii)
            total = sum(p["distinct_values"] for p in pii)
            lines.append(f"Personal data: {copied} of {total} distinct synthetic values in {len(pii)} columns "
                         f"also occur in the real database")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


def _unit(key: str) -> str:
    return {"cardinality": "FKs", "one_way": "columns"}.get(key, "pairs")


def _clean(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
