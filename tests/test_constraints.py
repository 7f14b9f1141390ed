"""Constraint enforcement on real rows with planted violations: each repair counted exactly, nothing dropped."""

from __future__ import annotations

import copy
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import realdata

from clavadb import constraints, privacy
from clavadb.adapters.postgres import PostgresAdapter
from clavadb.errors import ConstraintUnsatisfiable
from clavadb.schema import Check, DomainType, EnumType, Unique


@pytest.fixture(scope="module")
def chinook(pg_dataset):
    schema, frames = realdata.postgres(pg_dataset("chinook"))
    plans = privacy.plan_columns(schema, frames)
    # rare_k=1: the exact real ranges, so the real rows are within them (a copy clips to aggregates instead)
    return schema, frames, privacy.column_stats(schema, plans, frames, rare_k=1)


def _only(report: constraints.EnforceReport, table: str) -> dict[str, int]:
    return {k: v for k, v in report.to_dict()[table].items() if v}


def test_real_data_passes_untouched(chinook):
    schema, frames, stats = chinook
    out, report = constraints.enforce(schema, frames, stats, seed=1)
    assert all(not any(c.values()) for c in report.to_dict().values()), report.to_dict()
    for key in schema.tables:
        pd.testing.assert_frame_equal(out[key], frames[key].reset_index(drop=True))


def test_column_repairs_counted(chinook):
    schema, frames, stats = chinook
    inv = frames["invoice"].copy()
    inv["total"] = inv["total"].astype(object)
    inv.loc[0:3, "total"] = Decimal("5.555")  # 4 cells: scale 2
    inv.loc[10:11, "total"] = Decimal("123456789.12")  # 2 cells: beyond numeric(10,2) and the real range
    inv.loc[20:22, "invoice_date"] = pd.Timestamp("2100-01-01")  # 3 cells after the real range
    inv.loc[30:34, "billing_city"] = "x" * 60  # 5 cells over varchar(40)
    inv.loc[40:46, "invoice_date"] = pd.NaT  # 7 NULLs in NOT NULL columns
    inv.loc[50:51, "total"] = None  # 2 more
    out, report = constraints.enforce(schema.subset(["invoice"]), {"invoice": inv}, stats, seed=3)
    assert _only(report, "invoice") == {"rounded": 4, "clipped": 5, "truncated": 5, "not_null_filled": 9}
    res = out["invoice"]
    assert len(res) == len(inv)
    real = frames["invoice"]
    assert set(res.total[0:3]) <= {Decimal("5.55"), Decimal("5.56")}
    assert (res.total[10:11] == real.total.max()).all()
    assert (res.invoice_date[20:22] == real.invoice_date.max()).all()
    assert res.billing_city[30:34].str.len().eq(40).all()
    assert res.invoice_date.notna().all() and res.total.notna().all()
    assert res.total[50:51].isin(set(res.total.drop(index=[50, 51]))).all()  # drawn from the column itself
    untouched = list(range(60, len(res)))
    pd.testing.assert_frame_equal(res.iloc[untouched], real.iloc[untouched].astype(res.dtypes.to_dict()))


def test_unique_repairs(chinook):
    schema, frames, stats = chinook
    schema = copy.deepcopy(schema).subset(["album", "track"])
    schema.tables["album"].uniques.append(Unique("album_title_key", ["title"]))
    track = schema.tables["track"]
    track.uniques += [Unique("track_album_name_key", ["album_id", "name"]),  # 6 real repeats in chinook
                      Unique("track_ms_key", ["milliseconds"]), Unique("track_composer_key", ["composer"])]
    album = frames["album"].copy()
    album.loc[1:5, "title"] = album.title[0]
    tr = frames["track"]
    expect = {"album": 5, "track": int(tr.duplicated(["album_id", "name"]).sum() + tr.milliseconds.duplicated().sum()
                                     + tr.composer.dropna().duplicated().sum())}
    assert expect["track"] > 100
    out, report = constraints.enforce(schema, {"album": album, "track": tr}, stats, seed=1)
    assert report.to_dict()["album"]["unique_repaired"] == 5
    assert report.to_dict()["track"]["unique_repaired"] == expect["track"]
    a, t = out["album"], out["track"]
    assert a.title.is_unique and a.title[0] == album.title[0] and a.title[1:5].str.startswith(album.title[0]).all()
    assert not t.duplicated(["album_id", "name"]).any() and t.milliseconds.is_unique
    assert t.composer.dropna().is_unique and t.composer.isna().sum() == tr.composer.isna().sum()
    assert len(t) == len(tr) and (t.track_id == tr.track_id).all()
    assert (t.milliseconds - tr.milliseconds).abs().max() < 1000  # perturbed, not redrawn


def test_unique_prefers_moving_numbers_and_times(chinook):
    """UNIQUE(invoice_date, billing_country) and UNIQUE(total): the dates and totals move a little,
    the categories stay; NUMERIC values stay Decimal and keep their scale."""
    schema, frames, stats = chinook
    schema = copy.deepcopy(schema).subset(["invoice"])
    schema.tables["invoice"].uniques += [Unique("inv_day_country_key", ["invoice_date", "billing_country"]),
                                         Unique("inv_total_key", ["total"])]
    inv = frames["invoice"]
    expect = int(inv.duplicated(["invoice_date", "billing_country"]).sum() + inv.total.duplicated().sum())
    out, report = constraints.enforce(schema, {"invoice": inv}, stats, seed=1)
    res = out["invoice"]
    assert report.to_dict()["invoice"]["unique_repaired"] == expect > 300
    assert not res.duplicated(["invoice_date", "billing_country"]).any() and res.total.is_unique
    assert (res.billing_country == inv.billing_country).all()
    assert ((res.invoice_date - inv.invoice_date).abs() <= pd.Timedelta(minutes=10)).all()
    assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -2 for v in res.total)


def _planted_check_rows(frames):
    tr = frames["track"].copy()
    rows = tr.index[(tr.milliseconds - 1 >= tr.bytes.min())][:6]
    tr.loc[rows, "bytes"] = tr.loc[rows, "milliseconds"] - 1
    tr.loc[100:102, "name"] = "a"
    return tr, rows


@pytest.mark.parametrize("evaluator", ["duckdb", "postgresql"])
def test_check_repair(chinook, new_pg, evaluator):
    schema, frames, stats = chinook
    schema = copy.deepcopy(schema).subset(["track"])
    schema.tables["track"].checks += [Check("track_bytes_ck", "(bytes > milliseconds)", ["bytes", "milliseconds"]),
                                      Check("track_name_ck", "(char_length((name)::text) > 1)")]
    real = frames["track"]
    assert (real.bytes > real.milliseconds).all() and (real.name.str.len() > 1).all()
    tr, rows = _planted_check_rows(frames)
    check_eval = None
    if evaluator == "postgresql":
        pg = PostgresAdapter(new_pg(), read_only=False)
        check_eval = pg.evaluate_checks
    out, report = constraints.enforce(schema, {"track": tr}, stats, seed=2, check_eval=check_eval)
    assert _only(report, "track") == {"check_repaired": 9}
    t = out["track"]
    assert (t.bytes > t.milliseconds).all() and (t.name.str.len() > 1).all() and len(t) == len(tr)
    keep = [*rows, 100, 101, 102]
    pd.testing.assert_frame_equal(t.drop(index=keep), tr.drop(index=keep))
    if check_eval is not None:
        pg.close()


def test_domain_check_repair(chinook, new_pg):
    """A CHECK of a column's domain, evaluated by PostgreSQL, is repaired like a table CHECK."""
    schema, frames, stats = chinook
    schema = copy.deepcopy(schema).subset(["track"])
    schema.domains["title_text"] = DomainType("title_text", "character varying(200)", "text",
                                              checks=[Check("title_text_check", "char_length(VALUE) > 3")])
    schema.tables["track"].column("name").domain = "title_text"
    tr = frames["track"].copy()
    short = tr.name.str.len() <= 3
    tr.loc[[7, 8], "name"] = "xy"
    with PostgresAdapter(new_pg(), read_only=False) as pg:
        out, report = constraints.enforce(schema, {"track": tr}, stats, seed=2,
                                          check_eval=lambda t, data: pg.evaluate_checks(t, data, schema))
    assert _only(report, "track") == {"check_repaired": int(short.sum()) + 2}
    assert (out["track"].name.str.len() > 3).all()


def test_unsatisfiable_check_raises(chinook):
    schema, frames, stats = chinook
    schema = copy.deepcopy(schema).subset(["track"])
    schema.tables["track"].checks.append(Check("track_never_ck", "milliseconds < 0", ["milliseconds"]))
    with pytest.raises(ConstraintUnsatisfiable, match=r"track: CHECK track_never_ck .* 3503 of 3503 rows"):
        constraints.enforce(schema, {"track": frames["track"]}, stats, seed=1)
    schema.tables["track"].checks[-1] = Check("track_key_ck", "track_id > 100", ["track_id"])
    with pytest.raises(ConstraintUnsatisfiable, match="only key columns"):
        constraints.enforce(schema, {"track": frames["track"]}, stats, seed=1)


def test_enum_values(duckdb_movielens):
    schema, frames = realdata.duckdb(duckdb_movielens)
    schema = copy.deepcopy(schema).subset(["user"])
    col = schema.tables["user"].column("u_gender")
    col.kind, col.enum = "enum", "gender"
    schema.enums["gender"] = EnumType("gender", ["M", "F"])
    users = frames["user"].copy()
    users.loc[[3, 30, 300], "u_gender"] = "X"
    out, report = constraints.enforce(schema, {"user": users}, {}, seed=1)
    assert _only(report, "user") == {"enum_repaired": 3}
    assert set(out["user"].u_gender) == {"M", "F"}
    assert (np.asarray(out["user"].u_gender != users.u_gender).sum()) == 3
