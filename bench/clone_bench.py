"""Wall time and peak memory of `clavadb clone` of MovieLens into DuckDB, the end-to-end user job.

    python bench/clone_bench.py [--preset fast] [--scale 1.0]

Loads the bundled MovieLens example into a DuckDB file, runs the CLI in a child process (so its peak RSS
is its own), and prints the CLI's JSON summary with the timings per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--scale", default="1.0")
    ap.add_argument("--example", default="movielens")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "src.duckdb"), os.path.join(tmp, "dst.duckdb")
        subprocess.run([sys.executable, "-m", "clavadb.cli", "example", args.example, src, "--quiet"], check=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "clavadb.cli", "clone", src, dst, "--preset", args.preset, "--scale", args.scale,
             "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(proc.stderr)
        summary = [json.loads(ln) for ln in proc.stdout.splitlines() if '"summary"' in ln][-1]
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        print(json.dumps({
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "command": f"clavadb clone {args.example}.duckdb out.duckdb --preset {args.preset} --scale {args.scale}",
            "wall_seconds": round(wall, 1), "peak_rss_gib": round(rss, 2),
            "rows_written": summary["rows"], "stages": summary["seconds"],
        }, indent=2))


if __name__ == "__main__":
    main()
