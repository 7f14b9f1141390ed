"""Column codecs on real data: MovieLens (DuckDB) and Chinook (PostgreSQL), as Python objects and as DuckDB frames."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest

from clavadb.encoding import RARE, TableEncoder, supported
from clavadb.schema import Column
from clavadb.workspace import Workspace

# -- data ------------------------------------------------------------------------------------------------

DUCK_KINDS = {"INTEGER": "int", "SMALLINT": "int", "BIGINT": "int", "VARCHAR": "text", "DOUBLE": "float"}
PG_KINDS = {
    "integer": "int",
    "smallint": "int",
    "real": "float",
    "double precision": "float",
    "numeric": "decimal",
    "text": "text",
    "character varying": "text",
    "boolean": "bool",
    "date": "date",
    "time without time zone": "time",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
}

# Chinook's invoice lines with their track, invoice and media type: NULLs (composer, billing_state, genre),
# NUMERIC(10,2), real/double, dates, timestamps (midnight and to the second), a time of day, a bool.
CHINOOK_SQL = """
SELECT il.quantity, t.milliseconds, t.bytes, t.unit_price, i.total, t.composer, t.genre_id::smallint AS genre,
       (t.milliseconds / 1000.0)::real AS seconds_real, t.milliseconds / 1000.0::double precision AS seconds,
       i.invoice_date, i.invoice_date::date AS invoice_day,
       (i.invoice_date + make_interval(secs => t.milliseconds / 1000)) AT TIME ZONE 'Europe/Berlin' AS stamped,
       time '00:00' + make_interval(secs => t.milliseconds / 1000) AS clock,
       i.billing_state, m.name AS media, t.bytes > 10000000 AS big
FROM invoice_line il JOIN track t USING (track_id) JOIN invoice i USING (invoice_id)
JOIN media_type m USING (media_type_id)
ORDER BY il.invoice_line_id
"""


@pytest.fixture(scope="module")
def movielens(duckdb_movielens) -> dict[str, tuple[list[Column], pd.DataFrame]]:
    con = duckdb.connect(duckdb_movielens, read_only=True)
    try:
        out = {}
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            cols = con.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() WHERE table_name = ? "
                "ORDER BY column_index",
                [table],
            ).fetchall()
            columns = [Column(n, t, DUCK_KINDS[t], nullable=nl) for n, t, nl in cols]
            out[table] = (columns, con.execute(f'SELECT * FROM "{table}"').df())
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def chinook(pg_dataset) -> tuple[list[Column], pd.DataFrame, pd.DataFrame]:
    """Columns, the frame as psycopg's Python objects (Decimal, datetime, ...), and as DuckDB gives it back."""
    with psycopg.connect(pg_dataset("chinook")) as con:
        cur = con.execute(CHINOOK_SQL)
        rows = cur.fetchall()
        names = [d.name for d in cur.description]
        types = {
            oid: name
            for oid, name in con.execute("SELECT oid::int, format_type(oid, NULL) FROM pg_type").fetchall()
        }
        columns = [
            Column(d.name, types[d.type_code], PG_KINDS[types[d.type_code]], scale=d.scale)
            for d in cur.description
        ]
    columns[names.index("media")].kind = "enum"  # a label set like an enum's: same codec, kind recorded
    objects = pd.DataFrame(rows, columns=names, dtype=object)
    ws = Workspace()
    ws.load("lines", objects)
    typed = ws.query_df('SELECT * FROM "lines"')
    ws.close()
    return columns, objects, typed


def codec_plan(enc: TableEncoder) -> dict[str, dict]:
    """Per column of a fitted encoder: its codec, dims, kind, whether it has a NULL dim, and its categories."""
    out = {}
    for c in enc.codecs:
        d = {"column": c.column.name, "codec": c.codec, "dims": c.dims, "kind": c.column.kind, "nulls": c.has_null}
        if c.probs is not None:
            d["categories"] = len(c.probs)
        out[c.column.name] = d
    return out


def as_number(s: pd.Series) -> np.ndarray:
    """Numbers as float64; timestamps (datetime64 or datetime objects) as microseconds since the epoch."""
    if s.dtype.kind in "fiub":
        return s.astype("float64").to_numpy()
    try:
        return s.astype("float64").to_numpy()
    except (TypeError, ValueError):
        return pd.to_datetime(s, utc=True).dt.as_unit("us").astype("int64").to_numpy().astype("float64")


def assert_same(a: pd.Series, b: pd.Series, rtol: float = 0.0) -> None:
    """Same NULL positions and the same values elsewhere (within rtol of the column's range for floats)."""
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    assert (na == nb).all(), f"{a.name}: NULL positions differ"
    va, vb = a[~na].reset_index(drop=True), b[~nb].reset_index(drop=True)
    if rtol:
        va, vb = as_number(va), as_number(vb)
        assert np.abs(va - vb).max() <= rtol * (va.max() - va.min()), a.name
    else:
        assert (va == vb).all(), f"{a.name}: {int((va != vb).sum())} values differ"


# -- round trips -----------------------------------------------------------------------------------------


def test_movielens_round_trip_is_exact(movielens):
    for table, (columns, df) in movielens.items():
        enc = TableEncoder(columns).fit(df)
        x = enc.transform(df)
        assert x.dtype == np.float32 and x.shape == (len(df), enc.dim) and np.isfinite(x).all()
        back = enc.inverse_transform(x)
        assert list(back.columns) == list(df.columns), table
        for c in columns:
            assert back[c.name].dtype.kind == df[c.name].dtype.kind, (table, c.name)
            assert_same(df[c.name], back[c.name])


def test_movielens_codec_choice(movielens):
    columns, df = movielens["user"]
    enc = TableEncoder(columns).fit(df)
    plan = codec_plan(enc)
    assert plan["user_id"]["codec"] == "quantile"  # thousands of distinct ints
    assert plan["occupation"]["codec"] == "categorical"  # 5 codes: ordinal categories
    assert plan["u_gender"] == {
        "column": "u_gender",
        "codec": "categorical",
        "dims": 1,
        "kind": "text",
        "nulls": False,
        "categories": 2,
    }
    # smallint comes back as a nullable Int of the same width
    back = enc.inverse_transform(enc.transform(df))
    assert str(back["age"].dtype) == "Int16" and str(back["user_id"].dtype) == "Int32"


@pytest.mark.parametrize("form", ["objects", "duckdb"])
def test_chinook_round_trip(chinook, form):
    columns, objects, typed = chinook
    df = objects if form == "objects" else typed
    enc = TableEncoder(columns).fit(df)
    x = enc.transform(df)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    back = enc.inverse_transform(x)
    # ints spanning millions of ticks (bytes up to 1e9) and seconds over five years hold more distinct
    # values than a float32 dim separates: close (within 2e-6 of the range), still whole ints and seconds
    wide = {"milliseconds", "bytes", "stamped"}
    for c in columns:
        a, b = df[c.name], back[c.name]
        if c.kind == "decimal":  # Decimal objects or floats in, float64 rounded to the scale out
            a = a.astype("float64")
        if c.kind == "float" or c.name in wide:
            assert_same(a, b, rtol=2e-6)
        else:
            assert_same(a, b)
    assert (back["stamped"].dropna().dt.microsecond == 0).all()
    assert back["clock"].dropna().map(type).eq(type(objects["clock"][0])).all()  # datetime.time stays
    if form == "objects":
        assert back["invoice_day"].map(type).eq(type(objects["invoice_day"][0])).all()  # datetime.date stays
        assert str(back["stamped"].dtype.tz) == "UTC"  # aware datetime objects: instants, given back in UTC
    else:
        assert back["invoice_day"].dtype == df["invoice_day"].dtype
        assert back["stamped"].dtype == df["stamped"].dtype and back["stamped"].dtype.tz is not None
        assert back["composer"].dtype == df["composer"].dtype
    assert (back.isna().mean() == df.isna().mean()).all()


def test_chinook_codec_plan(chinook):
    columns, _, typed = chinook
    plan = codec_plan(TableEncoder(columns).fit(typed))
    assert plan["composer"]["nulls"] and plan["composer"]["dims"] == 2
    assert plan["unit_price"]["codec"] == "categorical"  # 0.99 and 1.99 only
    assert plan["invoice_date"]["codec"] == "quantile"
    assert plan["big"]["codec"] == "categorical"
    enc = TableEncoder(columns).fit(typed)
    assert enc.dim == sum(d["dims"] for d in plan.values())
    # the NULL indicators and categorical value dims are the discrete ones
    starts = np.cumsum([0] + [d["dims"] for d in plan.values()])[:-1]
    expected = []
    for s, d in zip(starts, plan.values(), strict=True):
        if d["codec"] == "categorical":
            expected.append(int(s))
        if d["nulls"]:
            expected.append(int(s + d["dims"] - 1))
    assert enc.categorical_dims == expected


# -- the model's view: marginals of the codes, and decoding of arbitrary points --------------------------


def test_codes_are_standard_normal(chinook):
    columns, _, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    x = enc.transform(typed).astype("float64")
    value_dims = [i for i in range(enc.dim) if i not in enc.categorical_dims]
    assert np.abs(x[:, value_dims].mean(0)).max() < 0.05
    # the sample's extremes sit at the map's ends (+-5.2, as sklearn's QuantileTransformer): std a bit over 1
    assert np.abs(x[:, value_dims].std(0) - 1).max() < 0.08
    null_dims = [i for i in enc.categorical_dims if set(np.unique(x[:, i])) <= {-1.0, 1.0}]
    cat_dims = [i for i in enc.categorical_dims if i not in null_dims]
    assert cat_dims and np.abs(x[:, cat_dims].mean(0)).max() < 0.1
    assert np.abs(x[:, cat_dims].std(0) - 1).max() < 0.1


def test_noise_decodes_to_valid_values_with_source_marginals(chinook):
    columns, objects, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    noise = np.random.default_rng(1).standard_normal((40_000, enc.dim)).astype("float32")
    out = enc.inverse_transform(noise)
    assert list(out.columns) == list(typed.columns)
    for c in columns:
        a, b = typed[c.name].dropna(), out[c.name].dropna()
        assert b.dtype.kind == a.dtype.kind or c.kind == "int", c.name
        if c.kind in ("text", "bool") or enc.codecs[columns.index(c)].codec == "categorical":
            # categories: only seen values, with their source frequencies
            assert set(b) <= set(a), c.name
            fa, fb = a.value_counts(normalize=True), b.value_counts(normalize=True)
            assert (fa - fb.reindex(fa.index, fill_value=0)).abs().max() < 0.02, c.name
        elif c.kind != "time":
            assert a.min() <= b.min() and b.max() <= a.max(), c.name
            qa = a.astype("int64" if c.kind.startswith("timestamp") or c.kind == "date" else "float64")
            qb = b.astype(qa.dtype)
            lo, hi = qa.quantile([0.1, 0.9])
            assert abs((qb <= hi).mean() - (qa <= hi).mean()) < 0.03, c.name
            assert abs((qb <= lo).mean() - (qa <= lo).mean()) < 0.03, c.name
    # generated timestamps keep the resolution seen: midnights stay midnights, seconds stay whole seconds
    assert (out["invoice_date"] == out["invoice_date"].dt.normalize()).all()
    stamped = pd.to_datetime(out["stamped"], utc=True)
    assert (stamped.dt.microsecond == 0).all() and stamped.dt.second.nunique() == 60
    # indicators are not standard normal in the data; under noise a NULL dim is positive half the time
    assert abs(out["composer"].isna().mean() - 0.5) < 0.02


def test_null_rates_and_positions_survive(chinook):
    columns, _, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    back = enc.inverse_transform(enc.transform(typed))
    for name in ("composer", "billing_state"):
        assert typed[name].isna().any()
        assert (back[name].isna() == typed[name].isna()).all()
    # how often the composer is NULL depends on the media type: the joint table of NULL x media survives
    assert pd.crosstab(back["composer"].isna(), back["media"]).equals(
        pd.crosstab(typed["composer"].isna(), typed["media"])
    )


def test_employee_null_int_and_timestamps(pg_dataset):
    with psycopg.connect(pg_dataset("chinook")) as con:
        cur = con.execute("SELECT employee_id, reports_to, birth_date, hire_date, title, city FROM employee")
        rows, names = cur.fetchall(), [d.name for d in cur.description]
    df = pd.DataFrame(rows, columns=names)
    assert df["reports_to"].isna().sum() == 1
    types = ["integer", "integer", "timestamp without time zone", "timestamp without time zone"]
    types += ["character varying(30)", "character varying(40)"]
    columns = [Column(n, t, PG_KINDS[t.split("(")[0]]) for n, t in zip(names, types, strict=True)]
    enc = TableEncoder(columns).fit(df)
    back = enc.inverse_transform(enc.transform(df))
    for n in names:
        assert_same(df[n], back[n])
    assert str(back["reports_to"].dtype) == "Int32" and back["birth_date"].dtype == df["birth_date"].dtype


# -- state, determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["objects", "duckdb"])
def test_state_round_trip(chinook, form):
    columns, objects, typed = chinook
    objects = objects if form == "objects" else typed
    enc = TableEncoder(columns, rare_k=5, seed=3).fit(objects)
    meta, arrays = enc.state()
    meta = json.loads(json.dumps(meta))
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "fiu" for v in arrays.values())
    again = TableEncoder.from_state(meta, {k: v.copy() for k, v in arrays.items()})
    assert again.dim == enc.dim and again.categorical_dims == enc.categorical_dims
    assert codec_plan(again) == codec_plan(enc)
    x = enc.transform(objects)
    np.testing.assert_array_equal(again.transform(objects), x)
    noise = np.random.default_rng(0).standard_normal((500, enc.dim)).astype("float32")
    pd.testing.assert_frame_equal(again.inverse_transform(noise), enc.inverse_transform(noise))
    pd.testing.assert_frame_equal(again.inverse_transform(x), enc.inverse_transform(x))


def test_determinism_by_seed(movielens):
    columns, df = movielens["movie"]
    a = TableEncoder(columns, seed=7).fit(df).transform(df)
    b = TableEncoder(columns, seed=7).fit(df).transform(df)
    c = TableEncoder(columns, seed=8).fit(df).transform(df)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    enc = TableEncoder(columns, seed=7).fit(df)
    np.testing.assert_array_equal(enc.transform(df), enc.transform(df))  # each call starts from the seed


# -- rare categories, overflow, constants, errors --------------------------------------------------------


def test_rare_categories_merge(movielens):
    columns, df = movielens["movie"]
    counts = df["country"].value_counts()
    k = int(counts.iloc[1])  # everything rarer than the second most frequent country merges
    enc = TableEncoder(columns, rare_k=k).fit(df)
    back = enc.inverse_transform(enc.transform(df))
    kept = set(counts[counts >= k].index)
    rare = ~df["country"].isin(kept)
    assert rare.any() and (back["country"][rare] == RARE).all()
    assert (back["country"][~rare] == df["country"][~rare]).all()
    assert codec_plan(enc)["country"]["categories"] == len(kept) + 1
    # numbers are not RARE: a number merged or aggregated by rare_k keeps its dtype
    assert pd.api.types.is_integer_dtype(back["year"]) and back["year"].notna().all()


def test_k_grid_stores_means_of_k_values(movielens):
    """With rare_k = k a quantile grid holds at most n / k points, each the mean of >= k real values (so no
    raw minimum or maximum), and decoding still gives the column's marginal."""
    col, df = next((c, df) for columns, df in movielens.values()
                   for c, codec in zip(columns, TableEncoder(columns).fit(df).codecs, strict=True)
                   if codec.codec == "quantile" and c.kind == "int")
    real = df[col.name].dropna().astype("float64").to_numpy()
    for k in (5, 50):
        codec = TableEncoder([col], rare_k=k, seed=1).fit(df[[col.name]]).codecs[0]
        q = codec.quantiles
        assert codec.codec == "quantile" and 2 <= len(q) <= len(real) // k
        assert np.all(np.diff(codec.levels) > 0) and 0 < codec.levels[0] < codec.levels[-1] < 1
        low, high = np.sort(real)[:k].mean(), np.sort(real)[-k:].mean()
        assert q[0] >= low - 0.4 and q[-1] <= high + 0.4  # within the jitter of discrete ticks
        if (real == real.min()).sum() < k:
            assert np.rint(q[0]) != real.min() or np.sort(real)[:k].mean() - real.min() < 0.5
    enc = TableEncoder([col], rare_k=5, seed=1).fit(df[[col.name]])
    draw = enc.inverse_transform(np.random.default_rng(0).standard_normal((20_000, enc.dim)))[col.name]
    levels = np.linspace(0.05, 0.95, 19)
    spread = np.quantile(real, 0.95) - np.quantile(real, 0.05)
    assert np.abs(np.quantile(draw.astype(float), levels) - np.quantile(real, levels)).max() <= 0.02 * spread


def test_rare_numbers_are_not_stored():
    """A number seen fewer than k times is in no array or field of the state: an ordinal category joins its
    nearest frequent one; a column of fewer than 2k values keeps one mean, of fewer than k nothing."""
    n = 21
    ordinal = np.r_[np.repeat([10, 20, 30], 6), [11, 29, 99]]  # 11, 29, 99 seen once
    few = [1_000_003.0, 2_000_011.0, 5_000_017.0, 7_000_027.0, 9_000_041.0, 11_000_053.0]  # 6 values < 2k
    tiny = [123_457.0, 654_323.0]  # 2 values < k
    cols = [Column("ordinal", "bigint", "int"), Column("few", "double precision", "float", nullable=True),
            Column("tiny", "double precision", "float", nullable=True)]
    df = pd.DataFrame({"ordinal": ordinal.astype("int64"), "few": np.r_[few, np.full(n - 6, np.nan)],
                       "tiny": np.r_[tiny, np.full(n - 2, np.nan)]})
    enc = TableEncoder(cols, rare_k=5).fit(df)
    meta, arrays = enc.state()
    stored = np.concatenate([a.ravel() for a in arrays.values()] + [np.array(
        [c["constant"] for c in meta["codecs"] if isinstance(c["constant"], float)])])
    for rare in (11, 29, 99, *few, *tiny):
        assert not np.isclose(stored, rare).any(), rare
    by = {c.column.name: c for c in enc.codecs}
    assert by["ordinal"].codec == "categorical" and list(by["ordinal"].values) == [10, 20, 30]
    assert by["ordinal"].probs[0] == pytest.approx(7 / 21) and by["ordinal"].probs[2] == pytest.approx(8 / 21)
    assert by["few"].codec == "null" and by["few"].constant == pytest.approx(np.mean(few))
    assert by["tiny"].codec == "constant" and by["tiny"].constant is None
    back = enc.inverse_transform(enc.transform(df))
    assert set(back["ordinal"]) <= {10, 20, 30} and back["tiny"].isna().all()


def test_max_categories_keeps_the_most_frequent(movielens):
    columns, df = movielens["movie2director"]
    counts = df["genre"].value_counts()
    assert len(counts) > 5
    enc = TableEncoder(columns, max_categories=5).fit(df)
    back = enc.inverse_transform(enc.transform(df))
    top = set(counts.index[:5])
    assert set(back["genre"]) == top | {RARE}
    kept = df["genre"].isin(top)
    assert (back["genre"][kept] == df["genre"][kept]).all() and (back["genre"][~kept] == RARE).all()


def test_constant_and_all_null_columns_have_no_dims(movielens):
    columns, df = movielens["actor"]
    df = df.head(1000).copy()
    df["nothing"] = pd.Series([None] * len(df), dtype="Int32")
    df["a_gender"] = "M"
    cols = [*columns, Column("nothing", "INTEGER", "int")]
    enc = TableEncoder(cols).fit(df)
    plan = codec_plan(enc)
    assert plan["nothing"]["dims"] == 0 and plan["a_gender"]["dims"] == 0
    assert enc.dim == 2  # actor_id and a_quality
    back = enc.inverse_transform(enc.transform(df))
    assert (back["a_gender"] == "M").all() and back["nothing"].isna().all()
    # one value and NULLs: only the NULL dim
    df["a_gender"] = df["a_gender"].where(df["actor_id"] % 3 > 0)
    enc = TableEncoder(cols).fit(df)
    assert codec_plan(enc)["a_gender"]["dims"] == 1
    assert_same(enc.inverse_transform(enc.transform(df))["a_gender"], df["a_gender"])


def test_empty_frame(movielens):
    columns, df = movielens["rating"]
    enc = TableEncoder(columns).fit(df.head(0))
    assert enc.dim == 0 and enc.transform(df.head(3)).shape == (3, 0)
    assert enc.inverse_transform(np.zeros((2, 0), dtype="float32")).isna().all().all()


def test_unsupported_kinds_are_refused():
    for kind in ("uuid", "json", "bytes", "array", "other", "interval"):
        col = Column("payload", kind, kind)
        assert not supported(col)
        with pytest.raises(ValueError, match="payload"):
            TableEncoder([Column("id", "integer", "int"), col])
    assert all(
        supported(Column("c", k, k)) for k in ("int", "decimal", "enum", "time", "timestamptz", "bool")
    )


def test_wrong_input_is_refused(movielens):
    columns, df = movielens["user"]
    enc = TableEncoder(columns)
    with pytest.raises(ValueError, match="not fitted"):
        enc.transform(df)
    enc.fit(df)
    with pytest.raises(ValueError, match="age"):
        enc.transform(df.drop(columns="age"))
    with pytest.raises(ValueError, match="shape"):
        enc.inverse_transform(np.zeros((3, enc.dim + 1), dtype="float32"))


def test_ordinal_rule_boundary(movielens):
    """A number with at most 20 distinct values is categorical; with 21 it is quantile-coded."""
    columns, df = movielens["rating"]
    users = df["user_id"].drop_duplicates()
    for k, codec in ((20, "categorical"), (21, "quantile")):
        part = df[df["user_id"].isin(users.head(k))].reset_index(drop=True)
        enc = TableEncoder(columns).fit(part)
        assert codec_plan(enc)["user_id"]["codec"] == codec
        assert_same(enc.inverse_transform(enc.transform(part))["user_id"], part["user_id"])


def test_frames_unlike_the_fit_still_encode(chinook):
    columns, _, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    other = typed.head(50).copy()
    other["milliseconds"] = pd.array([None] * 50, dtype="Int32")  # no value to draw a fill from
    other["media"] = "Betamax"  # a label the fit never saw
    other["seconds"] = np.inf
    x = enc.transform(other)
    assert np.isfinite(x).all()
    back = enc.inverse_transform(x)
    assert back["media"].isin(typed["media"]).all()  # unseen labels read as the most frequent one
    assert back["milliseconds"].notna().all()  # no NULL dim was fitted for it
    assert np.isfinite(back["seconds"]).all()
    assert back["seconds"].between(typed["seconds"].min(), typed["seconds"].max()).all()


def test_diverged_samples_decode(chinook):
    columns, _, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    x = np.full((3, enc.dim), np.nan, dtype="float32")
    x[1], x[2] = np.inf, -np.inf
    out = enc.inverse_transform(x)
    assert out["milliseconds"].iloc[1] == typed["milliseconds"].max()
    assert out["milliseconds"].iloc[2] == typed["milliseconds"].min()
    assert out["composer"].isna().tolist() == [False, True, False]  # NULL dim: NaN reads 0, +inf NULL


def test_time_of_day_as_timedelta(chinook):
    columns, _, typed = chinook
    col = columns[[c.name for c in columns].index("clock")]
    clock = pd.DataFrame({"clock": pd.to_timedelta(typed["clock"].astype(str))})
    enc = TableEncoder([col]).fit(clock)
    back = enc.inverse_transform(enc.transform(clock))
    assert back["clock"].dtype == clock["clock"].dtype
    assert_same(clock["clock"], back["clock"])


def test_floats_keep_the_decimals_seen(chinook):
    """Seconds computed from milliseconds have three decimals: generated ones too, as double and as real."""
    columns, _, typed = chinook
    enc = TableEncoder(columns).fit(typed)
    noise = enc.inverse_transform(np.random.default_rng(2).standard_normal((5000, enc.dim)).astype("float32"))
    for name in ("seconds", "seconds_real"):
        assert noise[name].dtype == typed[name].dtype
        v = noise[name].to_numpy()
        assert (v == v.astype("float64").round(3).astype(v.dtype)).all(), name  # at most 3 decimals
        assert (v != v.astype("float64").round(2).astype(v.dtype)).mean() > 0.5, name  # and not fewer
        assert noise[name].nunique() > typed[name].nunique() / 4  # new values, not a replay of the data
    plan = codec_plan(enc)
    assert plan["seconds"]["codec"] == "quantile"


@pytest.mark.parametrize("dataset", ["chinook", "northwind"])
def test_every_table_of_a_postgres_dataset(pg_dataset, dataset):
    """Each table's supported columns, typed from the catalog and read through psycopg: round trip, noise."""
    with psycopg.connect(pg_dataset(dataset)) as con:
        catalog = con.execute(
            "SELECT table_name, column_name, data_type, numeric_scale, is_nullable = 'YES' "
            "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
        tables: dict[str, list[Column]] = {}
        for table, name, dtype, scale, nullable in catalog:
            kind = PG_KINDS.get(dtype, "other")
            tables.setdefault(table, []).append(Column(name, dtype, kind, nullable=nullable, scale=scale))
        skipped = set()
        for table, columns in tables.items():
            skipped |= {c.kind for c in columns if not supported(c)}
            columns = [c for c in columns if supported(c)]
            names = ", ".join(f'"{c.name}"' for c in columns)
            df = pd.DataFrame(
                con.execute(f'SELECT {names} FROM "{table}"').fetchall(), columns=[c.name for c in columns]
            )
            enc = TableEncoder(columns, max_categories=10**6).fit(df)  # names too: every label kept
            back = enc.inverse_transform(enc.transform(df))
            for c in columns:
                a = df[c.name].astype("float64") if c.kind == "decimal" else df[c.name]
                wide = c.kind == "int" and a.max() - a.min() > 1e6  # more ticks than float32 separates
                assert_same(a, back[c.name], rtol=2e-6 if c.kind == "float" or wide else 0.0)
            noise = enc.inverse_transform(
                np.random.default_rng(0).standard_normal((300, enc.dim)).astype("float32")
            )
            for c in columns:
                seen, made = df[c.name].dropna(), noise[c.name].dropna()
                seen = seen.astype("float64") if c.kind == "decimal" else seen
                if c.kind in ("text", "bool"):
                    assert set(made) <= set(seen), (table, c.name)
                elif len(made) and c.kind != "time":
                    assert seen.min() <= made.min() and made.max() <= seen.max(), (table, c.name)
    assert skipped <= {"other"} and (dataset != "northwind" or skipped)  # bytea pictures stay out
