"""Scale curve on TPC-H: fit and sample throughput of the default preset at several scale factors.

    python bench/tpch_bench.py --sf 0.01 0.1 [1]
    python bench/tpch_bench.py --sf 0.1 --db tpch.duckdb     # the database alone, for the CLI

TPC-H is generated with the tpch extension shipped by the `duckdb-extension-tpch` package; its tables declare no
keys, so they are recreated here with the primary and foreign keys of the TPC-H specification (clause 1.4).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PKS = {
    "region": ["r_regionkey"], "nation": ["n_nationkey"], "part": ["p_partkey"], "supplier": ["s_suppkey"],
    "partsupp": ["ps_partkey", "ps_suppkey"], "customer": ["c_custkey"], "orders": ["o_orderkey"],
    "lineitem": ["l_orderkey", "l_linenumber"],
}
FKS = {
    "nation": [("n_regionkey", "region(r_regionkey)")],
    "supplier": [("s_nationkey", "nation(n_nationkey)")],
    "customer": [("c_nationkey", "nation(n_nationkey)")],
    "partsupp": [("ps_partkey", "part(p_partkey)"), ("ps_suppkey", "supplier(s_suppkey)")],
    "orders": [("o_custkey", "customer(c_custkey)")],
    "lineitem": [("l_orderkey", "orders(o_orderkey)"), ("l_partkey, l_suppkey", "partsupp(ps_partkey, ps_suppkey)")],
}
ORDER = ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def tpch_extension() -> str:
    import duckdb_extension_tpch

    root = Path(duckdb_extension_tpch.__file__).parent / "extensions"
    return str(next(root.rglob("tpch.duckdb_extension")))


def make_tpch(path: str, sf: float) -> None:
    gen = duckdb.connect()
    gen.execute(f"INSTALL '{tpch_extension()}'; LOAD tpch; CALL dbgen(sf={sf})")
    out = duckdb.connect(path)
    for t in ORDER:
        cols = gen.execute(f"DESCRIBE {t}").fetchall()
        body = [f"{c[0]} {c[1]} NOT NULL" for c in cols]
        body.append(f"PRIMARY KEY ({', '.join(PKS[t])})")
        body += [f"FOREIGN KEY ({c}) REFERENCES {ref}" for c, ref in FKS.get(t, [])]
        out.execute(f"CREATE TABLE {t} ({', '.join(body)})")
        arrow = gen.execute(f"SELECT * FROM {t}").to_arrow_table()
        out.register("src", arrow)
        out.execute(f"INSERT INTO {t} SELECT * FROM src")
        out.unregister("src")
    out.close()
    gen.close()


def run(sf: float, preset: str) -> dict:
    from clavadb import pipeline
    from clavadb.adapters import open_adapter

    class LoggedTimer(pipeline.Timer):
        """Each stage's end on stderr as it happens, so a long run shows where it is."""

        def run(self, stage, fn):
            try:
                return super().run(stage, fn)
            finally:
                print(f"{time.strftime('%H:%M:%S')} sf {sf}: {stage} {self.stages[stage]:.1f} s, "
                      f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "tpch.duckdb"), os.path.join(tmp, "out.duckdb")
        timer = LoggedTimer()
        timer.run("tpch_generation", lambda: make_tpch(src, sf))
        opts = pipeline.Options(preset=preset)
        source = timer.run("read", lambda: pipeline.read_source(src, opts))
        rows_in = sum(len(f) for f in source.frames.values())
        syn = pipeline.train(source, opts, timer=timer)
        with open_adapter(dst, read_only=False) as out:
            synth = pipeline.generate(syn, 1.0, 0, check_eval=out.evaluate_checks, timer=timer)
            timer.run("write", lambda: out.write(synth.schema, pipeline.to_arrow(synth.frames)))
        rows_out = sum(len(f) for f in synth.frames.values())
        sample_s = sum(timer.stages.get(k, 0) for k in ("sample", "keys", "generate", "privacy", "constraints"))
        return {
            "sf": sf, "rows_in": rows_in, "rows_out": rows_out,
            "fit_seconds": round(timer.stages["fit"], 1), "fit_rows_per_s": round(rows_in / timer.stages["fit"]),
            "sample_seconds": round(sample_s, 1), "sample_rows_per_s": round(rows_out / sample_s),
            "stages": {k: round(v, 1) for k, v in timer.stages.items()},
            "sample_model_rows_per_s": round(syn.stats["sample_rows_per_s"]),
            "sample_table_seconds": {k: {st: round(v, 1) for st, v in t.items()}
                                     for k, t in syn.stats["sample_table_seconds"].items()},
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, nargs="+", default=[0.01, 0.1])
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--db", help="only write the TPC-H database (keys declared) at the first --sf to this file, "
                                 "for runs of the CLI on it")
    args = ap.parse_args()
    if args.db:
        make_tpch(args.db, args.sf[0])
        return
    for sf in args.sf:
        t0 = time.perf_counter()
        result = run(sf, args.preset)
        result["wall_seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
