"""The report on real MovieLens: a copy scores ~100, broken dependencies score clearly lower, and
run_report reads two DuckDB files end to end and writes HTML and JSON."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from clavadb.adapters import open_adapter
from clavadb.report.metrics import evaluate
from clavadb.report.run import run_report

MAX_ROWS = 20_000  # keeps the file fast; sampling itself is exercised on actor, movie2actor, rating
# the discriminators are tested in test_report_detection.py and test_report_honest.py; off here for speed


@pytest.fixture(scope="module")
def movielens(duckdb_movielens):
    with open_adapter(duckdb_movielens) as db:
        schema = db.introspect()
        frames = {k: db.read_table(t).to_pandas() for k, t in schema.tables.items()}
    return schema, frames


@pytest.fixture(scope="module")
def copy_result(movielens):
    schema, frames = movielens
    return evaluate(schema, frames, {k: df.copy() for k, df in frames.items()}, max_rows=MAX_ROWS, discriminators=False)


def test_copy_scores_100(copy_result):
    res = copy_result
    assert set(res.scores) == {"cardinality", "one_way", "0_hop", "1_hop", "avg_2way"}
    for key, val in res.scores.items():
        assert val == pytest.approx(100.0), key
    # MovieLens' small-integer and text columns are all categorical, keys skipped
    assert res.counts == {"cardinality": 6, "one_way": 14, "0_hop": 11, "1_hop": 19, "avg_2way": 30}
    assert all(c["role"] == "categorical" for c in res.columns)
    assert res.validity_totals() == dict.fromkeys(res.validity_totals(), 0)
    assert any("samples of at most 20,000 rows" in n and "movie2actor" in n for n in res.notes)
    assert [k for k, t in res.tables.items() if t["sampled"]] == ["actor", "movie2actor", "rating"]
    json.dumps(res.to_dict())


def test_shuffled_columns_and_random_fks_score_lower(movielens, copy_result):
    schema, frames = movielens
    rng = np.random.default_rng(0)
    broken = {}
    for k, df in frames.items():
        d = pd.DataFrame({c: df[c].to_numpy()[rng.permutation(len(df))] for c in df.columns})
        for fk in schema.tables[k].foreign_keys:  # every child row to a uniformly random parent
            parents = frames[fk.ref_table][fk.ref_columns[0]].to_numpy()
            d[fk.columns[0]] = parents[rng.integers(0, len(parents), len(d))]
        broken[k] = d
    res = evaluate(schema, frames, broken, max_rows=MAX_ROWS, discriminators=False)
    assert res.scores["one_way"] == pytest.approx(100.0)  # marginals kept by a shuffle
    assert res.scores["cardinality"] < 80
    assert res.scores["0_hop"] < 97
    assert res.scores["1_hop"] < 95
    assert res.scores["avg_2way"] < copy_result.scores["avg_2way"] - 4
    assert res.validity_totals()["fk_orphans"] == 0


def test_run_report_two_duckdb_files(duckdb_movielens, tmp_path):
    synth = str(tmp_path / "synth.duckdb")
    con = duckdb.connect(synth)
    try:
        con.execute(f"ATTACH '{duckdb_movielens}' AS r (READ_ONLY)")
        for t in ("actor", "director", "movie", "user", "movie2actor", "movie2director"):
            con.execute(f'CREATE TABLE "{t}" AS SELECT * FROM r."{t}"')
        # ratings skewed to 5, plus one orphan (no such user) and one duplicated key: no constraints here
        con.execute('CREATE TABLE rating AS SELECT rating_id, user_id, movie_id, '
                    'CASE WHEN rating_id % 2 = 0 THEN 5 ELSE rating END AS rating FROM r.rating')
        con.execute("INSERT INTO rating SELECT 424242424, 999999999, movie_id, 3 FROM r.movie LIMIT 1")
        con.execute("INSERT INTO rating SELECT rating_id, user_id, movie_id, rating FROM r.rating LIMIT 1")
    finally:
        con.close()
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = run_report(duckdb_movielens, synth, html=str(html), json_path=str(js), max_rows=MAX_ROWS, discriminators=False)
    assert res.validity["rating"].fk_orphans["rating_user_id_user_id_fkey"] == 1
    assert res.validity["rating"].pk_duplicates == 1
    assert res.validity_totals()["fk_orphans"] == 1
    rating = next(c for c in res.columns if c["table"] == "rating" and c["column"] == "rating")
    assert rating["score"] < 80
    others = [c["score"] for c in res.columns if c["table"] != "rating"]
    assert min(others) == pytest.approx(100.0)
    data = json.loads(js.read_text())
    assert data["scores"]["one_way"] == res.scores["one_way"]
    page = html.read_text()
    assert page.count("<svg") > 30 and "movie2actor" in page and "<script" not in page
    assert "FK orphans 1" in res.summary()
