"""run_report on PostgreSQL: Chinook (numeric, timestamps, a self-reference, personal data) against a copy
whose e-mails are masked and whose invoice-line quantities are changed."""

from __future__ import annotations

import psycopg
import pytest
from datasets import load_postgres

from clavadb.report.run import run_report


def test_chinook_masked_copy(pg_dataset, new_pg, tmp_path):
    real = pg_dataset("chinook")
    synth = new_pg("chinook_synth")
    load_postgres(synth, "chinook")
    with psycopg.connect(synth, autocommit=True) as con:
        con.execute("UPDATE customer SET email = 'person' || customer_id || '@example.org'")
        con.execute("UPDATE invoice_line SET quantity = quantity + 1 WHERE invoice_line_id % 2 = 0")
    html = tmp_path / "chinook.html"
    res = run_report(real, synth, html=str(html), max_rows=5_000, discriminators=False)
    pii = {(p["table"], p["column"]): p for p in res.privacy["pii"]}
    assert pii[("customer", "email")]["copied_values"] == 0
    assert pii[("customer", "phone")]["copied_values"] == pii[("customer", "phone")]["distinct_values"] > 0
    # the columns clone generates (by the pipeline's own detector) are the ones audited: names, free text
    assert ("employee", "first_name") in pii and pii[("track", "name")]["generator"] == "shaped_text"
    assert ("invoice", "billing_country") not in pii  # coarse geography is modeled, not generated
    one_way = {(c["table"], c["column"]): c["score"] for c in res.columns}
    assert one_way[("invoice_line", "quantity")] < 60
    assert ("customer", "email") not in one_way  # personal data is not scored for fidelity
    assert one_way[("invoice", "total")] == pytest.approx(100.0)  # numeric(10,2), numerical
    assert one_way[("invoice", "invoice_date")] == pytest.approx(100.0)  # timestamp
    assert res.scores["cardinality"] == pytest.approx(100.0)
    assert res.counts["2_hop"] > 0  # invoice_line -> invoice -> customer
    assert any(e["parent"] == e["child"] == "employee" for e in res.fk_edges)
    assert res.validity_totals() == dict.fromkeys(res.validity_totals(), 0)
    assert "<svg" in html.read_text()
