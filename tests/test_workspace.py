"""The workspace on real data: tables streamed in, frames registered, SQL, CHECK evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from clavadb.adapters import open_adapter
from clavadb.pipeline import Options, read_source
from clavadb.schema import Check, DomainType
from clavadb.workspace import QueryError, Workspace


@pytest.fixture(scope="module")
def movielens(duckdb_movielens):
    with open_adapter(duckdb_movielens) as a:
        schema = a.introspect()
        rating = a.read_table(schema.tables["rating"])
        batches = list(a.read_batches(schema.tables["user"], batch_rows=1000))
        empty = a.empty_arrow(schema.tables["user"])
    return schema, rating, batches, empty


def test_load_stream_register_and_query(movielens):
    schema, rating, batches, empty = movielens
    with Workspace() as ws:
        assert ws.load("user", iter(batches), schema=empty.schema) == sum(b.num_rows for b in batches)
        assert ws.load("none", iter([]), schema=empty.schema) == 0
        frame = rating.to_pandas()
        ws.register("rating", frame)
        by_sql = ws.query_df('SELECT rating, count(*) AS n FROM "rating" GROUP BY rating ORDER BY rating')
        by_pandas = frame.groupby("rating").size()
        assert by_sql.n.tolist() == by_pandas.tolist() and by_sql.rating.tolist() == by_pandas.index.tolist()
        joined = ws.scalar('SELECT count(*) FROM "rating" r JOIN "user" u USING (user_id)')
        assert joined == frame.user_id.isin(pa.concat_tables([pa.Table.from_batches(batches)]).column(
            "user_id").to_pylist()).sum()
        assert ws.columns('"user"') == empty.column_names
        assert isinstance(ws.query('SELECT * FROM "user" LIMIT 3'), pa.Table)
        with pytest.raises(QueryError, match="no_such"):
            ws.query("SELECT no_such FROM \"user\"")
        assert not ws.binds("SELECT regexp_nonsense(1)")


def test_read_source_keeps_the_tables_in_the_workspace(duckdb_movielens):
    source = read_source(duckdb_movielens, Options())
    try:
        ws = source.workspace
        for key, frame in source.frames.items():
            assert ws.count(key) == len(frame)
        # the frame is the table, in the codecs' types: nullable integers, not floats with NaN
        rating = source.frames["rating"]
        assert isinstance(rating["rating"].dtype, pd.Int16Dtype)
        by_sql = ws.query_df('SELECT rating, count(*) AS n FROM "rating" GROUP BY ALL ORDER BY rating')
        assert by_sql.n.tolist() == rating.groupby("rating").size().tolist()
    finally:
        source.close()


def _rating_checks(schema):
    """MovieLens' rating with CHECKs as PostgreSQL prints them, one of them on a domain, one not DuckDB's."""
    s = copy.deepcopy(schema)
    s.engine = "postgresql"
    s.domains["stars"] = DomainType("stars", "smallint", "int", checks=[Check("stars_check", "(VALUE <= 5)")])
    t = s.tables["rating"]
    t.column("rating").domain = "stars"
    t.checks = [Check("rating_positive", "(rating >= (1)::numeric)", ["rating"]),
                Check("rating_pg_only", "(pg_catalog.txid_current() > 0)")]
    return s, t


def test_evaluate_checks_planted_violations(movielens):
    schema, rating, _, _ = movielens
    s, t = _rating_checks(schema)
    values = rating.column("rating").to_numpy().copy()
    rng = np.random.default_rng(0)
    low, high = rng.choice(len(values), 50, replace=False), rng.choice(len(values), 30, replace=False)
    high = np.setdiff1d(high, low)
    values[low], values[high] = 0, 6
    data = rating.set_column(rating.schema.get_field_index("rating"), "rating", pa.array(values, pa.int16()))
    with Workspace() as ws:
        res = ws.evaluate_checks(t, data, s)
        assert set(res.failing) == {"rating_positive", "rating.stars_check"}
        assert np.flatnonzero(res.failing["rating_positive"]).tolist() == sorted(low.tolist())
        assert np.flatnonzero(res.failing["rating.stars_check"]).tolist() == sorted(high.tolist())
        assert res.unevaluable == ["rating.rating_pg_only: (pg_catalog.txid_current() > 0)"]
        # without the schema: the table's own checks only, and NULL passes
        nulls = data.set_column(data.schema.get_field_index("rating"), "rating",
                                pa.array([None] * data.num_rows, pa.int16()))
        bare = ws.evaluate_checks(t, nulls)
        assert set(bare.failing) == {"rating_positive"} and not bare.failing["rating_positive"].any()


def test_rows_where_translates_the_dialect(movielens):
    _, rating, _, _ = movielens
    frame = rating.to_pandas()
    with Workspace() as ws:
        mask = ws.rows_where(frame, "(rating)::numeric >= 4::double precision", "postgresql")
    assert (mask == (frame.rating >= 4).to_numpy()).all() and 0 < mask.sum() < len(frame)
