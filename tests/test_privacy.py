"""Personal-data planning, generators and rare values, on the real datasets."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import realdata

from clavadb import copies, generators, privacy
from clavadb.encoding import RARE
from clavadb.schema import Column, Unique

EMAIL = r"[a-z0-9._+-]+@([a-z0-9-]+\.)*example\.(com|org|net)"


@pytest.fixture(scope="module")
def chinook(pg_dataset):
    return realdata.postgres(pg_dataset("chinook"))


@pytest.fixture(scope="module")
def northwind(pg_dataset):
    return realdata.postgres(pg_dataset("northwind"))


def _plans(schema, frames, config=None) -> dict[tuple[str, str], privacy.ColumnPlan]:
    return {(p.table, p.column): p for p in privacy.plan_columns(schema, frames, config)}


def test_plan_chinook(chinook):
    schema, frames = chinook
    plans = _plans(schema, frames)
    assert len(plans) == sum(len(t.columns) for t in schema.tables.values())
    expected = {"first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone",
                "fax": "phone", "address": "street_address", "postal_code": "postal_code"}
    for table in ("customer", "employee"):
        for col, gen in expected.items():
            p = plans[(table, col)]
            assert (p.action, p.generator) == ("generate", gen), p
    assert plans[("customer", "company")].generator == "company"
    assert plans[("invoice", "billing_address")].generator == "street_address"
    for free in [("track", "name"), ("album", "title"), ("artist", "name")]:
        assert plans[free].action == "generate" and plans[free].generator in ("text", "shaped_text"), plans[free]
    assert plans[("track", "composer")].generator == "full_name"
    for modeled in [("genre", "name"), ("media_type", "name"), ("invoice", "billing_country"),
                    ("invoice", "billing_city"), ("invoice", "total"), ("invoice", "invoice_date"),
                    ("track", "milliseconds"), ("track", "bytes"), ("customer", "country")]:
        assert plans[modeled].action == "model", plans[modeled]
    for key in [("customer", "customer_id"), ("customer", "support_rep_id"), ("playlist_track", "track_id"),
                ("employee", "reports_to")]:
        assert plans[key].action == "key"
    assert plans[("invoice_line", "quantity")].action == "constant"  # always 1 in chinook


def test_personal_columns_for_an_audit(chinook):
    """The audit list is the planner's detection: personal and free-text columns, not keys or categories."""
    schema, frames = chinook
    found = privacy.personal_columns(schema, frames)
    for col in ("first_name", "last_name", "email", "phone", "address", "postal_code"):
        assert col in found["customer"]
    assert "name" in found["track"] and "composer" in found["track"]
    assert "customer_id" not in found["customer"] and "genre" not in found and "country" not in found["customer"]
    # a column the config marks as personal is audited too
    marked = privacy.personal_columns(schema, frames, {"tables": {"genre": {"columns": {"name": {"pii": True}}}}})
    assert marked["genre"] == ["name"]


def test_plan_northwind_types(northwind):
    schema, frames = northwind
    plans = _plans(schema, frames)
    assert (plans[("categories", "picture")].action, plans[("categories", "picture")].generator) == \
        ("generate", "bytes")
    assert plans[("employees", "notes")].generator == "text"
    assert plans[("employees", "photo_path")].reason == "personal data by values"  # URLs
    assert plans[("customers", "contact_name")].generator == "full_name"
    assert plans[("employees", "home_phone")].generator == "phone"
    assert plans[("orders", "freight")].action == "model"


def test_plan_movielens_models_everything(duckdb_movielens):
    schema, frames = realdata.duckdb(duckdb_movielens)
    samples = {k: f.sample(min(len(f), 10_000), random_state=0) for k, f in frames.items()}
    for p in privacy.plan_columns(schema, samples):
        col = p.column
        is_key = col in schema.tables[p.table].primary_key or col in schema.tables[p.table].fk_columns()
        assert p.action == ("key" if is_key else "model"), p


def test_plan_by_values_without_telling_names(chinook):
    """Real e-mails, phones and names under neutral column names are still found."""
    schema, frames = copy.deepcopy(chinook[0]), chinook[1]
    names = {"email": "c_mail_like", "phone": "c_digits", "first_name": "c_given"}
    cust = schema.tables["customer"]
    for col in cust.columns:
        col.name = names.get(col.name, col.name)
    sample = {"customer": frames["customer"].rename(columns=names)}
    plans = _plans(schema.subset(["customer"]), sample)
    assert plans[("customer", "c_mail_like")].generator == "email"
    assert plans[("customer", "c_digits")].generator == "phone"
    assert plans[("customer", "c_given")].generator == "first_name"
    assert all(plans[("customer", c)].reason == "personal data by values" for c in names.values())


def test_plan_config_overrides(chinook):
    schema, frames = chinook
    config = {"tables": {
        "genre": {"keep": True},
        "playlist": {"exclude": True},
        "customer": {"columns": {"email": {"pii": False}, "city": {"pii": True}, "state": {"exclude": True},
                                 "country": {"generator": "country"}}},
    }}
    plans = _plans(schema, frames, config)
    assert {p.action for k, p in plans.items() if k[0] == "genre"} == {"keep"}
    assert {p.action for k, p in plans.items() if k[0] == "playlist"} == {"exclude"}
    assert plans[("customer", "email")].action == "model"
    assert plans[("customer", "city")].action == "generate"
    assert plans[("customer", "state")].action == "exclude"
    assert (plans[("customer", "country")].action, plans[("customer", "country")].generator) == \
        ("generate", "country")


@pytest.fixture(scope="module")
def chinook_fill(chinook):
    """Generated customer and employee columns for 3000 synthetic customers, twice with one seed."""
    schema = copy.deepcopy(chinook[0])
    frames = chinook[1]
    schema.tables["customer"].uniques.append(Unique("customer_email_key", ["email"]))
    plans = privacy.plan_columns(schema, frames)
    stats = privacy.column_stats(schema, plans, frames)
    n = 3000

    def run(seed):
        synth = {"customer": pd.DataFrame({"country": frames["customer"]["country"].sample(
            n, replace=True, random_state=0).to_numpy()}), "employee": pd.DataFrame(index=range(40))}
        out = privacy.fill_generated(schema, plans, synth, seed, real_stats=stats)
        # generated names that are real ones are redrawn by the copy check, against the real rows
        guard, rng = copies.CopyGuard.build(plans, frames), np.random.default_rng(seed)
        for _ in range(copies.ROUNDS):
            if not copies.redraw(out, guard, plans, [], rng):
                break
        return out

    return schema, frames, plans, stats, run(7), run(7), run(8)


def test_fill_no_real_personal_values(chinook_fill):
    schema, real, _, _, out, _, _ = chinook_fill
    syn, rc = out["customer"], real["customer"]
    assert len(syn) == 3000
    # (postal codes are short codes shared by many people: a generated one may exist, by design)
    for col in ("email", "phone", "fax", "address", "company"):
        hits = set(syn[col].dropna()) & set(rc[col].dropna())
        assert not hits, (col, hits)
    real_names = set(zip(rc.first_name, rc.last_name, strict=True))
    assert not real_names & set(zip(syn.first_name, syn.last_name, strict=True))


def test_fill_formats_limits_nulls(chinook_fill):
    schema, real, plans, _, out, _, _ = chinook_fill
    syn, rc = out["customer"], real["customer"]
    assert syn.email.str.fullmatch(EMAIL).all()
    assert syn.email.is_unique  # declared UNIQUE above
    # phones and postal codes keep the real values' shapes (digits, letters, punctuation)
    for col in ("phone", "postal_code"):
        real_shapes = set(generators.shape_of(rc[col].dropna()))
        assert set(generators.shape_of(syn[col].dropna())) <= real_shapes, col
    assert syn.phone.dropna().str.fullmatch(r"\+?[0-9 ()./-]+").all()
    for table in ("customer", "employee"):
        for col in schema.tables[table].columns:
            if col.name in out[table] and col.max_length:
                assert out[table][col.name].dropna().str.len().max() <= col.max_length, (table, col.name)
    for col in ("first_name", "last_name", "email"):  # NOT NULL
        assert syn[col].notna().all()
    # nullable columns keep the real null rate (company: mostly NULL in chinook)
    for col in ("company", "fax", "state"):
        if col in syn:
            assert abs(syn[col].isna().mean() - rc[col].isna().mean()) < 0.05, col
    assert syn.address.str.fullmatch(r"\d+ \w+ \w+( (Apt\.|Suite) \d+)?").all()


def test_fill_deterministic_by_seed(chinook_fill):
    *_, a, b, c = chinook_fill
    pd.testing.assert_frame_equal(a["customer"], b["customer"])
    pd.testing.assert_frame_equal(a["employee"], b["employee"])
    assert (a["customer"].email != c["customer"].email).mean() > 0.9


def test_fill_replaces_rare_categories(chinook):
    schema, frames = chinook
    plans = privacy.plan_columns(schema, frames)
    stats = privacy.column_stats(schema, plans, frames)
    real = frames["invoice"].billing_city
    counts = real.value_counts()
    rare_real = counts[counts < 10].index.tolist()  # cities of a single customer (7 invoices)
    synth = real.sample(2000, replace=True, random_state=1).reset_index(drop=True)
    synth[:300] = RARE
    synth[300:400] = rare_real[0]  # a real rare value that slipped through
    out = privacy.fill_generated(schema, plans, {"invoice": pd.DataFrame({"billing_city": synth})}, 1,
                                 k_rare=10, real_stats=stats)["invoice"].billing_city
    assert RARE not in set(out)
    assert not set(out) & set(rare_real)
    assert set(out) <= set(counts[counts >= 10].index)
    unchanged = ~synth.isin([RARE, *rare_real])
    assert (out[unchanged] == synth[unchanged]).all()


def test_column_stats_hold_no_personal_values(chinook, northwind):
    for schema, frames in (chinook, northwind):
        plans = privacy.plan_columns(schema, frames)
        stats = privacy.column_stats(schema, plans, frames)
        text = json.dumps(stats)
        # frequent categories of modeled columns are stored (>= 5 rows each); "New York" is a track name too
        frequent = {v for t in stats.values() for st in t.values() if isinstance(st, dict)
                    for v in st.get("frequent", {})}
        assert frequent
        for p in plans:
            if p.action == "generate" and schema.tables[p.table].column(p.column).kind == "text":
                for v in frames[p.table][p.column].dropna().unique():
                    if len(str(v)) >= 4 and v not in frequent:
                        assert json.dumps(str(v)) not in text, (p.table, p.column, v)


def test_fill_other_kinds(northwind, chinook):
    """bytea, uuid, json and array columns get plausible values of their type; constants stay constant."""
    schema = copy.deepcopy(northwind[0]).subset(["categories"])
    cat = schema.tables["categories"]
    cat.columns += [Column("token", "uuid", "uuid", nullable=False), Column("meta", "jsonb", "json"),
                    Column("tags", "text[]", "array", element_kind="text")]
    cat.uniques.append(Unique("categories_token_key", ["token"]))
    real = {"categories": northwind[1]["categories"]}
    plans = privacy.plan_columns(schema, real)
    got = {p.column: (p.action, p.generator) for p in plans}
    assert got["token"] == ("generate", "uuid") and got["meta"] == ("generate", "json")
    assert got["tags"] == ("generate", "array") and got["picture"] == ("generate", "bytes")
    stats = privacy.column_stats(schema, plans, real)
    out = privacy.fill_generated(schema, plans, {"categories": pd.DataFrame(index=range(500))}, 1,
                                 real_stats=stats)["categories"]
    assert out.token.str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").all()
    assert out.token.is_unique
    assert all(isinstance(json.loads(v), dict) for v in out.meta)
    assert all(isinstance(v, np.ndarray | list) for v in out.tags)
    lengths = real["categories"].picture.map(len)
    assert out.picture.map(len).between(lengths.min(), lengths.max()).all()
    ch_schema, ch = chinook
    ch_plans = privacy.plan_columns(ch_schema, ch)
    lines = privacy.fill_generated(ch_schema, ch_plans, {"invoice_line": pd.DataFrame(index=range(50))}, 1,
                                   real_stats=privacy.column_stats(ch_schema, ch_plans, ch))["invoice_line"]
    assert (lines.quantity == 1).all()  # a constant column of the source


# -- the copy check (clavadb.copies, run last by pipeline.generate) ------------------------------------


def _copy_setup(chinook):
    schema, frames = chinook
    plans = privacy.plan_columns(schema, frames)
    guard = copies.CopyGuard.build(plans, frames)
    return schema, frames, plans, guard


def test_copy_guard_holds_no_real_value_and_a_secret_salt(chinook):
    """The guard keeps hashes of the mostly unique tables' real rows under a salt drawn per run: two guards of
    the same rows share no hash, and the guard is never part of the model's state."""
    _, frames, plans, guard = _copy_setup(chinook)
    again = copies.CopyGuard.build(plans, frames)
    assert guard.salt != again.salt and len(guard.salt) == 16
    assert "invoice" in guard.rows and not set(guard.rows["invoice"]) & set(again.rows["invoice"])
    assert "invoice_line" not in guard.rows  # (unit_price, quantity) repeat: equal rows identify no one
    assert "genre" not in guard.rows  # one modeled column (name): a value, which rare_k governs


def test_copies_are_redrawn_until_none_is_left(chinook):
    """Real rows given as synthetic ones (every row a copy) all change; real names too; nothing else does."""
    _, frames, plans, guard = _copy_setup(chinook)
    synth = {k: frames[k].copy() for k in ("invoice", "customer", "track", "employee")}
    before = guard.count(synth)
    assert before["invoice"] == len(frames["invoice"]) and before["customer"] == len(frames["customer"])
    rng = np.random.default_rng(0)
    for _ in range(copies.ROUNDS):
        if not copies.redraw(synth, guard, plans, [], rng):
            break
    assert guard.count(synth) == {}
    assert (synth["invoice"]["invoice_id"] == frames["invoice"]["invoice_id"]).all()  # keys untouched
    real_names = set(zip(frames["customer"].first_name, frames["customer"].last_name, strict=True))
    assert not real_names & set(zip(synth["customer"].first_name, synth["customer"].last_name, strict=True))


def test_a_repair_that_brings_copies_back_fails_the_run(chinook):
    """The check runs after every repair; a repair that keeps making copies ends in CopiesLeft, never in a
    copy kept silently."""
    from clavadb import constraints, pipeline

    _, frames, plans, guard = _copy_setup(chinook)
    real = frames["invoice"]

    def repair(fr):  # a repair that puts the real rows back each time
        fr["invoice"] = real.copy()
        return fr, constraints.EnforceReport()

    synth = {"invoice": real.copy()}
    with pytest.raises(copies.CopiesLeft, match=r"invoice \(412\)"):
        pipeline._check_copies(synth, constraints.EnforceReport(), guard, plans, [], 0, repair)
    fine, _, n = pipeline._check_copies({"invoice": real.copy()}, constraints.EnforceReport(), guard, plans, [],
                                        0, lambda fr: (fr, constraints.EnforceReport()))
    assert n >= len(real) and guard.count(fine) == {}


def test_sample_runs_the_copy_check_only_against_the_source(tmp_path):
    """`sample` without the source says the copy check was not run; `--check-against SRC` reads the source
    and runs it (and refuses nothing else); the model file holds no row hashes either way."""
    from click.testing import CliRunner

    from clavadb.cli import main
    from clavadb.model.artifact import read_raw

    def run(*args, code=0):
        res = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.output

    src, model = tmp_path / "chinook.duckdb", tmp_path / "m.clava"
    run("example", "chinook", src, "--quiet")
    run("train", src, "-o", model, "--preset", "test", "--quiet")
    assert not {"fingerprints", "salt"} & set(read_raw(model)[0]["attachment"])
    plain = run("sample", model, tmp_path / "a.duckdb")
    assert "copy check: not run" in plain
    checked = run("sample", model, tmp_path / "b.duckdb", "--check-against", src)
    assert "copy check against the source: no row equals a real one" in checked
    other = tmp_path / "movielens.duckdb"  # another database: one clear error, nothing written
    run("example", "movielens", other, "--quiet")
    wrong = run("sample", model, tmp_path / "c.duckdb", "--check-against", other, code=1)
    assert "is not the database the model was trained on" in wrong and not (tmp_path / "c.duckdb").exists()
