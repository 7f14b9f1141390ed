"""Key assignment on the real datasets: new dense / shaped keys, FK look-ups by row position, composite keys."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import realdata

from clavadb import keys
from clavadb.errors import ConstraintUnsatisfiable
from clavadb.schema import Column, ForeignKey, Schema, Table


@pytest.fixture(scope="module")
def northwind(pg_dataset):
    return realdata.postgres(pg_dataset("northwind"))


@pytest.fixture(scope="module")
def chinook(pg_dataset):
    return realdata.postgres(pg_dataset("chinook"))


def engine_output(schema: Schema, real: dict[str, pd.DataFrame], scale: float, seed: int,
                  null_share: float = 0.1) -> dict[str, pd.DataFrame]:
    """What the model hands over: per table `scale` x the real rows, no key columns, and per FK the row
    position of the parent (NULL for a share of the rows where the FK is nullable)."""
    rng = np.random.default_rng(seed)
    n = {k: max(1, int(len(f) * scale)) for k, f in real.items()}
    out = {}
    for key, table in schema.tables.items():
        frame = pd.DataFrame(index=range(n[key]))
        for fk in table.foreign_keys:
            pos = pd.array(rng.integers(0, n[fk.ref_table], n[key]), dtype="Int64")
            if all(table.column(c).nullable for c in fk.columns):
                pos[rng.random(n[key]) < null_share] = pd.NA
            frame[keys.fk_column(fk)] = pos
        out[key] = frame
    return out


def check_fks(schema: Schema, given: dict[str, pd.DataFrame], out: dict[str, pd.DataFrame]) -> None:
    """Every FK value is the referenced row's key at the given position, NULL where the position is NULL;
    rows repeating a primary key made of FKs may point elsewhere, at an existing parent row."""
    for child, fk in schema.foreign_keys():
        table = schema.tables[child]
        pos = given[child][keys.fk_column(fk)]
        frame, parent = out[child], out[fk.ref_table]
        assert keys.fk_column(fk) not in frame
        moved = np.zeros(len(pos), dtype=bool)
        if len(table.primary_key) > 1 and set(table.primary_key) <= table.fk_columns():
            moved = given[child][[keys.fk_column(f) for f in table.foreign_keys]].duplicated().to_numpy()
        null = pos.isna().to_numpy()
        exact = ~null & ~moved
        for c, rc in zip(fk.columns, fk.ref_columns, strict=True):
            assert frame[c][null & ~moved].isna().all(), (child, fk.name)
            want = parent[rc].to_numpy()[pos[exact].to_numpy(dtype=int)]
            assert (frame[c][exact].to_numpy() == want).all(), (child, fk.name)
            assert frame[c][moved].isin(parent[rc]).all(), (child, fk.name)


def test_key_shape_stats_hold_no_real_key(northwind):
    schema, real = northwind
    st = keys.key_shape_stats(schema, real)
    text = json.dumps(st)
    assert not any(f'"{v}"' in text for v in real["customers"].customer_id)
    cust = st["customers"]["customer_id"]
    assert cust["kind"] == "text" and cust["lengths"] == {"5": 1.0}
    assert all(c == [1.0, 0.0, 0.0, 0.0] for c in cust["classes"])  # five capitals
    assert st["territories"]["territory_id"]["classes"][0][2] == 1.0  # digits
    assert st["orders"]["order_id"] == {"kind": "int", "min": 10248}
    assert "order_details" not in st  # its key is made of FK columns only


def test_northwind_keys(northwind):
    schema, real = northwind
    given = engine_output(schema, real, scale=1.5, seed=3)
    out = keys.assign_keys(schema, given, keys.key_shape_stats(schema, real), seed=5)
    cust = out["customers"].customer_id
    assert cust.str.fullmatch(r"[A-Z]{5}").all() and cust.is_unique
    assert not set(cust) & set(real["customers"].customer_id)  # no real key emitted
    orders = out["orders"].order_id
    assert orders.tolist() == list(range(10248, 10248 + len(orders)))  # dense, from the real start
    assert out["employees"].employee_id.tolist() == list(range(1, len(out["employees"]) + 1))
    terr = out["territories"].territory_id
    assert terr.str.fullmatch(r"\d{5}").all() and terr.is_unique
    check_fks(schema, given, out)  # includes employees.reports_to (self-reference) and text FKs
    assert out["orders"].customer_id.isna().any() and out["employees"].reports_to.isna().any()
    for key, table in schema.tables.items():  # every primary key unique, composite ones too
        assert not out[key].duplicated(table.primary_key).any(), key


def test_composite_pk_of_fks_is_deduplicated(chinook):
    """playlist_track(playlist_id, track_id): repeated pairs get another track, nothing is dropped."""
    schema, real = chinook
    given = engine_output(schema, real, scale=1.0, seed=1)
    pt = given["playlist_track"]
    pos_fk = {fk.ref_table: keys.fk_column(fk) for fk in schema.tables["playlist_track"].foreign_keys}
    # 3 playlists x 999 tracks for 8715 rows: most pairs repeat
    pt[pos_fk["playlist"]] = pd.array(np.arange(len(pt)) % 3, dtype="Int64")
    pt[pos_fk["track"]] = pd.array(np.arange(len(pt)) % 999, dtype="Int64")
    assert pt.duplicated().sum() > 1000
    out = keys.assign_keys(schema, given, keys.key_shape_stats(schema, real), seed=2)
    res = out["playlist_track"]
    assert len(res) == len(pt) and not res.duplicated(["playlist_id", "track_id"]).any()
    assert set(res.playlist_id) <= {1, 2, 3}  # the FK with the smaller parent keeps its values
    assert set(res.track_id) <= set(out["track"].track_id)


def test_composite_pk_numbered_within_parent(northwind):
    """A key (order_id, line_no) with a non-FK part is numbered 1.. within each order."""
    schema = copy.deepcopy(northwind[0]).subset(["orders", "customers", "employees", "shippers", "order_details",
                                                  "products", "categories", "suppliers"])
    od = schema.tables["order_details"]
    od.columns.append(Column("line_no", "smallint", "int", nullable=False))
    od.primary_key = ["order_id", "line_no"]
    real = northwind[1]
    given = engine_output(schema, {k: real[k] for k in schema.tables}, scale=1.0, seed=4)
    out = keys.assign_keys(schema, given, {}, seed=4)["order_details"]
    assert not out.duplicated(["order_id", "line_no"]).any()
    expect = out.groupby("order_id", sort=False).cumcount() + 1
    assert (out.line_no == expect).all()


def _tiny_schema(kind: str) -> Schema:
    ident = {"uuid": ("uuid", "uuid"), "int": ("integer", "int"), "text": ("character varying(2)", "text")}[kind]
    a = Table("a", columns=[Column("id", ident[0], ident[1], nullable=False, max_length=2 if kind == "text"
                                   else None), Column("b_id", "integer", "int")],
              primary_key=["id"], foreign_keys=[ForeignKey("a_b_fk", ["b_id"], "b", ["id"])])
    b = Table("b", columns=[Column("id", "integer", "int", nullable=False), Column("a_id", ident[0], ident[1])],
              primary_key=["id"], foreign_keys=[ForeignKey("b_a_fk", ["a_id"], "a", ["id"])])
    return Schema("postgresql", tables={"a": a, "b": b})


def test_uuid_keys_and_cycle():
    """a <-> b reference each other (one edge deferred); UUID keys are new, valid and seeded."""
    schema = _tiny_schema("uuid")
    assert schema.graph().deferred
    given = {"a": pd.DataFrame({"__fk__a_b_fk": pd.array([0, 1, None, 2], dtype="Int64")}),
             "b": pd.DataFrame({"__fk__b_a_fk": pd.array([3, 0, 1], dtype="Int64")})}
    out = keys.assign_keys(schema, given, {}, seed=9)
    again = keys.assign_keys(schema, given, {}, seed=9)
    ids = out["a"].id
    assert ids.str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").all()
    assert ids.is_unique and ids.tolist() == again["a"].id.tolist()
    assert out["b"].a_id.tolist() == [ids[3], ids[0], ids[1]]
    assert out["a"].b_id.tolist()[:2] == [1, 2] and pd.isna(out["a"].b_id[2])


def test_text_key_space_too_small():
    schema = _tiny_schema("text")
    stats = {"a": {"id": {"kind": "text", "lengths": {"2": 1.0}, "classes": [[0, 0, 1, 0], [0, 0, 1, 0]],
                          "other": "-"}}}
    ok = keys.assign_keys(schema, {"a": pd.DataFrame(index=range(100)), "b": pd.DataFrame(index=range(1))},
                          stats, seed=1)["a"].id
    assert ok.str.fullmatch(r"\d\d").all() and ok.is_unique  # all 100 two-digit keys
    with pytest.raises(ConstraintUnsatisfiable, match="a.id"):
        keys.assign_keys(schema, {"a": pd.DataFrame(index=range(101)), "b": pd.DataFrame(index=range(1))},
                         stats, seed=1)


def test_positions_out_of_range(chinook):
    schema, real = chinook
    given = engine_output(schema, real, scale=0.5, seed=1)
    fk = schema.tables["album"].foreign_keys[0]
    given["album"].loc[0, keys.fk_column(fk)] = len(given["artist"])
    with pytest.raises(Exception, match="out of range"):
        keys.assign_keys(schema, given, {}, seed=1)


def _int(name: str, nullable: bool = False) -> Column:
    return Column(name, "integer", "int", nullable=nullable)


def test_primary_key_that_is_a_whole_foreign_key_is_one_to_one():
    """returns(item, ticket) -> sales(item, ticket) and item -> item: the sale's row sets both columns and
    no two returns share a sale (the item FK overwrote the sale's item, and rows repeated the key)."""
    item = Table("item", columns=[_int("sk")], primary_key=["sk"])
    sales = Table("sales", columns=[_int("s_item"), _int("s_ticket")], primary_key=["s_item", "s_ticket"],
                  foreign_keys=[ForeignKey("s_item_fk", ["s_item"], "item", ["sk"])])
    returns = Table("returns", columns=[_int("r_item"), _int("r_ticket")], primary_key=["r_item", "r_ticket"],
                    foreign_keys=[ForeignKey("r_sale_fk", ["r_item", "r_ticket"], "sales", ["s_item", "s_ticket"]),
                                  ForeignKey("r_item_fk", ["r_item"], "item", ["sk"])])
    schema = Schema("duckdb", tables={"item": item, "sales": sales, "returns": returns})
    rng = np.random.default_rng(0)
    given = {"item": pd.DataFrame(index=range(5)),
             "sales": pd.DataFrame({"__fk__s_item_fk": pd.array(rng.integers(0, 5, 40), dtype="Int64")}),
             "returns": pd.DataFrame({"__fk__r_sale_fk": pd.array(np.arange(20) // 2, dtype="Int64"),
                                      "__fk__r_item_fk": pd.array(rng.integers(0, 5, 20), dtype="Int64")})}
    out = keys.assign_keys(schema, given, {}, seed=1)
    r, s = out["returns"], out["sales"]
    assert len(r) == 20 and not r.duplicated(["r_item", "r_ticket"]).any()
    pairs = set(zip(s.s_item, s.s_ticket, strict=True))
    assert all(p in pairs for p in zip(r.r_item, r.r_ticket, strict=True))
    with pytest.raises(ConstraintUnsatisfiable, match="only child"):
        more = dict(given, returns=pd.DataFrame({"__fk__r_sale_fk": pd.array(np.zeros(41, int), dtype="Int64"),
                                                 "__fk__r_item_fk": pd.array(np.zeros(41, int), dtype="Int64")}))
        keys.assign_keys(schema, more, {}, seed=1)


@pytest.mark.parametrize("wide_first", [True, False])
def test_overlapping_foreign_keys_agree(wide_first):
    """flights.origin is in origin -> airports and in the nullable (origin, hour) -> weather: where the weather
    FK is set both hold, where it is NULL the origin stays (it was overwritten, or NULLed with the hour)."""
    airports = Table("airports", columns=[Column("faa", "text", "text", nullable=False)], primary_key=["faa"])
    weather = Table("weather", columns=[Column("origin", "text", "text", nullable=False), _int("hour")],
                    primary_key=["origin", "hour"],
                    foreign_keys=[ForeignKey("w_fk", ["origin"], "airports", ["faa"])])
    fks = [ForeignKey("f_weather", ["origin", "hour"], "weather", ["origin", "hour"]),
           ForeignKey("f_origin", ["origin"], "airports", ["faa"])]
    flights = Table("flights", columns=[_int("id"), Column("origin", "text", "text", nullable=False),
                                        _int("hour", nullable=True)], primary_key=["id"],
                    foreign_keys=fks if wide_first else fks[::-1])
    schema = Schema("duckdb", tables={"airports": airports, "weather": weather, "flights": flights})
    rng = np.random.default_rng(2)
    wpos = pd.array(rng.integers(0, 30, 200), dtype="Int64")
    wpos[::4] = pd.NA
    given = {"airports": pd.DataFrame(index=range(6)),
             "weather": pd.DataFrame({"__fk__w_fk": pd.array(np.arange(30) % 3, dtype="Int64")}),
             "flights": pd.DataFrame({"__fk__f_weather": wpos,
                                      "__fk__f_origin": pd.array(rng.integers(0, 6, 200), dtype="Int64")})}
    out = keys.assign_keys(schema, given, {}, seed=3)
    f, w = out["flights"], out["weather"]
    assert f.origin.notna().all() and f.hour.isna().sum() == 50
    pairs = set(zip(w.origin, w.hour, strict=True))
    assert all(p in pairs for p in zip(f.origin[f.hour.notna()], f.hour[f.hour.notna()], strict=True))
