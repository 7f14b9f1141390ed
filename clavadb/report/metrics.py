"""evaluate(): fidelity, validity and privacy of a synthetic database against the real one (paper §5.1).

Both databases share one schema; their key values differ, so every cross-table measure joins through
the FKs inside each database separately. The frames are registered in an in-process DuckDB, where counts,
joins and constraint checks run as SQL; the scores are then computed with numpy/scipy (stats.py).

- cardinality: per FK edge, KS complement of children per parent (childless parents included).
- 1-way: per modeled column (columns.py says which), KSComplement for numerical, TVComplement for
  categorical columns, on all rows.
- k-hop: column pairs of a table (k = 0) or of a table and its ancestor k FKs up (k >= 1, following
  FKs child -> parent as the paper does); CorrelationSimilarity for two numerical columns,
  ContingencySimilarity otherwise (numbers in 10 real-decile bins). avg 2-way pools all pairs.
- Tables with more than max_rows rows are sampled (each side, uniformly) for pair metrics and DCR.
- discriminators (detection.py): DDA per parent table and C2ST per table.

Which columns are scored follows the copy's column plan (clavadb.privacy, the pipeline's own detector):
columns the copy generates (names, e-mails, free text) or leaves out are listed with their generator and
not scored; a lookup table the copy keeps as it is is listed as kept and left out of the scores of its
own columns, of DCR and of the discriminators (it is the real table by design), while its columns still
pair with its children's in k-hop scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd

import clavadb
from clavadb.privacy import ColumnPlan
from clavadb.schema import ForeignKey, Schema
from clavadb.sql import qident
from clavadb.workspace import Workspace

from . import detection, privacy_metrics, stats
from .columns import ColumnSpec, classify
from .result import ReportResult
from .validity import check_table

MAX_HOPS = 3
PLOT_CATEGORIES = 12
PLOT_BINS = 20
CARD_BINS = 30


def evaluate(schema: Schema, real: Mapping[str, pd.DataFrame], synth: Mapping[str, pd.DataFrame], *,
             max_rows: int = 50_000, seed: int = 0, plans: list[ColumnPlan] | None = None,
             discriminators: bool = True, progress: Callable[[str], None] | None = None) -> ReportResult:
    """Every measure of the report (see the module doc).

    plans: the copy's column plan (from its model file); None re-derives it from the real rows with the
    pipeline's detector, as `clone` does without a config. discriminators: run DDA and C2ST (the slowest
    part: seconds to minutes per database). progress: called with the name of each measure as it starts
    (one of MEASURES)."""
    t0 = time.perf_counter()
    res = ReportResult()
    res.run = {"clavadb": clavadb.__version__, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "preset": "unknown (pass --model FILE)", "model_seed": "unknown (pass --model FILE)",
               "sample_seed": "not recorded in the copy"}
    if plans is None:
        plans = detector_plans(schema, real)
        res.run["column_plan"] = "re-derived from the real rows by clavadb's detector (no model file given)"
    keys = [k for k in schema.tables if k in real and k in synth]
    for k in schema.tables:
        if k not in keys:
            res.notes.append(f"table {k} missing from the {'real' if k not in real else 'synthetic'} data; skipped")
    ws = Workspace()
    try:
        views = _register(ws, keys, real, synth, max_rows, seed, res)
        _run(ws, schema, keys, views, res, seed, plans, discriminators, progress or (lambda step: None))
    finally:
        ws.close()
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


# -- setup -----------------------------------------------------------------------------------------
class _Views:
    """DuckDB view names per side: full tables and their max_rows samples."""

    def __init__(self) -> None:
        self.full: dict[str, dict[str, str]] = {"r": {}, "s": {}}
        self.sample: dict[str, dict[str, str]] = {"r": {}, "s": {}}


def detector_plans(schema: Schema, real: Mapping[str, pd.DataFrame]) -> list[ColumnPlan]:
    """The column plan `clone` makes for these real tables without a config (personal data, free text,
    kept lookup tables): the pipeline's own decision, so the report audits what the pipeline does."""
    from clavadb import pipeline

    return pipeline.plan(pipeline.Source(schema, dict(real), []), pipeline.Options())


def _register(ws: Workspace, keys, real, synth, max_rows, seed, res) -> _Views:
    v = _Views()
    sampled = []
    for i, k in enumerate(keys):
        for side, frames in (("r", real), ("s", synth)):
            df = frames[k]
            name = f"{side}{i}"
            ws.register(name, df)
            v.full[side][k] = name
            v.sample[side][k] = name
            if len(df) > max_rows:
                ws.register(name + "_s", df.sample(n=max_rows, random_state=seed))
                v.sample[side][k] = name + "_s"
        if v.sample["r"][k] != v.full["r"][k] or v.sample["s"][k] != v.full["s"][k]:
            sampled.append(f"{k} ({len(real[k]):,} real / {len(synth[k]):,} synthetic rows)")
    if sampled:
        res.notes.append(f"pair metrics and DCR on samples of at most {max_rows:,} rows per table for: "
                         + ", ".join(sampled))
    return v


def _skipped(plans: list[ColumnPlan]) -> dict[str, dict[str, str]]:
    """Per table, the columns the copy does not model and why (generator named)."""
    why = {"generate": lambda p: f"generated ({p.generator})", "exclude": lambda p: "left out of the copy",
           "keep": lambda p: "kept table (copied as is)"}
    out: dict[str, dict[str, str]] = {}
    for p in plans:
        if p.action in ("generate", "exclude"):
            out.setdefault(p.table, {})[p.column] = why[p.action](p)
    return out


# the report's measures in the order they run (progress names them)
MEASURES = ("validity", "1-way", "cardinality", "pairs", "privacy", "discriminators")


def _run(ws: Workspace, schema: Schema, keys: list[str], views: _Views, res: ReportResult, seed: int,
         plans: list[ColumnPlan], discriminators: bool, progress: Callable[[str], None]) -> None:
    skip = _skipped(plans)
    kept = {p.table for p in plans if p.action == "keep"}
    specs = {k: classify(ws, schema.tables[k], views.full["r"][k], skip.get(k)) for k in keys}
    for k in keys:
        present = set(ws.columns(views.full["s"][k]))
        for spec in specs[k].values():
            if spec.modeled and spec.name not in present:
                spec.role, spec.reason = "skipped", "missing from the synthetic data"
    partner = {k: [s for s in specs[k].values() if s.modeled] for k in keys}  # columns in k-hop pairs
    modeled = {k: [] if k in kept else partner[k] for k in keys}  # columns scored as the table's own
    progress("validity")
    for k in keys:
        res.validity[k] = check_table(ws, schema, schema.tables[k], views.full["s"])
        res.tables[k] = {
            "rows_real": len_view(ws, views.full["r"][k]),
            "rows_synthetic": len_view(ws, views.full["s"][k]),
            "sampled": views.sample["r"][k] != views.full["r"][k] or views.sample["s"][k] != views.full["s"][k],
            "kept": k in kept,
            "modeled_columns": [s.name for s in modeled[k]],
            "generated_columns": {p.column: p.generator for p in plans if p.table == k and p.action == "generate"},
            "skipped_columns": {s.name: s.reason for s in specs[k].values() if not s.modeled},
            "scores": {},
        }
    progress("1-way")
    _one_way(ws, keys, modeled, views, res)
    progress("cardinality")
    _cardinality(ws, schema, keys, views, res)
    progress("pairs")
    _pairs(ws, schema, keys, modeled, partner, views, res)
    progress("privacy")
    _privacy(ws, keys, modeled, res.tables, views, res, seed)
    if discriminators:
        progress("discriminators")
        _discriminators(ws, schema, keys, modeled, kept, views, res, seed)
    _overall(res)


def len_view(ws: Workspace, view: str) -> int:
    return ws.scalar(f"SELECT count(*) FROM {view}")


def _fetch(ws: Workspace, view: str, cols: list[tuple[ColumnSpec, str]], alias: str = "t",
           frm: str | None = None) -> pd.DataFrame:
    """Columns read as numbers / categories; cols = (spec, table alias) pairs; output named c0, c1, ..."""
    sel = ", ".join(f"{s.expr(a)} AS c{i}" for i, (s, a) in enumerate(cols))
    return ws.query_df(f"SELECT {sel} FROM {frm or view + ' ' + alias}")


# -- 1-way -----------------------------------------------------------------------------------------
def _one_way(ws, keys, modeled, views, res) -> None:
    for k in keys:
        cols = [(s, "t") for s in modeled[k]]
        if not cols:
            continue
        r = _fetch(ws, views.full["r"][k], cols)
        s = _fetch(ws, views.full["s"][k], cols)
        for i, (spec, _) in enumerate(cols):
            rc, sc = r[f"c{i}"], s[f"c{i}"]
            if spec.role == "numerical":
                score = stats.ks_complement(rc.to_numpy(float), sc.to_numpy(float))
                metric, plot = "KSComplement", _num_plot(rc.to_numpy(float), sc.to_numpy(float), spec.kind)
            else:
                a, b, n, labels = spec.codes(rc, sc)
                score = stats.tv_complement(a, b, n)
                metric, plot = "TVComplement", _cat_plot(a, b, n, labels)
            res.columns.append({"table": k, "column": spec.name, "role": spec.role, "metric": metric,
                                "score": _pct(score), "plot": plot})


def _num_plot(r: np.ndarray, s: np.ndarray, kind: str = "float") -> dict:
    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    if r.size == 0:
        return {}
    lo, hi = np.percentile(r, [0.5, 99.5])
    hi = hi if hi > lo else lo + 1
    edges = np.linspace(lo, hi, PLOT_BINS + 1)
    rh = np.histogram(np.clip(r, lo, hi), edges)[0] / max(r.size, 1)
    sh = np.histogram(np.clip(s, lo, hi), edges)[0] / max(s.size, 1)
    return {"kind": "hist", "edges": edges.tolist(), "real": rh.tolist(), "synthetic": sh.tolist(),
            "axis": kind}  # how to print the edges: epoch seconds of a date/time kind read as dates


def _cat_plot(a: np.ndarray, b: np.ndarray, n: int, labels: list) -> dict:
    rf, sf = stats.frequencies(a, b, n)
    order = np.argsort(-(rf + 1e-9 * sf))
    top, rest = order[:PLOT_CATEGORIES], order[PLOT_CATEGORIES:]
    out = {"kind": "bars", "labels": [labels[i] for i in top], "real": rf[top].tolist(), "synthetic": sf[top].tolist()}
    if rest.size:
        out["labels"].append(f"{rest.size} others")
        out["real"].append(float(rf[rest].sum()))
        out["synthetic"].append(float(sf[rest].sum()))
    return out


# -- cardinality -----------------------------------------------------------------------------------
def _fk_edges(schema: Schema, keys: list[str]) -> list[tuple[str, str, ForeignKey]]:
    keep = set(keys)
    return [(p, c, fk) for p, c, fk in schema.graph().edges(include_deferred=True) if p in keep and c in keep]


def _children_per_parent(ws: Workspace, child: str, parent: str, fk: ForeignKey) -> np.ndarray:
    fkc = ", ".join(qident(c) for c in fk.columns)
    nn = " AND ".join(f"{qident(c)} IS NOT NULL" for c in fk.columns)
    on = " AND ".join(f"p.{qident(b)} = g.{qident(a)}" for a, b in zip(fk.columns, fk.ref_columns, strict=False))
    q = (f"WITH g AS (SELECT {fkc}, count(*) AS n FROM {child} WHERE {nn} GROUP BY {fkc}) "
         f"SELECT coalesce(g.n, 0) AS n FROM {parent} p LEFT JOIN g ON {on}")
    return ws.query_df(q)["n"].to_numpy(dtype=float)


def _cardinality(ws, schema, keys, views, res) -> None:
    for p, c, fk in _fk_edges(schema, keys):
        res.fk_edges.append({"parent": p, "child": c, "fk": fk.name})
        r = _children_per_parent(ws, views.full["r"][c], views.full["r"][p], fk)
        s = _children_per_parent(ws, views.full["s"][c], views.full["s"][p], fk)
        score = stats.cardinality_shape_similarity(r, s)
        res.cardinality.append({
            "parent": p, "child": c, "fk": fk.name, "score": _pct(score),
            "real_mean": float(r.mean()) if r.size else None, "synthetic_mean": float(s.mean()) if s.size else None,
            "plot": _card_plot(r, s)})


def _card_plot(r: np.ndarray, s: np.ndarray) -> dict:
    if r.size == 0:
        return {}
    cap = max(int(np.percentile(r, 99)), 1)
    if cap < CARD_BINS:
        edges = np.arange(cap + 2) - 0.5
    else:
        edges = np.linspace(-0.5, cap + 0.5, CARD_BINS + 1)
    rh = np.histogram(np.minimum(r, cap), edges)[0] / r.size
    sh = np.histogram(np.minimum(s, cap), edges)[0] / max(s.size, 1)
    return {"kind": "hist", "edges": edges.tolist(), "real": rh.tolist(), "synthetic": sh.tolist(), "cap": cap}


# -- k-hop pairs -----------------------------------------------------------------------------------
def _paths(schema: Schema, keys: list[str], start: str) -> list[list[tuple[str, str, ForeignKey]]]:
    """FK paths going up from `start` (child -> parent -> ...), up to MAX_HOPS, no FK used twice."""
    keep = set(keys)
    out: list[list[tuple[str, str, ForeignKey]]] = []

    def walk(table: str, path: list) -> None:
        if len(path) == MAX_HOPS:
            return
        for fk in schema.tables[table].foreign_keys:
            if fk.ref_table not in keep or any(f is fk for _, _, f in path):
                continue
            nxt = [*path, (table, fk.ref_table, fk)]
            out.append(nxt)
            walk(fk.ref_table, nxt)

    walk(start, [])
    return out


def _join_sql(path, start_view: str, side_views: dict[str, str]) -> str:
    sql = f"{start_view} t0"
    for i, (_, parent, fk) in enumerate(path, 1):
        on = " AND ".join(f"t{i - 1}.{qident(a)} = t{i}.{qident(b)}" for a, b in zip(fk.columns, fk.ref_columns, strict=False))
        sql += f" JOIN {side_views[parent]} t{i} ON {on}"
    return sql


def _pairs(ws, schema, keys, modeled, partner, views, res) -> None:
    for k in keys:
        a_specs = modeled[k]
        if len(a_specs) >= 2:  # 0-hop
            cols = [(s, "t") for s in a_specs]
            r = _fetch(ws, views.sample["r"][k], cols)
            s = _fetch(ws, views.sample["s"][k], cols)
            pairs = [(i, j) for i in range(len(a_specs)) for j in range(i + 1, len(a_specs))]
            _score_pairs(res, k, k, 0, [], cols, r, s, pairs)
        if not a_specs:
            continue
        for path in _paths(schema, keys, k):
            top = path[-1][1]
            b_specs = partner[top]
            if not b_specs:
                continue
            n = len(path)
            cols = [(s, "t0") for s in a_specs] + [(s, f"t{n}") for s in b_specs]
            frames = [_fetch(ws, "", cols, frm=_join_sql(path, views.sample[side][k], views.full[side]))
                      for side in ("r", "s")]
            pairs = [(i, len(a_specs) + j) for i in range(len(a_specs)) for j in range(len(b_specs))]
            _score_pairs(res, k, top, n, [fk.name for _, _, fk in path], cols, *frames, pairs)


def _score_pairs(res, table, other, hops, via, cols, r: pd.DataFrame, s: pd.DataFrame, pairs) -> None:
    if len(r) == 0 or len(s) == 0:
        res.notes.append(f"{hops}-hop pairs of {table} with {other} not scored: no joined rows")
        return
    enc = []
    for i, (spec, _) in enumerate(cols):
        rc, sc = r[f"c{i}"], s[f"c{i}"]
        a, b, n, _ = spec.codes(rc, sc)
        num = (rc.to_numpy(float), sc.to_numpy(float)) if spec.role == "numerical" else None
        enc.append((a, b, n, num))
    for i, j in pairs:
        (ra, sa, na, numa), (rb, sb, nb, numb) = enc[i], enc[j]
        entry = {"table": table, "other": other, "hops": hops, "via": via,
                 "column_a": cols[i][0].name, "column_b": cols[j][0].name}
        if numa is not None and numb is not None:
            score = stats.correlation_similarity(numa[0], numb[0], numa[1], numb[1])
            entry["metric"] = "CorrelationSimilarity"
        else:
            score = stats.contingency_similarity(ra, rb, sa, sb, na, nb)
            entry["metric"] = "ContingencySimilarity"
        if score is None:
            continue
        entry["score"] = _pct(score)
        res.pairs.append(entry)


# -- privacy ---------------------------------------------------------------------------------------
def _privacy(ws, keys, modeled, tables, views, res, seed) -> None:
    dcr = {}
    for k in keys:
        d = privacy_metrics.dcr(ws, modeled[k], views.sample["r"][k], views.sample["s"][k], seed)
        if d:
            dcr[k] = d
    found = []
    for k in keys:  # the columns the copy generates: none of their values should be a real one
        present = set(ws.columns(views.full["s"][k]))
        for col, gen in tables[k]["generated_columns"].items():
            if col in present:
                found.append({"table": k, "column": col, "generator": gen,
                              **privacy_metrics.copied_values(ws, col, views.full["r"][k], views.full["s"][k])})
    res.privacy = {"dcr": dcr, "pii": found,
                   "dcr_method": "L1 on modeled columns: numbers min-max scaled on real, categories one-hot x 1/2; "
                                 "synthetic rows vs a real sample; baseline: a real holdout vs the rest of that sample"}


# -- discriminators --------------------------------------------------------------------------------
def _discriminators(ws, schema, keys, modeled, kept, views, res, seed) -> None:
    edges = _fk_edges(schema, keys)
    query = ws.query_df
    for k in keys:
        if k in kept:
            continue
        out = {}
        children = [(c, fk) for p, c, fk in edges if p == k and c != k]
        for name, kids in (("dda", children), ("c2st", [])):
            if name == "dda" and not kids:
                continue
            if name == "c2st" and not modeled[k]:
                continue
            side = {sd: detection.features(query, views.full[sd][k], modeled[k],
                                           [(c, views.full[sd][c], fk, modeled[c]) for c, fk in kids])
                    for sd in ("r", "s")}
            out[name] = detection.discriminate(side["r"], side["s"], seed=seed)
        res.detection[k] = out


# -- aggregation -----------------------------------------------------------------------------------
def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 2) if xs else None


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _overall(res: ReportResult) -> None:
    card = [c["score"] for c in res.cardinality]
    one = [c["score"] for c in res.columns]
    res.scores["cardinality"], res.counts["cardinality"] = _mean(card), sum(x is not None for x in card)
    res.scores["one_way"], res.counts["one_way"] = _mean(one), sum(x is not None for x in one)
    hops = sorted({p["hops"] for p in res.pairs} | {0, 1})
    for h in hops:
        xs = [p["score"] for p in res.pairs if p["hops"] == h]
        res.scores[f"{h}_hop"], res.counts[f"{h}_hop"] = _mean(xs), len(xs)
    res.scores["avg_2way"], res.counts["avg_2way"] = _mean(p["score"] for p in res.pairs), len(res.pairs)
    for k, t in res.tables.items():
        sc = t["scores"]
        sc["one_way"] = _mean(c["score"] for c in res.columns if c["table"] == k)
        sc["cardinality"] = _mean(c["score"] for c in res.cardinality if c["child"] == k)
        for h in hops:
            sc[f"{h}_hop"] = _mean(p["score"] for p in res.pairs if p["table"] == k and p["hops"] == h)
        sc["avg_2way"] = _mean(p["score"] for p in res.pairs if p["table"] == k)
