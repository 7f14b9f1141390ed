"""Benchmark of the model alone on MovieLens: fit + sample with a preset, time per table and stage,
sampling rows/s, peak RSS, and a few fidelity numbers (row counts, children per parent, cross-table association).

    python bench/model_bench.py [--preset fast] [--method clava] [--scale 1.0] [--set k=20 --set eta=1.0]
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from clavadb.keys import fk_column
from clavadb.model import Synthesizer
from clavadb.schema import Column, ForeignKey, Schema, Table

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("CLAVADB_DATASETS", ROOT.parent / "shared" / "datasets"))
ORDER = ["actor", "director", "movie", "user", "movie2actor", "movie2director", "rating"]
LINKS = {
    "movie2actor": ["movie", "actor"],
    "movie2director": ["movie", "director"],
    "rating": ["user", "movie"],
}


def movielens() -> tuple[Schema, dict[str, pd.DataFrame]]:
    frames = {t: pd.read_csv(DATASETS / "movielens" / f"{t}.csv") for t in ORDER}
    tables = {}
    for t in ORDER:
        df = frames[t]
        cols = [Column(c, "integer" if df[c].dtype.kind in "iu" else "text",
                       "int" if df[c].dtype.kind in "iu" else "text", nullable=False) for c in df.columns]
        fks = [ForeignKey(f"{t}_{p}_fkey", [f"{p}_id"], p, [f"{p}_id"]) for p in LINKS.get(t, [])]
        tables[t] = Table(t, columns=cols, primary_key=[df.columns[0]], foreign_keys=fks, row_count=len(df))
    return Schema("duckdb", tables), frames


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    from scipy.stats import chi2_contingency

    tab = pd.crosstab(a, b)
    if min(tab.shape) < 2:
        return 0.0
    chi2 = chi2_contingency(tab, correction=False)[0]
    return float(np.sqrt(chi2 / (tab.to_numpy().sum() * (min(tab.shape) - 1))))


def cross_table(schema: Schema, frames: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame]) -> list[tuple]:
    """Cramér's V between each child column and each parent column across the FK, real vs synthetic."""
    rows = []
    for child, parents in LINKS.items():
        ccols = [c for c in frames[child].columns if not c.endswith("_id")]
        for parent in parents:
            fk = next(f for f in schema.tables[child].foreign_keys if f.ref_table == parent)
            real = frames[child].merge(frames[parent], on=f"{parent}_id")
            pos = out[child][fk_column(fk)].to_numpy(dtype=np.int64)
            syn = pd.concat([out[child].reset_index(drop=True),
                             out[parent].iloc[pos].reset_index(drop=True)], axis=1)
            for cc in ccols:
                for pc in [c for c in frames[parent].columns if not c.endswith("_id")]:
                    rows.append((f"{child}.{cc}", f"{parent}.{pc}", cramers_v(real[cc], real[pc]),
                                 cramers_v(syn[cc], syn[pc])))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--method", default="clava")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--set", action="append", default=[], help="override, e.g. k=20")
    args = ap.parse_args()
    overrides = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    schema, frames = movielens()
    t0 = time.perf_counter()
    syn = Synthesizer(schema, preset=args.preset, method=args.method, **overrides).fit(frames)
    fit_s = time.perf_counter() - t0
    print(f"fit {fit_s:.1f}s  (preset {args.preset}, method {args.method}, overrides {overrides})")
    for key, stages in syn.stats["fit_seconds"].items():
        print(f"  {key:16s} rows {len(frames[key]):7d}  " + "  ".join(f"{k} {v:.1f}s" for k, v in stages.items()))
    for edge, rate in syn.stats["agree_rate"].items():
        print(f"  agree {edge}: {rate:.3f}")
    out = syn.sample(scale=args.scale, seed=0)
    print(f"sample {syn.stats['sample_seconds']:.1f}s  {syn.stats['sample_rows']} rows  "
          f"{syn.stats['sample_rows_per_s']:.0f} rows/s")
    for key in ORDER:
        print(f"  {key:16s} real {len(frames[key]):7d}  synthetic {len(out[key]):7d}")
    for child, parents in LINKS.items():
        for parent in parents:
            fk = next(f for f in schema.tables[child].foreign_keys if f.ref_table == parent)
            real = frames[child].groupby(f"{parent}_id").size().reindex(frames[parent][f"{parent}_id"], fill_value=0)
            synth = out[child][fk_column(fk)].value_counts().reindex(range(len(out[parent])), fill_value=0)
            print(f"  children per {parent:8s} in {child:15s} real mean {real.mean():.2f} sd {real.std():.2f}"
                  f"  synthetic mean {synth.mean():.2f} sd {synth.std():.2f}")
    within = []
    for key in ORDER:
        cols = [c for c in frames[key].columns if not c.endswith("_id")]
        for i, a in enumerate(cols):
            for b in cols[i + 1:]:
                within.append((cramers_v(frames[key][a], frames[key][b]), cramers_v(out[key][a], out[key][b])))
    print(f"within-table Cramér's V, mean |real - synthetic| = {np.mean([abs(r - s) for r, s in within]):.3f} "
          f"over {len(within)} pairs")
    tvd = {f"{k}.{c}": 0.5 * (frames[k][c].value_counts(normalize=True)
                              .subtract(out[k][c].value_counts(normalize=True), fill_value=0).abs().sum())
           for k in ORDER for c in frames[k].columns if not c.endswith("_id")}
    print(f"1-way: mean total variation distance = {np.mean(list(tvd.values())):.3f} over {len(tvd)} columns; "
          "worst: " + ", ".join(f"{c} {v:.3f}" for c, v in sorted(tvd.items(), key=lambda x: -x[1])[:4]))
    pairs = cross_table(schema, frames, out)
    err = np.mean([abs(r - s) for _, _, r, s in pairs])
    print(f"cross-table Cramér's V, mean |real - synthetic| = {err:.3f} over {len(pairs)} pairs")
    for c, p, r, s in sorted(pairs, key=lambda x: -x[2])[:8]:
        print(f"  {c:24s} ~ {p:20s} real {r:.3f}  synthetic {s:.3f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"total {time.perf_counter() - t0:.1f}s  peak RSS {rss:.2f} GiB  (cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
