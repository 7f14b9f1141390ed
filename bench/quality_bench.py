"""Fidelity of clavadb on MovieLens: the ClavaDDPM engine vs the "independent" (Single-T) baseline,
next to the paper's MovieLens figures.

    python bench/quality_bench.py [--preset fast] [--methods clava independent shuffled] [--seeds 0 1 2] [--write]

Each method runs in its own child process (so peak RSS is its own): load MovieLens into DuckDB, read it
through the DuckDB adapter, fit, sample one synthetic database per seed, turn row positions into keys
(PK = position + 1; FK = the parent's key at the sampled position), and score it with
clavadb.report.evaluate, discriminators (DDA, C2ST) included. "shuffled" is a control, not a model: the
real tables with every non-key column shuffled on its own (marginals kept, every dependency broken).
Prints a markdown table; --write puts it under "## Fidelity" in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"cardinality": 99.07, "one_way": 99.34, "0_hop": 98.69, "1_hop": 96.19, "avg_2way": 97.11}
LABELS = {"cardinality": "cardinality", "one_way": "1-way", "0_hop": "0-hop", "1_hop": "1-hop",
          "avg_2way": "avg 2-way"}


def with_keys(schema, synth: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Key values for sampled frames: PK columns = position + 1, FK columns = the parent's values at the
    "__fk__<name>" position (NA stays NULL)."""
    from clavadb.keys import fk_column

    out = {k: df.copy() for k, df in synth.items()}
    for k, df in out.items():
        t = schema.tables[k]
        for c in t.primary_key:
            if c not in t.fk_columns():
                df[c] = np.arange(1, len(df) + 1, dtype=np.int64)
    for k in schema.graph().top_down() + [c for _, c, _ in schema.graph().deferred]:
        df = out[k]
        for fk in schema.tables[k].foreign_keys:
            pos = df[fk_column(fk)].to_numpy(dtype="float64", na_value=np.nan)
            ok = ~np.isnan(pos)
            parent = out[fk.ref_table]
            for col, ref in zip(fk.columns, fk.ref_columns, strict=True):
                vals = pd.array([pd.NA] * len(df), dtype="Int64")
                vals[ok] = parent[ref].to_numpy()[pos[ok].astype(np.int64)]
                df[col] = vals
    for k, df in out.items():
        out[k] = df[[c for c in schema.tables[k].column_names if c in df.columns]]
    return out


def shuffled(schema, real: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """The control: each non-key column permuted on its own, keys as they are."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, df in real.items():
        keys = set(schema.tables[k].primary_key) | schema.tables[k].fk_columns()
        out[k] = pd.DataFrame({c: df[c].to_numpy() if c in keys else df[c].to_numpy()[rng.permutation(len(df))]
                               for c in df.columns})
    return out


def worker(method: str, preset: str, seeds: list[int], max_rows: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from datasets import load_duckdb

    from clavadb.adapters import open_adapter
    from clavadb.model import Synthesizer
    from clavadb.report.metrics import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "movielens.duckdb")
        load_duckdb(path, "movielens")
        with open_adapter(path) as db:
            schema = db.introspect()
            real = {k: db.read_table(t).to_pandas() for k, t in schema.tables.items()}
    t0 = time.perf_counter()
    model = Synthesizer(schema, preset=preset, method=method).fit(real) if method != "shuffled" else None
    fit_s = time.perf_counter() - t0
    runs = []
    for seed in seeds:
        t1 = time.perf_counter()
        synth = with_keys(schema, model.sample(scale=1.0, seed=seed)) if model else shuffled(schema, real, seed)
        sample_s = time.perf_counter() - t1
        res = evaluate(schema, real, synth, max_rows=max_rows, seed=seed)
        runs.append({"seed": seed, "sample_seconds": round(sample_s, 1), "report_seconds": res.seconds,
                     "scores": res.scores, "violations": sum(v.violations for v in res.validity.values()),
                     "tables": {k: t["scores"] for k, t in res.tables.items()},
                     "dcr": {k: {"median": d["median"], "holdout_median": d["holdout_median"],
                                 "exact_copies": d["exact_copies"], "holdout_exact_copies": d["holdout_exact_copies"]}
                             for k, d in res.privacy["dcr"].items()},
                     "detection": {k: {m: {"accuracy": d["accuracy"], "se": d["se"], "copy_like": d["copy_like"],
                                           "top": [f["feature"] for f in d["top_features"][:3]]}
                                       for m, d in t.items() if d} for k, t in res.detection.items()}})
    return {"method": method, "preset": preset, "fit_seconds": round(fit_s, 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2), "runs": runs}


def table(results: list[dict]) -> str:
    head = "| measure | " + " | ".join("shuffled (control)" if r["method"] == "shuffled" else f"{r['method']} ({r['preset']})" for r in results) + " | paper ClavaDDPM |"
    lines = [head, "|" + "---|" * (len(results) + 2)]
    for key, label in LABELS.items():
        cells = []
        for r in results:
            xs = [run["scores"].get(key) for run in r["runs"] if run["scores"].get(key) is not None]
            cells.append("n/a" if not xs else f"{np.mean(xs):.2f}" + (f" ± {np.std(xs):.2f}" if len(xs) > 1 else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {PAPER[key]:.2f} |")
    lines.append("| constraint violations | " + " | ".join(
        str(max(run["violations"] for run in r["runs"])) for r in results) + " | |")
    lines.append("| fit wall time (s) | " + " | ".join(str(r["fit_seconds"]) for r in results) + " | |")
    lines.append("| sample wall time (s) | " + " | ".join(
        str(r["runs"][0]["sample_seconds"]) for r in results) + " | |")
    lines.append("| peak RSS (GiB) | " + " | ".join(str(r["peak_rss_gib"]) for r in results) + " | |")
    lines.append("| report time (s) | " + " | ".join(str(r["runs"][0]["report_seconds"]) for r in results) + " | |")
    det = results[0]["runs"][0]["detection"]
    for m in ("dda", "c2st"):  # accuracy, 0.5 = indistinguishable; SyntheRela's published DDA is for MovieLens
        for k in (k for k in det if m in det[k]):
            cells = []
            for r in results:
                d = r["runs"][0]["detection"].get(k, {}).get(m)
                cells.append("n/a" if not d else f"{d['accuracy']:.3f} ± {d['se']:.3f}"
                             + (" copy-like" if d["copy_like"] else ""))
            lines.append(f"| {m.upper()} {k} | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    doc = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"## Fidelity\n\n{text.strip()}\n"
    if re.search(r"^## Fidelity\s*$", doc, flags=re.M):
        doc = re.sub(r"^## Fidelity\s*$.*?(?=^## |\Z)", section + "\n", doc, flags=re.M | re.S)
    else:
        doc = doc.rstrip() + "\n\n" + section
    path.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--methods", nargs="+", default=["clava", "independent"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--max-rows", type=int, default=50_000)
    ap.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.preset, args.seeds, args.max_rows)))
        return
    results = []
    for m in args.methods:
        cmd = [sys.executable, __file__, "--worker", m, "--preset", args.preset, "--max-rows", str(args.max_rows),
               "--seeds", *map(str, args.seeds)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{m} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1], indent=1), file=sys.stderr)
    text = (f"MovieLens (7 tables, 352,868 rows), `python bench/quality_bench.py --preset {args.preset} --seeds "
            f"{' '.join(map(str, args.seeds))}`; {platform.machine()}, {os.cpu_count()} cores, CPU only; "
            f"scores 0-100 (mean ± std over sample seeds), pair metrics on samples of {args.max_rows:,} rows.\n\n"
            + table(results))
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
