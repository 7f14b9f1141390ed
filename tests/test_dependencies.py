"""Functional dependencies found in real tables and kept in synthetic ones (Chinook in PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clavadb import dependencies, pipeline
from clavadb.dependencies import MIN_GROUP, Dependency
from clavadb.workspace import Workspace


@pytest.fixture(scope="module")
def chinook(pg_dataset):
    opts = pipeline.Options(preset="test")
    source = pipeline.read_source(pg_dataset("chinook"), opts)
    return opts, source, pipeline.plan(source, opts)


def _find(source, plans, tables: list[str], rare_k: int = 5) -> list[Dependency]:
    sub = source.schema.subset(tables)
    ws = Workspace()
    try:
        for k in sub.tables:
            ws.load(k, source.frames[k])
        return dependencies.find(ws, sub, {(p.table, p.column): p.action for p in plans}, rare_k)
    finally:
        ws.close()


def test_across_a_key_child_columns_equal_to_the_parent_row(chinook):
    opts, source, plans = chinook
    deps = {(d.table, d.dependent): d for d in pipeline.find_dependencies(source, plans, opts)}
    f = source.frames
    joined = f["invoice"].merge(f["customer"], on="customer_id")
    for col, parent_col in [("billing_country", "country"), ("billing_city", "city")]:
        d = deps[("invoice", col)]
        assert (d.kind, d.parent, d.determinant) == ("fk", "customer", parent_col)
        assert d.consistency == pytest.approx((joined[col] == joined[parent_col]).mean())
    line = f["invoice_line"].merge(f["track"], on="track_id")
    d = deps[("invoice_line", "unit_price")]
    assert (d.parent, d.determinant) == ("track", "unit_price")
    assert d.consistency == pytest.approx(np.isclose(line["unit_price_x"], line["unit_price_y"]).mean())
    # a kept lookup table is copied as is, and keys are never dependents
    assert not {t for t, _ in deps} & pipeline.kept_tables(plans)
    assert not any(c in source.schema.tables[t].fk_columns() for t, c in deps)


def test_within_a_table_support_and_rare_values(chinook):
    """Alone (its parent out of the picture), invoice's billing city fixes its state and country. A near-unique
    column (invoice_date) determines nothing, and the mapping holds no pair seen fewer than rare_k times."""
    _, source, plans = chinook
    inv = source.frames["invoice"]
    for rare_k in (5, 8):
        deps = {d.dependent: d for d in _find(source, plans, ["invoice"], rare_k)}
        assert {d.determinant for d in deps.values()} == {"billing_city"}, [d.describe() for d in deps.values()]
        d = deps["billing_country"]
        pairs = inv.groupby(["billing_city", "billing_country"]).size()
        stored = dict(zip(*d.mapping, strict=True))
        assert stored == {city: country for (city, country), n in pairs.items() if n >= rare_k}
    assert inv["invoice_date"].nunique() > len(inv) / MIN_GROUP  # why it may not determine anything


def test_apply_keeps_exceptions_at_their_rate(chinook):
    """A rule holding in 90% of rows is applied to 9 of 10 synthetic rows; the tenth differs from the rule."""
    _, source, _ = chinook
    inv = source.frames["invoice"]
    pairs = inv.groupby("billing_city")["billing_country"].agg(lambda s: s.mode()[0])
    d = Dependency("table", "invoice", "billing_country", "billing_city", 0.9,
                   mapping=[list(pairs.index), list(pairs.to_numpy())])
    rng = np.random.default_rng(0)
    frame = inv.iloc[rng.integers(len(inv), size=20_000)].reset_index(drop=True)
    frame["billing_country"] = frame["billing_country"].to_numpy()[rng.permutation(len(frame))]  # noise
    schema = source.schema.subset(["invoice"])
    out = dependencies.apply([d], schema, {"invoice": frame}, seed=1)["invoice"]
    agree = (out["billing_country"] == out["billing_city"].map(pairs)).mean()
    assert abs(agree - 0.9) < 0.01, agree
    assert out["billing_city"].equals(frame["billing_city"])


def test_clone_keeps_dependencies(chinook):
    """The synthetic invoices are billed to their customer's (synthetic) country and city, every line costs
    its track's price, and the model file lists what was derived."""
    opts, source, _ = chinook
    syn = pipeline.train(source, opts)
    assert {(d["table"], d["dependent"]) for d in syn.attachment["dependencies"]} >= {
        ("invoice", "billing_country"), ("invoice", "billing_city"), ("invoice_line", "unit_price")}
    f = pipeline.generate(syn, 1.0, seed=4).frames
    inv = f["invoice"].merge(f["customer"], on="customer_id")
    assert len(inv) == len(f["invoice"]) > 100
    assert (inv["billing_country"] == inv["country"]).mean() >= 0.99
    assert (inv["billing_city"] == inv["city"]).mean() >= 0.99
    line = f["invoice_line"].merge(f["track"], on="track_id")
    assert np.isclose(line["unit_price_x"].astype(float), line["unit_price_y"].astype(float)).mean() >= 0.99
    real_countries = set(source.frames["customer"]["country"])
    assert set(pd.unique(f["invoice"]["billing_country"])) <= real_countries | {None}


def test_dry_run_lists_dependencies(pg_dataset, tmp_path):
    from click.testing import CliRunner

    from clavadb.cli import main

    dst = tmp_path / "none.duckdb"
    result = CliRunner().invoke(main, ["clone", pg_dataset("chinook"), f"duckdb:///{dst}", "--dry-run",
                                       "--preset", "test"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "invoice.billing_country equal to customer.country" in result.output
    assert not dst.exists()


def _geo_database(path) -> dict[str, list[str]]:
    """A DuckDB file: customers with a country, orders with a shipping city whose country is always the
    customer's (city -> country within orders, orders.country = customers.country across the key)."""
    import duckdb

    rng = np.random.default_rng(3)
    cities = {f"country{c}": [f"city{c}_{i}" for i in range(3)] for c in range(6)}
    countries = list(cities)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, country VARCHAR NOT NULL, age INTEGER)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES "
                "customers (id), city VARCHAR NOT NULL, country VARCHAR NOT NULL, amount DOUBLE)")
    cust = [(i, countries[rng.integers(6)], int(rng.integers(18, 80))) for i in range(150)]
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)", cust)
    orders = []
    for j in range(1500):
        cid, country, _ = cust[rng.integers(len(cust))]
        orders.append((j, cid, cities[country][rng.choice(3, p=[0.6, 0.3, 0.1])], country,
                       float(rng.gamma(2.0, 30.0))))
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
    con.close()
    return cities


def test_determinant_drawn_consistent_with_a_column_fixed_by_the_parent(tmp_path):
    """orders.country is the customer's; orders.city, which fixes the country, is then drawn among that
    country's cities: each synthetic order's city lies in its (synthetic) customer's country. Without it the
    model draws the city and the key copies the country, and the two agree only by chance (about 1 in 6)."""
    import duckdb
    from click.testing import CliRunner

    from clavadb.cli import main

    cities = _geo_database(tmp_path / "geo.duckdb")
    country_of = {c: k for k, cs in cities.items() for c in cs}
    dst = tmp_path / "copy.duckdb"
    r = CliRunner().invoke(main, ["clone", str(tmp_path / "geo.duckdb"), str(dst), "--preset", "test",
                                  "--seed", "2", "--dry-run"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "orders.country equal to customers.country" in r.output, r.output
    assert "orders.city drawn consistent with country" in r.output, r.output
    r = CliRunner().invoke(main, ["clone", str(tmp_path / "geo.duckdb"), str(dst), "--preset", "test",
                                  "--seed", "2", "--quiet"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(dst), read_only=True)
    rows = con.execute("SELECT o.city, o.country, c.country FROM orders o JOIN customers c ON o.customer_id = c.id"
                       ).fetchall()
    con.close()
    assert len(rows) > 1000
    assert all(own == parent for _, own, parent in rows)
    known = [(city, country) for city, country, _ in rows if city in country_of]
    assert len(known) > 0.9 * len(rows)
    assert np.mean([country_of[city] == country for city, country in known]) >= 0.99
    # the cities keep their real frequencies within a country (0.6 / 0.3 / 0.1), not only consistency
    firsts = np.mean([city.endswith("_0") for city, _ in known])
    assert 0.45 < firsts < 0.75, firsts
