"""The discriminators on real MovieLens: a copy with shuffled columns is told apart, a real-vs-real split
is not, and a copy of the real rows is flagged copy-like, not scored as a good copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from clavadb.examples import HERE, example_schema
from clavadb.report import detection
from clavadb.report.columns import classify
from clavadb.workspace import Workspace

# movie: 3,832 rows whose aggregates (ratings, cast, directors per movie) make each row near unique
PARENT = "movie"


@pytest.fixture(scope="module")
def movielens():
    schema = example_schema("movielens")
    return schema, {k: pq.read_table(HERE / "movielens" / f"{k}.parquet").to_pandas() for k in schema.tables}


def _dda(schema, real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame], importance: bool = False):
    """DDA of PARENT: its rows plus the aggregates of its children, each side in its own views."""
    ws = Workspace()
    try:
        for side, frames in (("r", real), ("s", synth)):
            for i, df in enumerate(frames.values()):
                ws.register(f"{side}{i}", df)
        view = {k: i for i, k in enumerate(schema.tables)}
        specs = {k: [s for s in classify(ws, schema.tables[k], f"r{view[k]}").values() if s.modeled]
                 for k in schema.tables}
        kids = [(c, fk) for c, t in schema.tables.items() for fk in t.foreign_keys if fk.ref_table == PARENT]
        feats = {side: detection.features(ws.query_df, f"{side}{view[PARENT]}", specs[PARENT],
                                          [(c, f"{side}{view[c]}", fk, specs[c]) for c, fk in kids])
                 for side in ("r", "s")}
        return detection.discriminate(feats["r"], feats["s"], importance=importance)
    finally:
        ws.close()


def test_shuffled_copy_is_told_apart(movielens):
    schema, real = movielens
    rng = np.random.default_rng(0)
    shuffled = {}
    for k, df in real.items():
        keys = set(schema.tables[k].primary_key) | schema.tables[k].fk_columns()
        shuffled[k] = pd.DataFrame({c: df[c].to_numpy() if c in keys else df[c].to_numpy()[rng.permutation(len(df))]
                                    for c in df.columns})
    d = _dda(schema, real, shuffled, importance=True)
    assert d["accuracy"] > 0.6 and d["p_detect"] < 1e-6 and not d["copy_like"]
    assert d["se"] == pytest.approx(np.sqrt(d["accuracy"] * (1 - d["accuracy"]) / (2 * d["rows_per_side"])), rel=1e-6)
    top = [f["feature"] for f in d["top_features"]]
    assert top and all(f["importance"] > 0 for f in d["top_features"])
    # the movie's own columns were shuffled against their children: the aggregates and the row give it away
    assert any(":" in f for f in top)


def test_real_vs_real_split_is_indistinguishable(movielens):
    schema, real = movielens
    rng = np.random.default_rng(1)
    half = rng.random(len(real[PARENT])) < 0.5
    a, b = dict(real), dict(real)  # children whole on both sides: each half's parents keep their real aggregates
    a[PARENT], b[PARENT] = real[PARENT][half], real[PARENT][~half]
    d = _dda(schema, a, b)
    assert abs(d["accuracy"] - 0.5) < 4 * d["se"]  # within noise of chance
    assert not d["copy_like"]


def test_copy_of_real_rows_is_copy_like(movielens):
    schema, real = movielens
    d = _dda(schema, real, {k: df.copy() for k, df in real.items()})
    assert d["real_unique_share"] >= detection.UNIQUE_SHARE
    assert d["accuracy"] < 0.4 and d["p_copy"] < 1e-6
    assert d["copy_like"]
