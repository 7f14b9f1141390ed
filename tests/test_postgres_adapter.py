"""PostgresAdapter on a real PostgreSQL server: introspection, COPY read/write, mirrors, failures."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import with_database
from psycopg import errors as pgerr

from clavadb.adapters.postgres import PostgresAdapter
from clavadb.errors import ClavaError, ConnectionFailed, ConstraintUnsatisfiable, DestinationNotEmpty
from clavadb.schema import Check, Column, EnumType, Schema, Table

EDGE_SQL = Path(__file__).parent / "sql" / "edge_cases.sql"

EXPECTED = {  # dataset: (tables, FKs)
    "movielens": (7, 6),
    "chinook": (11, 11),
    "northwind": (14, 13),
}


@pytest.fixture(scope="session")
def pg_edge(pg_server) -> str:
    """DSN of a database loaded with tests/sql/edge_cases.sql (read-only for tests)."""
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute('DROP DATABASE IF EXISTS "ds_edge" WITH (FORCE)')
        con.execute('CREATE DATABASE "ds_edge"')
    dsn = with_database(pg_server, "ds_edge")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(EDGE_SQL.read_text())
    return dsn


def _norm(t: pa.Table) -> pa.Table:
    """Sorted rows, floats as text so NaN equals NaN."""
    cols = []
    for name in t.column_names:
        col = t[name]
        if pa.types.is_floating(col.type):
            col = pc.cast(col, pa.string())
        cols.append(col)
    t = pa.Table.from_arrays(cols, names=t.column_names)
    sortable = [n for n in t.column_names if not pa.types.is_nested(t[n].type)]
    return t.sort_by([(n, "ascending") for n in sortable])


def _mirror(src_dsn: str, dst_dsn: str) -> tuple[Schema, dict[str, pa.Table], Schema, PostgresAdapter]:
    with PostgresAdapter(src_dsn) as src:
        schema = src.introspect()
        data = {k: src.read_table(t) for k, t in schema.tables.items()}
    with PostgresAdapter(dst_dsn, read_only=False) as dst:
        report = dst.write(schema, data)
    assert report.tables == {k: t.row_count for k, t in schema.tables.items()}
    check = PostgresAdapter(dst_dsn)
    return schema, data, check.introspect(), check


def _rejects(dsn: str, sql: str, error: type[Exception]) -> None:
    with pytest.raises(error), psycopg.connect(dsn) as con:
        con.execute(sql)
        con.commit()  # deferred constraints are checked here


# ---- introspection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_introspect_datasets(pg_dataset, name):
    dsn = pg_dataset(name)
    with PostgresAdapter(dsn) as a:
        s = a.introspect()
    n_tables, n_fks = EXPECTED[name]
    assert len(s.tables) == n_tables
    assert len(s.foreign_keys()) == n_fks
    with psycopg.connect(dsn) as con:
        for t in s.tables.values():
            assert t.primary_key, t.key
            assert t.row_count == con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
    if name == "chinook":
        emp = s.tables["employee"]
        assert [(fk.columns, fk.ref_table) for fk in emp.foreign_keys] == [(["reports_to"], "employee")]
        assert s.tables["invoice"].column("total").type == "numeric(10,2)"
        assert s.tables["invoice"].column("total").precision == 10
        assert s.tables["customer"].column("email").max_length == 60
    if name == "northwind":
        assert s.tables["order_details"].primary_key == ["order_id", "product_id"]
        assert s.tables["employee_territories"].primary_key == ["employee_id", "territory_id"]
        assert any(fk.ref_table == "employees" for fk in s.tables["employees"].foreign_keys)
        assert s.tables["employees"].column("photo").kind == "bytes"
    if name == "movielens":
        assert len(s.tables["rating"].foreign_keys) == 2
        assert s.tables["user"].primary_key == ["user_id"]


def test_introspect_edge_cases(pg_edge):
    with PostgresAdapter(pg_edge) as a:
        s = a.introspect()
    assert set(s.tables) == {"store", "staff", "user", "order", "order_line", "empty_table", "event"}
    assert s.tables["event"].partitioned and s.tables["event"].row_count == 3
    assert s.graph().cycles() == [["staff", "store"]]
    fk = next(fk for fk in s.tables["store"].foreign_keys)
    assert fk.deferrable and fk.initially_deferred and fk.ref_table == "staff"
    u = s.tables["user"]
    assert u.column("id").identity == "always"
    assert u.column("mood").kind == "enum" and u.column("mood").enum == "mood"
    assert (u.column("tags").kind, u.column("tags").element_kind) == ("array", "text")
    assert u.column("scores").element_kind == "int"
    kinds = {c.name: c.kind for c in u.columns}
    assert kinds | {} == {
        "id": "int", "select": "text", "order": "int", "mood": "enum", "tags": "array", "scores": "array",
        "profile": "json", "token": "uuid", "photo": "bytes", "joined": "date", "seen": "timestamptz",
        "alarm": "time", "pause": "interval", "ratio": "float", "tag_len": "int",
    }
    assert u.column("tag_len").generated and "array_length" in u.column("tag_len").generated
    o = s.tables["order"]
    assert o.primary_key == ["order_no", "region"] and o.primary_key_name == "order_pk"
    assert o.column("order_no").sequence == "order_order_no_seq"
    assert s.sequences["order_order_no_seq"].table == "order"
    assert (o.column("amount").precision, o.column("amount").scale) == (12, 2)
    assert o.column("region").max_length == 2
    q = o.column("quantity")
    assert (q.kind, q.domain) == ("int", "positive_int")
    assert {c.name: c.columns for c in o.checks} == {"order_amount_check": ["amount"],
                                                     "order_amount_qty": ["amount", "quantity"]}
    assert all(not c.expression.upper().startswith("CHECK") for c in o.checks)
    dom = s.domains["positive_int"]
    assert dom.not_null and dom.base_kind == "int" and "VALUE > 0" in dom.checks[0].expression
    assert s.enums["mood"].values == ["sad", "ok", "happy"]
    ol = s.tables["order_line"]
    assert ol.column("line_id").identity == "by default"
    assert [(f.columns, f.ref_columns, f.on_update) for f in ol.foreign_keys] == [
        (["order_no", "region"], ["order_no", "region"], "CASCADE")]
    uniq = {x.name: x for x in ol.uniques}
    assert uniq["order_line_sku_shelf"].columns == ["sku", "shelf"] and not uniq["order_line_sku_shelf"].from_index
    partial = uniq["order_line_one_unshelved"]
    assert partial.from_index and partial.predicate == "(shelf IS NULL)"
    assert [ix.name for ix in ol.indexes] == ["order_line_lower_sku"]
    assert s.tables["order"].foreign_keys[0].on_delete == "CASCADE"


# ---- read -------------------------------------------------------------------------------------------


def test_read_types_and_batches(pg_edge, pg_dataset):
    with PostgresAdapter(pg_edge) as a:
        s = a.introspect()
        user = a.read_table(s.tables["user"])
        empty = a.read_table(s.tables["empty_table"])
        assert empty.num_rows == 0 and empty.schema == a.empty_arrow(s.tables["empty_table"]).schema
        order = a.read_table(s.tables["order"], ["amount", "region"])
    assert order.schema.types == [pa.decimal128(12, 2), pa.string()]
    types = dict(zip(user.column_names, user.schema.types, strict=True))
    assert types["tags"] == pa.list_(pa.string()) and types["scores"] == pa.list_(pa.int64())
    assert types["photo"] == pa.binary() and types["seen"] == pa.timestamp("us", "UTC")
    rows = {r["id"]: r for r in user.to_pylist()}
    assert rows[1]["tags"] == ["x", 'y "q"', None, "back\\slash"]
    assert rows[1]["photo"] == b"\x00\xff\x10" and rows[2]["photo"] == b"" and rows[3]["photo"] is None
    assert rows[2]["select"] == "" and rows[3]["select"] is None
    assert rows[4]["select"] == 'line\nbreak "quoted"'
    assert rows[1]["seen"].isoformat() == "2024-03-01T10:34:56.789000+00:00"
    assert rows[1]["pause"] == "P1Y2M3DT4H5M6.5S"
    with PostgresAdapter(pg_dataset("movielens")) as a:
        rating = a.introspect().tables["rating"]
        batches = list(a.read_batches(rating, batch_rows=10_000))
    assert all(b.num_rows <= 10_000 for b in batches)
    assert sum(b.num_rows for b in batches) == rating.row_count
    assert batches[0].schema.types == [pa.int32(), pa.int32(), pa.int32(), pa.int16()]


# ---- mirrors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_mirror_dataset(pg_dataset, new_pg, name):
    dst = new_pg(name)
    schema, data, copy, check = _mirror(pg_dataset(name), dst)
    with check:
        assert copy.tables == schema.tables  # columns, types, keys, FKs, UNIQUE, CHECK, indexes, counts
        assert copy.sequences == schema.sequences
        for key in ("rating", "invoice_line", "order_details"):
            if key in schema.tables:
                assert _norm(check.read_table(copy.tables[key])).equals(_norm(data[key]))
    # the copy enforces its constraints: PK, FK, NOT NULL
    child, fk = next((t, fk) for t in schema.tables.values() for fk in t.foreign_keys
                     if len(fk.columns) == 1 and t.row_count and fk.ref_table != t.key)
    parent = schema.tables[fk.ref_table]
    c, p = fk.columns[0], fk.ref_columns[0]
    _rejects(dst, f'INSERT INTO "{child.name}" SELECT * FROM "{child.name}" LIMIT 1', pgerr.UniqueViolation)
    _rejects(dst, f'UPDATE "{child.name}" SET "{c}" = (SELECT max("{p}") + 1 FROM "{parent.name}")',
             pgerr.ForeignKeyViolation)
    _rejects(dst, f'UPDATE "{child.name}" SET "{child.primary_key[0]}" = NULL', pgerr.NotNullViolation)


def test_mirror_edge_cases(pg_edge, new_pg):
    dst = new_pg("edge")
    schema, data, copy, check = _mirror(pg_edge, dst)
    with check:
        for key, t in schema.tables.items():
            if key == "event":  # a partitioned table is mirrored as a plain one
                assert copy.tables[key].partitioned is False
                t = Table(**{**t.__dict__, "partitioned": False})
            assert copy.tables[key] == t, key
            assert _norm(check.read_table(copy.tables[key])).equals(_norm(data[key])), key
        assert (copy.enums, copy.domains, copy.sequences) == (schema.enums, schema.domains, schema.sequences)
    with psycopg.connect(dst, autocommit=True) as con:
        # sequences and identities continue past the copied keys
        assert con.execute("""INSERT INTO "order" (region, user_id, amount, quantity)
                              VALUES ('EU', 1, 1, 1) RETURNING order_no""").fetchone()[0] == 4
        assert con.execute("""INSERT INTO "user" ("select") VALUES ('x') RETURNING id, tag_len""").fetchone() == (5, 0)
        assert con.execute("""INSERT INTO order_line (order_no, region, sku)
                              VALUES (1, 'EU', 'z') RETURNING line_id""").fetchone()[0] == 5
        assert con.execute("INSERT INTO empty_table (id) VALUES (1) RETURNING id").fetchone()[0] == 1
    _rejects(dst, "INSERT INTO staff VALUES (13, 1, 'a@x.org')", pgerr.UniqueViolation)
    _rejects(dst, "INSERT INTO order_line (order_no, region, sku) VALUES (1, 'EU', 'a')", pgerr.UniqueViolation)
    _rejects(dst, "INSERT INTO order_line (order_no, region, sku) VALUES (1, 'US', 'q')", pgerr.ForeignKeyViolation)
    _rejects(dst, """INSERT INTO "order" (region, amount, quantity) VALUES ('EU', -1, 1)""", pgerr.CheckViolation)
    _rejects(dst, """INSERT INTO "order" (region, amount, quantity) VALUES ('EU', 1, 0)""", pgerr.CheckViolation)
    _rejects(dst, "INSERT INTO store VALUES (3, 99, 'x')", pgerr.ForeignKeyViolation)
    _rejects(dst, """INSERT INTO "user" (id) VALUES (100)""", pgerr.GeneratedAlways)


def test_write_cross_engine_schema(new_pg):
    """A schema introspected from DuckDB: types rendered from kinds, substitutions reported."""
    duck = duckdb.connect()
    data = duck.execute("""SELECT 1::HUGEINT AS big, 200::UTINYINT AS small, 'abc'::VARCHAR AS name,
        12.5::DECIMAL(10,2) AS price, TIMESTAMP_NS '2024-01-02 03:04:05.123456' AS ts, [1, NULL, 3] AS nums,
        {'a': 1} AS rec, 'x'::BLOB AS raw, INTERVAL 3 DAY AS gap, uuid() AS id""").to_arrow_table()
    cols = [Column("big", "HUGEINT", "int", nullable=False), Column("small", "UTINYINT", "int"),
            Column("name", "VARCHAR(10)", "text", max_length=10, default="'n/a'"),
            Column("price", "DECIMAL(10,2)", "decimal", precision=10, scale=2),
            Column("ts", "TIMESTAMP_NS", "timestamp"),
            Column("nums", "INTEGER[]", "array", element_kind="int", element_type="INTEGER"),
            Column("rec", "STRUCT(a INTEGER)", "other"), Column("raw", "BLOB", "bytes"),
            Column("gap", "INTERVAL", "interval"), Column("id", "UUID", "uuid"),
            Column("m", "level", "enum", enum="level"),
            Column("ms", "level[]", "array", element_kind="enum", element_type="level", enum="level")]
    t = Table("thing", schema="main", columns=cols, primary_key=["big"])
    schema = Schema("duckdb", {"thing": t}, enums={"level": EnumType("level", ["lo", "hi"], "main")},
                    schemas=["main"])
    data = data.set_column(6, "rec", pc.cast(pa.array(['{"a": 1}']), pa.string()))
    data = data.append_column("m", pa.array(["hi"])).append_column("ms", pa.array([["lo", None, "hi"]]))
    dsn = new_pg("x")
    with PostgresAdapter(dsn, read_only=False) as dst:
        report = dst.write(schema, {"thing": data})
    assert report.tables == {"thing": 1}
    assert sorted(report.type_substitutions) == [
        "thing.big: HUGEINT -> numeric(39,0)", "thing.rec: STRUCT(a INTEGER) -> text",
        "thing.small: UTINYINT -> smallint", "thing.ts: TIMESTAMP_NS -> timestamp"]
    with psycopg.connect(dsn) as con:
        row = con.execute("""SELECT big::text, small, name, price::text, ts::text, nums, raw, gap::text,
                                    id::text, format_type(atttypid, atttypmod), m::text, ms::text
                             FROM thing, pg_attribute WHERE attrelid = 'thing'::regclass AND attname = 'name'
                          """).fetchone()
        default = con.execute("SELECT column_default FROM information_schema.columns "
                              "WHERE table_name = 'thing' AND column_name = 'name'").fetchone()[0]
    uid = str(data["id"][0].as_py())
    assert row == ("1", 200, "abc", "12.50", "2024-01-02 03:04:05.123456", [1, None, 3], b"x", "3 days", uid,
                   "character varying(10)", "hi", "{lo,NULL,hi}")
    assert default.startswith("'n/a'")


def test_other_schema_validate_false_and_abandoned_read(new_pg):
    """Tables outside public keep their schema (keys "app.t"); validate=False adds FKs and CHECKs NOT VALID."""
    src, dst = new_pg("sch"), new_pg("sch")
    with psycopg.connect(src, autocommit=True) as con:
        con.execute("""CREATE SCHEMA app;
            CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE app.child (id int PRIMARY KEY, parent_id int REFERENCES parent, n int CHECK (n > 0));
            INSERT INTO parent VALUES (1); INSERT INTO app.child VALUES (1, 1, 5), (2, NULL, NULL);""")
    with PostgresAdapter(src) as a:
        s = a.introspect(["public", "app"])
        data = {k: a.read_table(t) for k, t in s.tables.items()}
    assert set(s.tables) == {"parent", "app.child"}
    assert s.tables["app.child"].foreign_keys[0].ref_table == "parent"
    orphan = data["app.child"].set_column(1, "parent_id", pa.array([1, 99], pa.int32()))
    orphan = orphan.set_column(2, "n", pa.array([5, -1], pa.int32()))
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute("CREATE TABLE other AS SELECT generate_series(1, 5000) AS i")
    with PostgresAdapter(dst, read_only=False) as b:
        other = Table("other", columns=[Column("i", "integer", "int")])
        assert next(b.read_batches(other, batch_rows=100)).num_rows == 100  # abandoned: no transaction left
        report = b.write(s, {**data, "app.child": orphan}, validate=False)
        assert report.constraints == 4 and report.tables == {"parent": 1, "app.child": 2}
        copy = b.introspect(["public", "app"])
    assert set(copy.tables) == {"parent", "app.child", "other"}
    with psycopg.connect(dst) as con:
        assert con.execute("SELECT count(*) FROM pg_constraint WHERE NOT convalidated").fetchone()[0] == 2
    _rejects(dst, "INSERT INTO app.child VALUES (3, 98, 1)", pgerr.ForeignKeyViolation)


# ---- safety: read-only source, non-empty destination, failures roll back --------------------------------


def test_read_only_source_refuses_writes(pg_edge):
    with PostgresAdapter(pg_edge) as a:
        s = a.introspect()
        with pytest.raises(pgerr.ReadOnlySqlTransaction):
            a.con.execute("CREATE TABLE intruder (i int)")
        a.con.rollback()
        with pytest.raises(ClavaError, match="read-only"):
            a.write(s, {})


def _public_tables(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as con:
        names = [r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def test_destination_not_empty_and_replace(pg_edge, new_pg):
    dst = new_pg("ne")
    with PostgresAdapter(pg_edge) as src:
        s = src.introspect()
        data = {k: src.read_table(t) for k, t in s.tables.items()}
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute('CREATE TABLE "order" (keep int)')
        con.execute('INSERT INTO "order" VALUES (42)')
        con.execute("CREATE TABLE bystander (i int)")
    before = _public_tables(dst)
    with PostgresAdapter(dst, read_only=False) as a:
        with pytest.raises(DestinationNotEmpty, match="order"):
            a.write(s, data)
        assert _public_tables(dst) == before
        report = a.write(s, data, replace=True)
    after = _public_tables(dst)
    assert after["bystander"] == 0 and after["order"] == 3 and report.tables["user"] == 4
    with PostgresAdapter(dst, read_only=False) as a:  # replace again over its own copy
        assert a.write(s, data, replace=True).tables == report.tables


def test_failed_write_leaves_destination_unchanged(pg_edge, new_pg):
    dst = new_pg("fail")
    with PostgresAdapter(pg_edge) as src:
        s = src.introspect()
        data = {k: src.read_table(t) for k, t in s.tables.items()}
    bad = dict(data)
    bad["order"] = data["order"].set_column(3, "amount", pa.array([-1, 1, 1], pa.decimal128(12, 2)))
    with PostgresAdapter(dst, read_only=False) as a:
        with pytest.raises(ConstraintUnsatisfiable, match="order_amount_check"):
            a.write(s, bad)
        assert _public_tables(dst) == {}

        def interrupted():
            yield from data["user"].to_batches(max_chunksize=2)[:1]
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            a.write(s, {**data, "user": interrupted()})
        assert _public_tables(dst) == {}
        # the same adapter still works after both failures; rows may come as streams of batches
        streamed = {**data, "user": iter(data["user"].to_batches(max_chunksize=3))}
        assert a.write(s, streamed).tables == {k: t.row_count for k, t in s.tables.items()}
    with psycopg.connect(dst) as con:
        assert con.execute("SELECT count(*) FROM pg_type WHERE typname IN ('mood', 'positive_int')").fetchone()[0] == 2


def test_write_without_create_permission(pg_server, pg_edge, new_pg):
    dst = new_pg("perm")
    role = f"nocreate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with PostgresAdapter(pg_edge) as src:
            s = src.introspect()
        parts = urlsplit(dst)
        as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname or ''}"))
        with PostgresAdapter(as_role, read_only=False) as a, pytest.raises(ClavaError, match="no permission") as info:
            a.write(s, {})
        assert "GRANT CREATE" in info.value.hint
        assert _public_tables(dst) == {}
    finally:
        with psycopg.connect(pg_server, autocommit=True) as con:
            con.execute(f'DROP ROLE "{role}"')


# ---- CHECK evaluation ---------------------------------------------------------------------------------


def test_evaluate_checks_planted_violations(pg_edge, new_pg):
    with PostgresAdapter(pg_edge) as src:
        s = src.introspect()
    order = s.tables["order"]
    rows = pa.table({
        "order_no": [1, 2, 3, 4, 5],
        "region": ["EU"] * 5,
        "amount": pa.array([10, -1, 5000, 0, 3], pa.decimal128(12, 2)),
        "quantity": pa.array([1, 1, 1, 0, None], pa.int32()),
    })
    with PostgresAdapter(new_pg("chk"), read_only=False) as dst:  # empty: no table, enum or domain yet
        masks = dst.evaluate_checks(order, rows, s)
        assert _public_tables(dst.dsn) == {}
    assert {k: v.tolist() for k, v in masks.items()} == {
        "order_amount_check": [False, True, False, False, False],
        "order_amount_qty": [False, False, True, False, False],  # NULL quantity: unknown, passes
        "quantity.positive_int_check": [False, False, False, True, False],
    }
    user = s.tables["user"]
    with PostgresAdapter(new_pg("chk"), read_only=False) as dst:
        assert dst.evaluate_checks(user, pa.table({"mood": ["ok"]}), s) == {}
        # without the schema: domain checks unknown, the domain column staged as its base kind
        bare = dst.evaluate_checks(order, rows)
        assert {k: v.tolist() for k, v in bare.items()} == {k: masks[k].tolist() for k in bare}
        assert set(bare) == {"order_amount_check", "order_amount_qty"}
    with pytest.raises(ClavaError, match="writable"), PostgresAdapter(pg_edge) as ro:
        ro.evaluate_checks(order, rows, s)
    assert isinstance(masks["order_amount_check"], np.ndarray)


def test_evaluate_checks_other_engine(new_pg):
    """A DuckDB schema's CHECKs: those PostgreSQL can run are evaluated, the others left out (as write() does)."""
    t = Table("item", schema="main", columns=[Column("code", "VARCHAR", "text"), Column("n", "INTEGER", "int")])
    t.checks = [Check("n_positive", "(n > 0)", ["n"]), Check("code_upper", "regexp_full_match(code, '[A-Z]+')", ["code"]),
                Check("n_even", "(even(n))", ["n"])]
    s = Schema("duckdb", {"item": t}, schemas=["main"])
    rows = pa.table({"code": ["AB", "cd", None], "n": pa.array([1, -5, None], pa.int32())})
    with PostgresAdapter(new_pg("duckchk"), read_only=False) as a:
        masks = a.evaluate_checks(t, rows, s)
        assert {k: v.tolist() for k, v in masks.items()} == {"n_positive": [False, True, False],
                                                               "code_upper": [False, True, False]}
        report = a.write(s, {"item": rows.slice(0, 1)})
    assert report.constraints == 2 and report.type_substitutions == [
        "item: CHECK n_even skipped (not valid in PostgreSQL)"]


def test_read_rows_larger_than_a_block(new_pg):
    dsn = new_pg("big")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("""CREATE TABLE t (i int, s text, b bytea);
            INSERT INTO t SELECT g, repeat('x', 1500000) || E'\n', decode(repeat('ab', 1500000), 'hex')
            FROM generate_series(1, 3) g""")
    with PostgresAdapter(dsn) as a:
        t = a.introspect().tables["t"]
        batches = list(a.read_batches(t, batch_rows=2))  # blocks of 1 MiB, rows of 3 MB
    rows = pa.Table.from_batches(batches)
    assert rows["i"].to_pylist() == [1, 2, 3] and max(b.num_rows for b in batches) <= 2
    assert {len(v) for v in rows["s"].to_pylist()} == {1500001} and rows["b"][2].as_py() == b"\xab" * 1500000


def test_read_unsupported_value_is_clava_error(new_pg):
    dsn = new_pg("inf")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("CREATE TABLE t (d date); INSERT INTO t VALUES ('infinity')")
    with PostgresAdapter(dsn) as a:
        t = a.introspect().tables["t"]
        with pytest.raises(ClavaError, match="cannot convert the rows of t"):
            a.read_table(t)


# ---- connection errors -----------------------------------------------------------------------------------


def test_connection_errors(pg_server):
    cases = [
        (with_database(pg_server, "no_such_db"), "database missing"),
        ("postgresql://postgres@/postgres?host=/nonexistent/socket/dir", "cannot reach"),
        ("postgresql://postgres@127.0.0.1:1/postgres", "cannot reach"),
    ]
    for dsn, text in cases:
        with pytest.raises(ConnectionFailed) as info:
            PostgresAdapter(dsn)
        msg = str(info.value)
        assert text in msg and "\n" not in msg and info.value.hint


def test_write_undeclared_enum_as_text(new_pg):
    """An enum column whose type the schema does not declare is written as text, and reported."""
    t = Table("t", columns=[Column("m", "ENUM('a')", "enum", enum="missing"), Column("n", "INT", "int")])
    s = Schema("duckdb", {"t": t}, enums={"other": EnumType("other", ["x"])})
    with PostgresAdapter(new_pg("en"), read_only=False) as a:
        rep = a.write(s, {"t": pa.table({"m": ["a"], "n": pa.array([1], pa.int32())})})
    assert rep.type_substitutions == ["t.m: ENUM('a') -> text"]
