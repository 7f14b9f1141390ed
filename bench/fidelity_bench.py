"""Fidelity across databases: `clava`, `clava` without calibration and `independent`, through the CLI.

    python bench/fidelity_bench.py --db chinook.duckdb tpch.duckdb [--variants clava nocal noctx independent]
                                   [--preset fast] [--out results.json] [--jobs 3]

For each database (a DuckDB file, e.g. from bench/corpus.py or `clavadb example`) and variant: `clavadb train`
(timed), `clavadb sample` (timed), `clavadb report --json` on the copy; every score the report computes (its
SDMetrics-style scores, and the discriminator scores where the report has them) is kept with the run's times
and the dependency checks below. Variants run as separate processes (--jobs at a time), so peak memory is each
one's own. Prints one markdown table per database.

Dependency checks on the copy, for the dependencies the model file lists (`clavadb train` found them in the
real database): the share of synthetic rows where each holds (a child column equal to its parent row's, or a
dependent equal to the value its determinant maps to in the real data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "clava": [],
    "nocal": ["--set", "calibrate=false"],
    "noctx": ["--set", "parent_context=false"],  # children conditioned on cluster labels only (the paper's way)
    "independent": ["--method", "independent"],
}


def cli(*args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "clavadb.cli", *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"clavadb {' '.join(args)} failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    return time.perf_counter() - t0, out.stdout


def dependency_checks(real: str, synth: str, model: str) -> list[dict]:
    """Share of synthetic rows where each dependency of the model file holds (see the module docstring)."""
    import duckdb
    import pandas as pd

    from clavadb.model_check import load_model
    from clavadb.sql import qident

    syn = load_model(model)
    state = syn.attachment or {}
    fks = {(k, fk.name): fk for k, t in syn.schema.tables.items() for fk in t.foreign_keys}
    out = []
    con = duckdb.connect(synth, read_only=True)
    try:
        for d in state.get("dependencies", []):
            t, dep, det = qident(d["table"]), qident(d["dependent"]), qident(d["determinant"])
            if d["kind"] == "fk":
                fk = fks.get((d["table"], d["fk"]))
                if fk is None:
                    continue
                on = " AND ".join(f"c.{qident(a)} = p.{qident(b)}" for a, b in zip(fk.columns, fk.ref_columns, strict=True))
                share = con.execute(f"SELECT avg(CASE WHEN c.{dep} IS NOT DISTINCT FROM p.{det} THEN 1 ELSE 0 END) "
                                    f"FROM {t} c JOIN {qident(d['parent'])} p ON {on}").fetchone()[0]
            else:  # "table": dependent = map(determinant); "given": map(dependent) = determinant
                keys, vals = d["mapping"]
                key_col, val_col = (det, dep) if d["kind"] == "table" else (dep, det)
                con.register("__map", pd.DataFrame({"k": [None if v is None else str(v) for v in keys],
                                                    "v": [None if v is None else str(v) for v in vals]}))
                share = con.execute(f"SELECT avg(CASE WHEN CAST(t.{val_col} AS VARCHAR) IS NOT DISTINCT FROM m.v "
                                    f"THEN 1 ELSE 0 END) FROM {t} t JOIN __map m ON CAST(t.{key_col} AS VARCHAR) = m.k"
                                    ).fetchone()[0]
                con.unregister("__map")
            arrow = "drawn given" if d["kind"] == "given" else "<-"
            out.append({"rule": f"{d['table']}.{d['dependent']} {arrow} "
                                f"{(d['parent'] + '.') if d['kind'] == 'fk' else ''}{d['determinant']}",
                        "real": d["consistency"], "synthetic": share})
    finally:
        con.close()
    return out


def run_one(db: str, variant: str, preset: str, tmp: str) -> dict:
    name = Path(db).stem
    model = os.path.join(tmp, f"{name}.{variant}.clava")
    synth = os.path.join(tmp, f"{name}.{variant}.duckdb")
    report = os.path.join(tmp, f"{name}.{variant}.json")
    fit_s, _ = cli("train", db, "-o", model, "--preset", preset, "--quiet", *VARIANTS[variant])
    sample_s, _ = cli("sample", model, synth, "--quiet")
    report_s, _ = cli("report", db, synth, "--json", report, "--model", model, "--quiet")
    res = json.loads(Path(report).read_text())
    row = {"db": name, "variant": variant, "fit_s": round(fit_s, 1), "sample_s": round(sample_s, 1),
           "report_s": round(report_s, 1), "scores": res.get("scores", {})}
    # the discriminators per table: accuracy only (the report's JSON has their features and errors too)
    row["detection"] = {t: {k: (v or {}).get("accuracy") for k, v in d.items() if isinstance(v, dict) or v is None}
                        for t, d in res.get("detection", {}).items()}
    try:
        row["dependencies"] = dependency_checks(db, synth, model)
    except Exception as e:  # the checks are an extra: a model file of another layout skips them
        row["dependencies_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict]) -> str:
    variants = [r["variant"] for r in rows]
    keys = list(dict.fromkeys(k for r in rows for k in r["scores"]))
    lines = [f"| measure | {' | '.join(variants)} |", "|---|" + "---|" * len(variants)]
    for k in keys:
        vals = [r["scores"].get(k) for r in rows]
        lines.append(f"| {k} | " + " | ".join("" if v is None else f"{v:.2f}" for v in vals) + " |")
    tables = sorted({t for r in rows for t in r.get("detection", {})})
    for t in tables:
        for kind in ("dda", "c2st"):
            vals = [r.get("detection", {}).get(t, {}).get(kind) for r in rows]
            if any(v is not None for v in vals):
                lines.append(f"| {kind} {t} | " + " | ".join("" if v is None else f"{v:.3f}" for v in vals) + " |")
    for k in ("fit_s", "sample_s"):
        lines.append(f"| {k} | " + " | ".join(str(r[k]) for r in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", nargs="+", required=True, help="DuckDB files of real databases")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", help="write every row as JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        todo = [(db, v) for db in args.db for v in args.variants]
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(lambda dv: run_one(dv[0], dv[1], args.preset, tmp), todo))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    for db in args.db:
        mine = [r for r in rows if r["db"] == Path(db).stem]
        print(f"\n### {Path(db).stem}\n\n{table(mine)}")
        for r in mine:
            for d in r.get("dependencies", []):
                print(f"- {r['variant']}: {d['rule']}: real {d['real']:.4f}, synthetic {d['synthetic']:.4f}")


if __name__ == "__main__":
    main()
