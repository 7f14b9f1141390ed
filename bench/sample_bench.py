"""Sampling speed from a model file: `clavadb sample` wall time, and the sampler side by side.

For each dataset (a bundled example, trained once with the chosen preset and cached under bench/out/):
1. `clavadb sample MODEL new.duckdb` as a user runs it, a fresh process each time: wall seconds (median of
   --reps) and the stages the CLI reports;
2. in one process, alternating, the same sampling run with the NumPy backend and with the torch backend
   (same threads), rows/s of the model stage and their ratio;
3. the NumPy backend on 1 and 2 local threads, and on a local Ray cluster with 1 and 2 workers (--ray),
   checking that every run gives the same rows.

    python bench/sample_bench.py --datasets chinook movielens --reps 3 --ray
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"


def model_for(dataset: str, preset: str) -> Path:
    """The cached model file of a bundled example, trained on first use."""
    OUT.mkdir(parents=True, exist_ok=True)
    model = OUT / f"{dataset}-{preset}.clava"
    if not model.exists():
        db = OUT / f"{dataset}.duckdb"
        if not db.exists():
            subprocess.run([sys.executable, "-m", "clavadb.cli", "example", dataset, str(db)], check=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "clavadb.cli", "train", str(db), "-o", str(model), "--preset",
                        preset, "--quiet"], check=True)
        print(f"{dataset}: trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return model


def cli_sample(model: Path, reps: int) -> dict:
    walls, stages = [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "clavadb.cli", "sample", str(model),
                                  str(Path(tmp) / "s.duckdb"), "--seed", "1", "--json"],
                                 check=True, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            lines = [json.loads(x) for x in run.stdout.splitlines() if x.startswith("{")]
            stages.append(next((x.get("seconds") for x in reversed(lines) if "seconds" in x), {}))
    return {"wall_s": round(statistics.median(walls), 2), "walls": [round(w, 2) for w in walls],
            "stages_s": stages[len(stages) // 2]}


def frames_equal(a: dict, b: dict) -> bool:
    return all(a[k].equals(b[k]) for k in a)


def in_process(model: Path, reps: int, ray: bool) -> dict:
    from clavadb.executor import LocalExecutor, RayExecutor
    from clavadb.model import Synthesizer
    from clavadb.model.sample import Sampler

    syn = Synthesizer.load(model)

    def run(backend: str, executor) -> tuple[float, int, dict]:
        sampler = Sampler(syn.schema, syn.settings, syn.method, "cpu", syn.tables, syn.edges, 1, executor,
                          backend)
        t0 = time.perf_counter()
        out = sampler.run(1.0)
        return time.perf_counter() - t0, sum(len(f) for f in out.values()), out

    res: dict = {}
    import torch

    torch.set_num_threads(2)
    for _ in range(reps):  # alternating, so drift in the machine's load hits both alike
        for backend in ("numpy", "torch"):
            secs, rows, _ = run(backend, LocalExecutor(2))
            res.setdefault(backend, []).append(rows / secs)
    out = {f"{b}_rows_per_s": int(statistics.median(v)) for b, v in res.items()}
    out["numpy_over_torch"] = round(out["numpy_rows_per_s"] / out["torch_rows_per_s"], 2)
    base = None
    for workers in (1, 2):
        secs, rows, frames = run("numpy", LocalExecutor(workers))
        out[f"local_{workers}_rows_per_s"] = int(rows / secs)
        base = base or frames
        out[f"local_{workers}_same_rows"] = frames_equal(base, frames)
    if ray:
        import ray as _ray

        for workers in (1, 2):
            _ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            try:
                secs, rows, frames = run("numpy", RayExecutor())
            finally:
                _ray.shutdown()
            out[f"ray_{workers}_rows_per_s"] = int(rows / secs)
            out[f"ray_{workers}_same_rows"] = frames_equal(base, frames)
    out["rows"] = rows
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["chinook", "movielens"])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ray", action="store_true", help="also run on a local Ray cluster of 1 and 2 workers")
    args = ap.parse_args()
    np.set_printoptions(precision=3)
    for ds in args.datasets:
        model = model_for(ds, args.preset)
        result = {"dataset": ds, "preset": args.preset, "model_mb": round(model.stat().st_size / 1e6, 1),
                  "cli": cli_sample(model, args.reps), **in_process(model, args.reps, args.ray)}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
