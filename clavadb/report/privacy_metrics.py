"""Privacy checks: distance to closest record (DCR) with a real holdout baseline, and copied personal data
(in the columns the copy generates: clavadb.privacy decides which, the report only audits them).

DCR: rows are encoded on the modeled columns (numbers min-max scaled on the real range, categories one-hot
at weight 1/2 so that a differing category costs 1 in L1, like a full-range numeric difference; a NULL
number costs 1 against a non-NULL one). Synthetic rows are compared with a sample of the real rows (the
reference); as a baseline, a fifth of that sample (the holdout) is compared with the other four fifths.
Synthetic rows should be no closer to the real rows than real rows are to each other; exact copies are
rows at distance 0 (with few, discrete columns the real rows repeat too: read them against the baseline).
Quasi-identifiers: the share of synthetic rows whose combination of categorical columns is unique in the
reference (one real row's alone), against the same share of the holdout rows in the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from clavadb import pipeline
from clavadb.sql import qident
from clavadb.workspace import Workspace

from .columns import ColumnSpec

DCR_QUERIES = 2_000  # synthetic rows (and holdout rows) whose DCR is computed
DCR_REFERENCE = 20_000  # real rows they are compared with
DCR_BINS = 20
UNIQUE_SHARE = pipeline.UNIQUE_SHARE  # tables this unique are the ones a copied row can leak from

def _encode(specs: list[ColumnSpec], real: pd.DataFrame, others: list[pd.DataFrame]) -> list[np.ndarray]:
    """Numeric matrices for real and each frame of `others`, encoded as described in the module doc."""
    frames = [real, *others]
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for s in specs:
        if s.role == "numerical":
            span = (s.hi - s.lo) or 1.0
            for out, f in zip(blocks, frames, strict=False):
                x = (f[s.name].to_numpy(float) - s.lo) / span
                miss = np.isnan(x)
                out.append(np.where(miss, 0.0, x)[:, None])
                out.append(miss[:, None].astype(float))
        else:
            both = pd.concat([f[s.name] for f in frames], ignore_index=True).astype(object)
            codes, uniques = pd.factorize(both, use_na_sentinel=False)
            eye = np.eye(max(len(uniques), 1)) * 0.5
            start = 0
            for out, f in zip(blocks, frames, strict=False):
                out.append(eye[codes[start: start + len(f)]])
                start += len(f)
    return [np.hstack(b) if b else np.zeros((len(f), 0)) for b, f in zip(blocks, frames, strict=False)]


def dcr(ws: Workspace, specs: list[ColumnSpec], real_view: str, synth_view: str,
        seed: int = 0) -> dict | None:
    """DCR statistics of one table, or None when it has no modeled column or too few rows. The views
    are expected to be samples already (evaluate passes its max_rows samples); rows are subsampled here."""
    if not specs:
        return None
    sel = ", ".join(f"{s.expr()} AS {qident(s.name)}" for s in specs)
    real = ws.query_df(f"SELECT {sel} FROM {real_view}")
    synth = ws.query_df(f"SELECT {sel} FROM {synth_view}")
    if len(real) < 4 or len(synth) == 0:
        return None
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real))[:DCR_REFERENCE]
    n_hold = min(DCR_QUERIES, len(perm) // 5)
    ref, hold, rest = real.iloc[perm], real.iloc[perm[:n_hold]], real.iloc[perm[n_hold:]]
    synth = synth.iloc[rng.permutation(len(synth))[:DCR_QUERIES]]
    x_ref, x_hold, x_rest, x_syn = _encode(specs, ref, [hold, rest, synth])
    d_syn = _nearest(x_ref, x_syn)
    d_hold = _nearest(x_rest, x_hold)  # holdout rows against the real rows other than themselves
    top = float(max(d_syn.max(), d_hold.max())) or 1.0
    edges = np.linspace(0, top, DCR_BINS + 1)
    cats = [sp.name for sp in specs if sp.role != "numerical"]
    qi_syn, qi_hold = (_unique_combinations(ref, synth, cats), _unique_combinations(rest, hold, cats)) if cats \
        else (None, None)
    return {
        # share of distinct real rows: in a table of few, repeated rows an exact match identifies no one
        "real_unique_share": float(len(real.drop_duplicates()) / len(real)),
        # quasi-identifiers: share of rows whose combination of the categorical columns is one real row's alone
        "qi_columns": cats,
        "qi_unique_share": qi_syn,
        "holdout_qi_unique_share": qi_hold,
        "reference_rows": len(ref),
        "synthetic_rows": len(synth),
        "holdout_rows": len(hold),
        "median": float(np.median(d_syn)),
        "p5": float(np.percentile(d_syn, 5)),
        "holdout_median": float(np.median(d_hold)),
        "holdout_p5": float(np.percentile(d_hold, 5)),
        "exact_copies": float(np.mean(d_syn < 1e-9)),
        "holdout_exact_copies": float(np.mean(d_hold < 1e-9)),
        "hist_edges": edges.tolist(),
        "hist_synthetic": np.histogram(d_syn, edges)[0].tolist(),
        "hist_holdout": np.histogram(d_hold, edges)[0].tolist(),
    }


def _unique_combinations(real: pd.DataFrame, query: pd.DataFrame, cols: list[str]) -> float:
    """Share of `query` rows whose values over `cols` (the categorical columns: a quasi-identifier) occur in
    exactly one row of `real`: a row that singles out one real record by those columns alone."""
    if query.empty:
        return 0.0
    both = pd.concat([real[cols], query[cols]], ignore_index=True).astype("string").fillna("\x00")
    key = pd.Series(pd.util.hash_pandas_object(both, index=False).to_numpy())
    counts = key.iloc[:len(real)].value_counts()
    return float((key.iloc[len(real):].map(counts).fillna(0) == 1).mean())


def _nearest(ref: np.ndarray, query: np.ndarray) -> np.ndarray:
    nn = NearestNeighbors(n_neighbors=1, metric="manhattan").fit(ref)
    return nn.kneighbors(query, return_distance=True)[0][:, 0]


def copied_values(ws: Workspace, column: str, real_view: str, synth_view: str) -> dict:
    """How many distinct synthetic values (and rows) of a personal-data column also occur in the real one,
    compared case- and space-insensitively."""
    norm = f"lower(trim(CAST({qident(column)} AS VARCHAR)))"
    distinct, copied, rows, copied_rows = ws.row(
        f"""WITH r AS (SELECT DISTINCT {norm} AS v FROM {real_view} WHERE {qident(column)} IS NOT NULL),
                 s AS (SELECT {norm} AS v FROM {synth_view} WHERE {qident(column)} IS NOT NULL),
                 m AS (SELECT s.v, r.v IS NOT NULL AS hit FROM s LEFT JOIN r ON s.v = r.v)
            SELECT count(DISTINCT v), count(DISTINCT v) FILTER (WHERE hit), count(*), count(*) FILTER (WHERE hit)
            FROM m""")
    return {"distinct_values": distinct, "copied_values": copied, "rows": rows, "copied_rows": copied_rows}
