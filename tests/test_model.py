"""The ClavaDDPM engine on real MovieLens rows (a consistent subset, so each fit takes seconds)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from datasets import DATASETS

from clavadb.errors import ClavaError, ConfigError
from clavadb.keys import fk_column
from clavadb.model import Synthesizer
from clavadb.model.matching import match_unique, repair_unique
from clavadb.schema import Column, ForeignKey, Schema, Table, Unique

ML = DATASETS / "movielens"
FKS = {
    "movie2actor": [("movie", "movie_id"), ("actor", "actor_id")],
    "movie2director": [("movie", "movie_id"), ("director", "director_id")],
    "rating": [("user", "user_id"), ("movie", "movie_id")],
}


def movielens_subset(n_movies: int = 250, max_child: int = 2500, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Real MovieLens rows, closed under its FKs: some movies, their links/ratings, and the rows they reference."""
    rng = np.random.default_rng(seed)
    read = {t: pd.read_csv(ML / f"{t}.csv") for t in
            ("movie", "actor", "director", "user", "movie2actor", "movie2director", "rating")}
    movie = read["movie"].iloc[np.sort(rng.choice(len(read["movie"]), n_movies, replace=False))]
    out = {"movie": movie.reset_index(drop=True)}
    for child in ("movie2actor", "movie2director", "rating"):
        c = read[child][read[child].movie_id.isin(movie.movie_id)]
        out[child] = c.head(max_child).reset_index(drop=True)
    out["actor"] = read["actor"][read["actor"].actor_id.isin(out["movie2actor"].actor_id)].reset_index(drop=True)
    out["director"] = read["director"][read["director"].director_id.isin(out["movie2director"].director_id)]
    out["director"] = out["director"].reset_index(drop=True)
    out["user"] = read["user"][read["user"].user_id.isin(out["rating"].user_id)].reset_index(drop=True)
    return out


def schema_for(frames: dict[str, pd.DataFrame], fks: dict[str, list[tuple[str, str]]],
               uniques: dict[str, list[str]] | None = None, nullable: set[str] | None = None) -> Schema:
    tables = {}
    for name, df in frames.items():
        cols = [Column(c, "integer" if df[c].dtype.kind in "iu" else "text",
                       "int" if df[c].dtype.kind in "iu" else "text",
                       nullable=bool(nullable and f"{name}.{c}" in nullable)) for c in df.columns]
        tables[name] = Table(
            name, columns=cols, primary_key=[df.columns[0]], row_count=len(df),
            foreign_keys=[ForeignKey(f"{name}_{x[1]}_fkey", [x[1]], x[0], [x[2] if len(x) == 3 else x[1]])
                          for x in fks.get(name, [])],
            uniques=[Unique(f"{name}_uq", u) for u in (uniques or {}).get(name, [])] if uniques else [])
    return Schema("duckdb", tables)


def fk_targets(schema: Schema, table: str) -> list[tuple[str, str, bool]]:
    t = schema.tables[table]
    return [(fk_column(fk), fk.ref_table, any(t.column(c).nullable for c in fk.columns)) for fk in t.foreign_keys]


@pytest.fixture(scope="module")
def ml():
    frames = movielens_subset()
    schema = schema_for(frames, FKS, uniques={"rating": [["user_id", "movie_id"]]})
    syn = Synthesizer(schema, preset="test").fit(frames)
    return schema, frames, syn


def check_positions(schema: Schema, out: dict[str, pd.DataFrame]) -> None:
    for key in schema.tables:
        for col, parent, nullable in fk_targets(schema, key):
            p = out[key][col]
            assert str(p.dtype) == "Int64"
            valid = p.dropna().to_numpy()
            assert ((valid >= 0) & (valid < len(out[parent]))).all(), f"{key}.{col} out of range"
            if not nullable:
                assert not p.isna().any(), f"{key}.{col} is NOT NULL but has NA"


def test_positions_valid_and_columns(ml):
    schema, frames, syn = ml
    out = syn.sample(seed=3)
    assert set(out) == set(schema.tables)
    check_positions(schema, out)
    for key, df in out.items():
        modeled = [c for c in frames[key].columns if c != frames[key].columns[0]
                   and c not in schema.tables[key].fk_columns()]
        assert list(df.columns[:len(modeled)]) == modeled
        for c in modeled:  # categories come from the real column only
            assert set(df[c].dropna().unique()) <= set(frames[key][c].unique())
    for root in ("movie", "actor", "director", "user"):
        assert len(out[root]) == len(frames[root])
    assert syn.stats["sample_rows_per_s"] > 0
    assert set(syn.stats["agree_rate"]) and all(0 < v <= 1 for v in syn.stats["agree_rate"].values())


def test_group_sizes_plausible(ml):
    schema, frames, syn = ml
    out = syn.sample(seed=1)
    for child, links in FKS.items():
        real = len(frames[child]) / len(frames["movie"])
        synth = len(out[child]) / len(out["movie"])
        assert abs(synth - real) / real < 0.2, (child, real, synth)
        for parent, col in links:
            fk = fk_column(next(f for f in schema.tables[child].foreign_keys if f.ref_table == parent))
            real_mean = frames[child].groupby(col).size().reindex(frames[parent][col], fill_value=0).mean()
            syn_mean = out[child][fk].value_counts().reindex(range(len(out[parent])), fill_value=0).mean()
            assert abs(syn_mean - real_mean) / real_mean < 0.2, (child, parent, real_mean, syn_mean)


def test_seed_determinism(ml):
    _, _, syn = ml
    a, b, c = syn.sample(seed=5), syn.sample(seed=5), syn.sample(seed=6)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])
    assert any(len(a[k]) != len(c[k]) or not a[k].equals(c[k]) for k in a)


def test_save_load_sample_equal(ml, tmp_path):
    schema, _, syn = ml
    syn.attachment = {"pipeline": {"note": "kept"}}
    path = tmp_path / "m.clava"
    syn.save(path)
    syn2 = Synthesizer.load(path)
    assert syn2.attachment == {"pipeline": {"note": "kept"}}
    assert syn2.schema.to_dict() == schema.to_dict()
    a, b = syn.sample(scale=0.5, seed=2), syn2.sample(scale=0.5, seed=2)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])


def test_threads_half_the_cores_to_fit_all_to_sample_and_restored(ml):
    _, _, syn = ml
    cores = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        syn.sample(seed=0)
        assert torch.get_num_threads() == 3  # the caller's count is back
        assert syn.stats["fit_threads"] == max(1, min(cores // 2, 8))
        assert syn.stats["sample_threads"] == min(cores, 8)
        syn.settings.threads = 1
        syn.sample(seed=0)
        assert syn.stats["sample_threads"] == 1 and torch.get_num_threads() == 3
    finally:
        syn.settings.threads = None
        torch.set_num_threads(before)


def test_fk_only_unique_key_stays_unique(ml):
    schema, _, syn = ml
    out = syn.sample(seed=4, scale=2.0)  # more children per user/movie pair: duplicates would appear
    pairs = out["rating"][[fk_column(fk) for fk in schema.tables["rating"].foreign_keys]]
    assert len(pairs) > 0 and not pairs.duplicated().any()


def test_matching_never_reuses_and_prefers_near_rows():
    rng = np.random.default_rng(0)
    r = pd.read_csv(ML / "movie.csv")
    x = np.stack([r.year.to_numpy(float), r.runningtime.to_numpy(float)], axis=1)
    x = (x - x.mean(0)) / x.std(0) + rng.normal(0, 0.3, x.shape)

    def matched_and_random(base: np.ndarray, other: np.ndarray) -> tuple[float, float]:
        """Mean distance of the matched pairs and of a random pairing, after checking the match is valid."""
        m = match_unique(base, other, rng)
        assert len(np.unique(m)) == len(base) and m.min() >= 0 and m.max() < len(other)
        random = other[rng.permutation(len(other))[:len(base)]]
        return np.linalg.norm(base - other[m], axis=1).mean(), np.linalg.norm(base - random, axis=1).mean()

    matched, random = matched_and_random(x[:1500], x[1500:3500])
    assert matched < 0.5 * random
    # many cells and passes: 30,000 rows (resampled real movies, noised), a larger other version
    big = x[rng.integers(0, len(x), 70_000)] + rng.normal(0, 0.3, (70_000, 2))
    matched, random = matched_and_random(big[:30_000], big[30_000:])
    assert matched < 0.2 * random
    pos = np.stack([rng.integers(0, 30, 600), rng.integers(0, 40, 600)], axis=1)
    fixed, keep = repair_unique(pos, [30, 40], rng)
    assert keep.all() and not pd.DataFrame(fixed).duplicated().any()
    # a saturated group (a playlist of nearly every track) keeps all its rows: 390 of 400 tracks in one group
    pos = np.stack([np.r_[np.zeros(390, np.int64), np.ones(50, np.int64)], rng.integers(0, 400, 440)], axis=1)
    fixed, keep = repair_unique(pos, [2, 400], rng)
    assert keep.all() and not pd.DataFrame(fixed).duplicated().any()
    assert (fixed[:, 0] == pos[:, 0]).all()
    # more rows than the group can hold: the surplus is reported as not kept, never left duplicated
    fixed, keep = repair_unique(np.stack([np.zeros(12, np.int64), np.zeros(12, np.int64)], axis=1), [1, 10], rng)
    assert keep.sum() == 10 and not pd.DataFrame(fixed[keep]).duplicated().any()


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    from scipy.stats import chi2_contingency

    tab = pd.crosstab(a, b)
    chi2 = chi2_contingency(tab, correction=False)[0]
    return float(np.sqrt(chi2 / (tab.to_numpy().sum() * (min(tab.shape) - 1))))


def test_cross_table_dependency_kept_better_than_independent():
    """Paper's example: a child's language depends on its parent's country (real movies and their ratings)."""
    rng = np.random.default_rng(1)
    movie = pd.read_csv(ML / "movie.csv")[["movie_id", "country"]].head(1200)
    rating = pd.read_csv(ML / "rating.csv")
    rating = rating[rating.movie_id.isin(movie.movie_id)][["rating_id", "movie_id"]].head(4000).reset_index(drop=True)
    lang = {"USA": "en", "UK": "en", "France": "fr", "other": "es"}
    country = rating.movie_id.map(movie.set_index("movie_id").country)
    noise = rng.random(len(rating)) < 0.1
    rating["language"] = np.where(noise, rng.choice(["en", "fr", "es", "de"], len(rating)), country.map(lang))
    frames = {"movie": movie, "review": rating.rename(columns={"rating_id": "review_id"})}
    schema = schema_for(frames, {"review": [("movie", "movie_id")]})
    over = dict(steps=800, classifier_steps=500, layers=[128, 128, 128], k=8)

    def score(method: str) -> float:
        syn = Synthesizer(schema, preset="test", method=method, **over).fit(frames)
        out = syn.sample(seed=0)
        child = out["review"]
        pos = child[fk_column(schema.tables["review"].foreign_keys[0])].to_numpy(dtype="int64")  # NOT NULL FK
        parent_country = out["movie"]["country"].to_numpy()[pos]
        return cramers_v(pd.Series(parent_country), child["language"])

    real = cramers_v(country, rating["language"])
    clava, indep = score("clava"), score("independent")
    # measured: real 0.55, clava ~0.25-0.35, independent ~0.03
    assert clava > indep + 0.12, (real, clava, indep)
    assert indep < 0.1


def employees(n: int = 60, nullable: bool = True) -> tuple[Schema, dict[str, pd.DataFrame]]:
    """A hierarchy like chinook's employee.reports_to: real user rows as people, a tree of managers."""
    user = pd.read_csv(ML / "user.csv").head(n).rename(columns={"user_id": "emp_id"})
    rng = np.random.default_rng(0)
    boss = np.concatenate([[-1], rng.integers(0, np.maximum(1, np.arange(1, n) // 3))])
    user["reports_to"] = pd.array(np.where(boss >= 0, user.emp_id.to_numpy()[np.maximum(boss, 0)], 0),
                                  dtype="Int64")
    if nullable:
        user.loc[0, "reports_to"] = pd.NA
    else:
        user.loc[0, "reports_to"] = user.emp_id[0]
    schema = schema_for({"emp": user}, {"emp": [("emp", "reports_to", "emp_id")]},
                        nullable={"emp.reports_to"} if nullable else set())
    return schema, {"emp": user}


@pytest.mark.parametrize("nullable", [True, False])
def test_self_reference_is_a_forest(nullable):
    schema, frames = employees(nullable=nullable)
    assert schema.graph().deferred
    syn = Synthesizer(schema, preset="test").fit(frames)
    out = syn.sample(seed=0, scale=3.0)
    check_positions(schema, out)
    p = out["emp"][fk_column(schema.tables["emp"].foreign_keys[0])].to_numpy(dtype=float, na_value=np.nan)
    n = len(p)
    parent = np.where(np.isnan(p), np.arange(n), p).astype(np.int64)  # roots point to themselves
    roots = parent == np.arange(n)
    assert roots.sum() >= 1
    assert roots.sum() <= max(3, 0.2 * n)  # managers exist: most rows have one
    cur = parent.copy()
    for _ in range(n):  # follow managers; every chain must end at a root
        cur = parent[cur]
    assert roots[cur].all()


def test_empty_parent_and_key_only_tables():
    frames = movielens_subset(n_movies=60, max_child=400)
    frames["director"] = frames["director"].iloc[:0]
    frames["movie2director"]["director_id"] = pd.array([pd.NA] * len(frames["movie2director"]), dtype="Int64")
    schema = schema_for(frames, FKS, nullable={"movie2director.director_id"})
    modeled = {"movie2actor": []}  # a link table with only its keys modeled
    syn = Synthesizer(schema, preset="test").fit(frames, modeled=modeled)
    out = syn.sample(seed=0)
    check_positions(schema, out)
    assert len(out["director"]) == 0
    assert out["movie2director"][fk_column(schema.tables["movie2director"].foreign_keys[1])].isna().all()
    assert list(out["movie2actor"].columns) == [fk_column(fk) for fk in schema.tables["movie2actor"].foreign_keys]
    assert len(out["movie2actor"]) > 0


def test_independent_baseline_and_scale(ml):
    schema, frames, _ = ml
    syn = Synthesizer(schema, preset="test", method="independent").fit(frames)
    out = syn.sample(seed=0, scale=0.5)
    check_positions(schema, out)
    assert len(out["movie"]) == round(0.5 * len(frames["movie"]))
    assert syn.stats["agree_rate"] == {}


def test_bad_settings_are_clear_errors(ml):
    schema, frames, syn = ml
    with pytest.raises(ConfigError):
        Synthesizer(schema, preset="nope")
    with pytest.raises(ConfigError):
        Synthesizer(schema, preset="test", bogus=1)
    with pytest.raises(ConfigError):
        Synthesizer(schema, method="magic")
    with pytest.raises(ConfigError):
        syn.sample(scale=50)
    with pytest.raises(ClavaError):
        Synthesizer(schema, preset="test").fit({"movie": frames["movie"]})


def test_fk_positions_composite_null_and_orphan():
    from clavadb.model.relations import frame_positions

    user = pd.read_csv(ML / "user.csv").head(50)
    parent = user[["user_id", "occupation", "age"]]
    child = pd.DataFrame({
        "uid": pd.array([user.user_id[3], user.user_id[7], None, user.user_id[3], 10**9], dtype="Int64"),
        "occ": pd.array([user.occupation[3], user.occupation[7], user.occupation[0],
                         user.occupation[3] + 100, user.occupation[0]], dtype="Int64"),
    })
    fk = ForeignKey("c_fk", ["uid", "occ"], "user", ["user_id", "occupation"])
    schema = Schema("duckdb", {
        "user": Table("user", columns=[Column(c, "integer", "int") for c in parent.columns], primary_key=["user_id"]),
        "c": Table("c", columns=[Column(c, "integer", "int") for c in child.columns], foreign_keys=[fk])})
    assert frame_positions(schema, {"user": parent, "c": child})[("c", "c_fk")].tolist() == [3, 7, -1, -1, -1]


def test_cycle_between_tables_is_assigned_after_sampling():
    """store.manager -> staff (nullable, deferred) and staff.store -> store (NOT NULL), like a store/staff cycle."""
    user = pd.read_csv(ML / "user.csv")
    staff = user.head(120).rename(columns={"user_id": "staff_id"})
    store = pd.read_csv(ML / "director.csv").head(30).rename(columns={"director_id": "store_id"})
    rng = np.random.default_rng(0)
    staff["store_id"] = store.store_id.to_numpy()[rng.integers(0, len(store), len(staff))]
    store["manager_id"] = pd.array(staff.staff_id.to_numpy()[rng.integers(0, len(staff), len(store))],
                                   dtype="Int64")
    store.loc[::4, "manager_id"] = pd.NA
    frames = {"store": store, "staff": staff}
    schema = schema_for(frames, {"store": [("staff", "manager_id", "staff_id")], "staff": [("store", "store_id")]},
                        nullable={"store.manager_id"})
    graph = schema.graph()
    assert [(p, c) for p, c, _ in graph.deferred] == [("staff", "store")]
    syn = Synthesizer(schema, preset="test").fit(frames)
    out = syn.sample(seed=0)
    check_positions(schema, out)
    share = out["store"][fk_column(schema.tables["store"].foreign_keys[0])].isna().mean()
    assert 0.05 < share < 0.5  # real: one store in four has no manager


def test_paper_path_classifier_guidance_save_load(tmp_path):
    """The paper's own path ("paper" preset, shrunk): label-coded categories, unconditional child models
    steered by classifier guidance, labels from the parent's diffusion."""
    frames = movielens_subset(n_movies=80, max_child=600, seed=2)
    schema = schema_for(frames, FKS)
    tiny = dict(timesteps=100, sample_steps=10, layers=[32, 32], steps=60, batch_size=256, classifier_steps=40,
                classifier_layers=[32, 32], classifier_batch_size=256, dim_t=16, k=3, gmm_max_rows=5000)
    syn = Synthesizer(schema, preset="paper", **tiny).fit(frames)
    assert not syn.settings.conditional and syn.settings.onehot_max == 0
    assert any(e.classifier is not None for e in syn.edges) and all(e.head is None for e in syn.edges)
    syn.save(tmp_path / "p.clava")
    a, b = syn.sample(seed=1), Synthesizer.load(tmp_path / "p.clava").sample(seed=1)
    check_positions(schema, a)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key])


def test_two_fks_to_the_same_parent():
    """Like a match with a home and an away team: two edges user -> pair, two versions matched."""
    rating = pd.read_csv(ML / "rating.csv").head(1500)
    user = pd.read_csv(ML / "user.csv")
    user = user[user.user_id.isin(rating.user_id)].reset_index(drop=True)
    rng = np.random.default_rng(0)
    pair = pd.DataFrame({"pair_id": np.arange(len(rating)), "first_id": rating.user_id.to_numpy(),
                         "second_id": rng.permutation(rating.user_id.to_numpy()), "rating": rating.rating})
    frames = {"user": user, "pair": pair}
    schema = schema_for(frames, {"pair": [("user", "first_id", "user_id"), ("user", "second_id", "user_id")]})
    syn = Synthesizer(schema, preset="test").fit(frames)
    assert len(syn.tables["user"].label_edges) == 2
    out = syn.sample(seed=0)
    check_positions(schema, out)
    assert abs(len(out["pair"]) - len(pair)) < 0.2 * len(pair)


def test_calibration_restores_marginals_and_keeps_order():
    """Marginal calibration maps generated rows onto the training marginals: exact shares per one-hot block,
    the training quantiles per plain dim, and each plain dim's row order (the joint's copula) unchanged."""
    from clavadb.model.space import DiffusionSpace

    rng = np.random.default_rng(0)
    n = 20_000
    real_cat = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    bounds = np.array([-0.5, 0.5])  # three bands of the unified axis
    codes = np.array([-1.0, 0.0, 1.0])
    train = np.stack([rng.standard_normal(n), codes[real_cat]], axis=1).astype(np.float32)
    space = DiffusionSpace.build(2, {1: bounds})
    y_train = space.to_space(train)
    space.fit_marginals(y_train)
    # a "generator" whose marginals are off: a shifted, squeezed number and a category mix of 0.4/0.4/0.2,
    # with scores that still rank rows
    gen_cat = rng.choice(3, n, p=[0.4, 0.4, 0.2])
    y = space.to_space(np.stack([0.5 * rng.standard_normal(n) + 0.7, codes[gen_cat]], axis=1).astype(np.float32))
    y[:, 1:] += rng.normal(0, 0.5, (n, 3)).astype(np.float32)
    out = space.calibrate(y)
    shares = np.bincount(out[:, 1:].argmax(axis=1), minlength=3) / n
    assert np.abs(shares - [0.6, 0.3, 0.1]).max() < 0.01, shares
    assert np.abs(np.bincount(y[:, 1:].argmax(axis=1), minlength=3) / n - [0.6, 0.3, 0.1]).max() > 0.1
    np.testing.assert_allclose(np.quantile(out[:, 0], [0.05, 0.5, 0.95]),
                               np.quantile(y_train[:, 0], [0.05, 0.5, 0.95]), atol=0.03)
    assert (np.argsort(out[:, 0], kind="stable") == np.argsort(y[:, 0], kind="stable")).all()
    # a prior shift, not a relabelling: the category that gains share (0) keeps the rows that favoured it,
    # and takes the rows where it scored best among the rest
    before, after = y[:, 1:].argmax(axis=1), out[:, 1:].argmax(axis=1)
    assert (after[before == 0] == 0).mean() > 0.99
    gain = y[:, 1] - np.max(y[:, 2:], axis=1)
    moved = (after == 0) & (before != 0)
    stayed = (after != 0) & (before != 0)
    assert gain[moved].mean() > gain[stayed].mean() + 0.5
    # the marginals travel with the model file
    again = DiffusionSpace.from_state(space.state())
    np.testing.assert_array_equal(again.calibrate(y), out)


def test_calibration_improves_marginals_of_a_fit(ml):
    """On real rows, the default (calibrated) sampling is closer to the real marginals than uncalibrated."""
    schema, frames, syn = ml

    def tv(out: dict[str, pd.DataFrame], table: str, col: str) -> float:
        a = frames[table][col].astype(str).value_counts(normalize=True)
        b = out[table][col].astype(str).value_counts(normalize=True)
        return 0.5 * float(a.sub(b, fill_value=0).abs().sum())

    calibrated = syn.sample(seed=3)
    syn.settings.calibrate = False
    try:
        raw = syn.sample(seed=3)
    finally:
        syn.settings.calibrate = True
    cols = [("movie", "country"), ("movie", "year"), ("user", "occupation"), ("movie2director", "genre")]
    assert sum(tv(calibrated, t, c) for t, c in cols) < 0.5 * sum(tv(raw, t, c) for t, c in cols)


def test_group_sizes_stratified_keep_totals_and_shape():
    """Chinook's employees: three of eight support customers (18, 20, 21). Sizes drawn per parent follow the
    real distribution, and their total stays near the real 59 instead of swinging with each draw."""
    from clavadb.model.groups import SizeDist

    real = np.array([0, 0, 0, 0, 0, 18, 20, 21])
    dist = SizeDist.fit(real)
    rng = np.random.default_rng(0)
    draws = np.stack([dist.sample(np.zeros(8, np.int64), rng) for _ in range(300)])
    totals = draws.sum(axis=1)
    assert abs(totals.mean() - 59) < 2
    assert totals.std() < 0.35 * np.sqrt(8) * real.std()  # independent draws: about 25 customers either way
    values, counts = np.unique(draws, return_counts=True)
    assert set(values) <= set(real) and abs(counts[values == 0].sum() / draws.size - 5 / 8) < 0.02


def test_model_file_of_another_format_or_version_is_a_clear_error(tmp_path):
    """A file that is no model file, one of format version 1 and one of an unknown version each fail with a
    ClavaError that says what to do, before anything is sampled."""
    import json

    from safetensors.numpy import save_file

    from clavadb.model import artifact

    junk = tmp_path / "junk.clava"
    junk.write_bytes(b"not a model")
    with pytest.raises(ClavaError, match="cannot read model file"):
        Synthesizer.load(junk)
    cases = [({"format": "clavadb-model/1"}, "older clavadb"), ({"format": "other"}, "not a clavadb model file"),
             ({"format": artifact.FORMAT, "version": artifact.VERSION + 1}, "format version")]
    for meta, message in cases:
        path = tmp_path / "m.clava"
        save_file({"x": np.zeros(1, np.float32)}, str(path), metadata={artifact.META_KEY: json.dumps(meta)})
        with pytest.raises(ClavaError, match=message) as err:
            Synthesizer.load(path)
        assert "clavadb train" in (err.value.hint or "")


def test_torch_backend_samples_what_the_numpy_backend_samples(ml):
    """The GPU path (torch) and the CPU path (NumPy) evaluate one network: on the CPU both run, give the
    root tables their sizes and the same marginals up to sampling noise."""
    from clavadb.model.sample import Sampler

    schema, _, syn = ml
    runs = {b: Sampler(schema, syn.settings, syn.method, "cpu", syn.tables, syn.edges, 3, backend=b).run(1.0)
            for b in ("numpy", "torch")}
    check_positions(schema, runs["torch"])
    for key, tm in syn.tables.items():
        a, b = runs["numpy"][key], runs["torch"][key]
        if not syn.edges or all(e.child != key for e in syn.edges):
            assert len(a) == len(b) == tm.n_rows
        for col in tm.columns:
            if pd.api.types.is_numeric_dtype(a[col]) and len(a) > 200:
                spread = float(pd.concat([a[col], b[col]]).astype(float).std()) or 1.0
                assert abs(float(a[col].astype(float).mean()) - float(b[col].astype(float).mean())) < 0.25 * spread
