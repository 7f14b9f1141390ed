"""ReportResult: every number of a report, JSON-able, and the text summary the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .privacy_metrics import UNIQUE_SHARE
from .validity import TableValidity

SCORE_LABELS = {"cardinality": "cardinality", "one_way": "1-way", "avg_2way": "avg 2-way"}


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
    detection: dict[str, dict[str, Any]] = field(default_factory=dict)  # per table: {"dda": ..., "c2st": ...}
    run: dict[str, Any] = field(default_factory=dict)  # clavadb version, date, preset, seed, column plan
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
        lines += self.privacy_findings()
        det = [(k, m, d) for k, t in self.detection.items() for m, d in t.items() if d]
        if det:
            worst = max(det, key=lambda x: x[2]["accuracy"])
            copies = [f"{k} ({m.upper()})" for k, m, d in det if d["copy_like"]]
            lines.append(f"Discriminators (accuracy, 0.5 = indistinguishable): highest {worst[2]['accuracy']:.3f} "
                         f"({worst[1].upper()} {worst[0]})" + (f"; copy-like: {', '.join(copies)}" if copies else ""))
        kept = [k for k, t in self.tables.items() if t.get("kept")]
        if kept:
            lines.append(f"Kept as is (lookup tables, not scored): {', '.join(kept)}")
        gen = [f"{k}.{c} ({g})" for k, t in self.tables.items() for c, g in t.get("generated_columns", {}).items()]
        if gen:
            lines.append(f"Generated, not scored: {', '.join(gen)}")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines)


    def privacy_findings(self) -> list[str]:
        """One line per privacy finding: tables whose copy is closer to the real rows than a real holdout,
        generated values that are real ones, copy-like discriminator results; or a line saying none."""
        out = []
        dcr = self.privacy.get("dcr", {})
        for k, d in dcr.items():
            if d["real_unique_share"] < UNIQUE_SHARE:  # repeated real rows: an equal row identifies no one
                continue
            if d["exact_copies"] > d["holdout_exact_copies"]:
                out.append(f"{k}: {100 * d['exact_copies']:.1f}% of synthetic rows equal a real row "
                           f"(real holdout {100 * d['holdout_exact_copies']:.1f}%)")
            if d["median"] < d["holdout_median"]:
                out.append(f"{k}: median distance to the closest real row {d['median']:.3f}, below the real "
                           f"holdout's {d['holdout_median']:.3f}")
        for p in self.privacy.get("pii", []):
            if p["copied_values"]:
                out.append(f"{p['table']}.{p['column']} (generated): {p['copied_values']} of "
                           f"{p['distinct_values']} distinct values also occur in the real column")
        for k, t in self.detection.items():
            for m, d in t.items():
                if d and d["copy_like"]:
                    out.append(f"{k}: {m.upper()} accuracy {d['accuracy']:.3f}, well below 0.5: the copy repeats "
                               "real rows")
        if not out:
            return [f"Privacy: no finding; {len(dcr)} tables compared with a real holdout (kept tables left out)"]
        return ["Privacy findings:"] + [f"  {x}" for x in out]


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
