"""The report of a real Chinook copy (test preset) tells what the copy did: generated columns listed with
their generator and left out of every score, kept lookup tables shown as kept and left out of privacy and
discriminators, and the numbers on the page agree with the metrics computed from the rows."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from clavadb import pipeline
from clavadb.adapters import open_adapter
from clavadb.examples import HERE, example_schema, write_example
from clavadb.privacy import ColumnPlan
from clavadb.report import stats
from clavadb.report.html import render
from clavadb.report.metrics import evaluate
from clavadb.report.run import run_report
from clavadb.workspace import to_frame


@pytest.fixture(scope="module")
def chinook_copy():
    schema = example_schema("chinook")
    real = {k: to_frame(pq.read_table(HERE / "chinook" / f"{k}.parquet")) for k in schema.tables}
    syn = pipeline.train(pipeline.Source(schema, {k: f.copy() for k, f in real.items()}, []),
                         pipeline.Options(preset="test"))
    synth = pipeline.generate(syn, 1.0, 0).frames
    plans = [ColumnPlan(**p) for p in syn.attachment["plans"]]
    res = evaluate(schema, real, synth, plans=plans, max_rows=5_000)
    return schema, real, synth, plans, res, syn


def test_generated_columns_are_listed_and_not_scored(chinook_copy):
    _, _, _, plans, res, _ = chinook_copy
    generated = {(p.table, p.column): p.generator for p in plans if p.action == "generate"}
    assert generated  # names, e-mails, addresses, phones, free text
    listed = {(k, c): g for k, t in res.tables.items() for c, g in t["generated_columns"].items()}
    assert listed == generated
    scored = {(c["table"], c["column"]) for c in res.columns}
    paired = {(p["table"], p["column_a"]) for p in res.pairs} | {(p["other"], p["column_b"]) for p in res.pairs}
    assert not (scored | paired) & set(generated)
    for (k, c), gen in generated.items():
        assert res.tables[k]["skipped_columns"][c] == f"generated ({gen})"
    audited = {(p["table"], p["column"]) for p in res.privacy["pii"]}
    assert audited == set(generated)  # every generated column is checked for real values


def test_kept_tables_are_kept_and_out_of_privacy(chinook_copy):
    _, _, _, plans, res, _ = chinook_copy
    kept = {p.table for p in plans if p.action == "keep"}
    assert kept  # Chinook's genre, media_type, playlist
    for k in kept:
        assert res.tables[k]["kept"]
        assert k not in res.privacy["dcr"] and k not in res.detection
        assert not [c for c in res.columns if c["table"] == k]
    # a kept parent's columns still pair with its children's (the children are generated)
    assert any(p["other"] in kept and p["hops"] >= 1 for p in res.pairs)
    assert not any(k in line for line in res.privacy_findings() for k in kept)


def test_numbers_agree_with_the_metrics(chinook_copy):
    schema, real, synth, _, res, _ = chinook_copy
    one_way = [c["score"] for c in res.columns]
    assert res.scores["one_way"] == pytest.approx(round(float(np.mean(one_way)), 2))
    assert res.counts["one_way"] == len(one_way)
    total = next(c for c in res.columns if (c["table"], c["column"]) == ("invoice", "total"))
    direct = stats.ks_complement(real["invoice"]["total"].to_numpy(float), synth["invoice"]["total"].to_numpy(float))
    assert total["score"] == pytest.approx(100 * direct)
    pairs = [p["score"] for p in res.pairs]
    assert res.scores["avg_2way"] == pytest.approx(round(float(np.mean(pairs)), 2))
    for d in res.privacy["dcr"].values():  # per table, against the real holdout, histogram included
        assert sum(d["hist_synthetic"]) == d["synthetic_rows"] and sum(d["hist_holdout"]) == d["holdout_rows"]
    det = {k: v for k, v in res.detection.items() if v.get("dda")}
    assert det and all(0 <= v["dda"]["accuracy"] <= 1 for v in det.values())
    data = json.loads(json.dumps(res.to_dict()))
    assert data["detection"] == json.loads(json.dumps(res.to_dict()["detection"]))
    assert any(v["dda"]["top_features"] for v in data["detection"].values() if v.get("dda"))

    page = render(res, schema)
    assert "paper" not in page.lower()
    assert f"{res.scores['one_way']:.1f}" in page and f"{res.scores['avg_2way']:.1f}" in page
    for k, t in res.tables.items():
        for c, g in t["generated_columns"].items():
            assert f"{c} (generated ({g}))" in page or f"{k}.{c}" in page
    # privacy comes before the fidelity charts; the run is described on the page
    assert page.index("<h2>Privacy</h2>") < page.index("<h2>Column distributions</h2>")
    assert "clavadb</b> " in page and "report date" in page
    # quasi-identifiers per table, the copy's share beside the holdout's
    qi = {k: d for k, d in res.privacy["dcr"].items() if d.get("qi_unique_share") is not None}
    assert qi and "singled out by categories" in page
    for d in qi.values():
        assert f"{100 * d['qi_unique_share']:.1f}%</td><td>{100 * d['holdout_qi_unique_share']:.1f}%" in page


def test_run_report_reads_the_model_file(chinook_copy, tmp_path):
    schema, _, synth, plans, _, syn = chinook_copy
    model = tmp_path / "chinook.clava"
    syn.save(model)
    real_db, synth_db = str(tmp_path / "real.duckdb"), str(tmp_path / "synth.duckdb")
    write_example("chinook", real_db)
    with open_adapter(synth_db, read_only=False) as out:
        out.write(schema, pipeline.to_arrow(synth))
    js = tmp_path / "r.json"
    res = run_report(real_db, synth_db, model=str(model), json_path=str(js), max_rows=5_000, discriminators=False)
    assert (res.run["preset"], res.run["method"], res.run["column_plan"]) == ("test", "clava", "from the model file")
    assert json.loads(js.read_text())["run"]["model_seed"] == syn.settings.seed
    generated = {(p.table, p.column) for p in plans if p.action == "generate"}
    assert {(k, c) for k, t in res.tables.items() for c in t["generated_columns"]} == generated
    without = run_report(real_db, synth_db, max_rows=5_000, discriminators=False)
    assert without.run["preset"].startswith("unknown") and "re-derived" in without.run["column_plan"]
