"""DuckDB adapter on real DuckDB files: introspection, Arrow reads, mirrored transactional writes, CHECK masks."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from datasets import DATASETS, MOVIELENS_ORDER

from clavadb.adapters import open_adapter
from clavadb.adapters.duckdb import DuckDBAdapter, parse_dsn
from clavadb.errors import ClavaError, ConnectionFailed, ConstraintUnsatisfiable, DestinationNotEmpty
from clavadb.schema import Check, Column, DomainType, ForeignKey, Schema, Table

RICH_DDL = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE staff_id_seq START 1;
CREATE TABLE staff (
    id INTEGER PRIMARY KEY DEFAULT nextval('staff_id_seq'),
    email VARCHAR NOT NULL UNIQUE,
    name VARCHAR CHECK (length(name) <= 12),
    boss INTEGER REFERENCES staff (id),
    salary DECIMAL(10,2) CHECK (salary > 0),
    feeling mood DEFAULT 'ok',
    tags VARCHAR[],
    "select" BOOLEAN,
    tenth DECIMAL(10,2) GENERATED ALWAYS AS (salary / 10)
);
CREATE TABLE "order" (
    order_id BIGINT,
    line SMALLINT,
    staff_id INTEGER NOT NULL REFERENCES staff (id),
    amount DOUBLE CHECK (amount >= 0),
    PRIMARY KEY (order_id, line)
);
CREATE INDEX order_staff_ix ON "order" (staff_id);
-- bosses come after their reports in insertion order here; the mirror must sort them
INSERT INTO staff (id, email, name, boss, salary, feeling, tags, "select")
    VALUES (1, 'a@x.org', 'Ann', NULL, 10.50, 'happy', ['x', 'y'], true);
INSERT INTO staff (id, email, name, boss, salary, feeling, tags, "select")
    VALUES (2, 'b@x.org', 'Bob', 1, 9.00, 'sad', [], false), (3, 'c@x.org', NULL, 1, 8.25, NULL, NULL, NULL);
INSERT INTO staff (id, email, name, boss, salary, feeling, tags, "select")
    VALUES (4, 'd@x.org', 'Dee', 3, 7.00, 'ok', ['z'], true);
INSERT INTO "order" VALUES (1, 1, 2, 5.0), (1, 2, 4, 0.0), (2, 1, 4, 12.5);
"""


@pytest.fixture
def rich(tmp_path) -> str:
    path = str(tmp_path / "rich.duckdb")
    con = duckdb.connect(path)
    con.execute(RICH_DDL)
    con.close()
    return path


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _constraint_set(s: Schema) -> set[tuple]:
    out: set[tuple] = set()
    for t in s.tables.values():
        out.add((t.key, "pk", tuple(t.primary_key)))
        out |= {(t.key, "fk", tuple(f.columns), f.ref_table, tuple(f.ref_columns)) for f in t.foreign_keys}
        out |= {(t.key, "unique", tuple(u.columns)) for u in t.uniques}
        out |= {(t.key, "check", c.expression) for c in t.checks}
        out |= {(t.key, "notnull", c.name) for c in t.columns if not c.nullable}
        out |= {(t.key, "maxlen", c.name, c.max_length) for c in t.columns if c.max_length}
    return out


def _mirror(src: str, dst: str, **kw):
    with open_adapter(src) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    with open_adapter(dst, read_only=False) as b:
        report = b.write(schema, data, **kw)
        return schema, b.introspect(), report


def test_dsn_forms_and_missing_source(tmp_path):
    assert parse_dsn("duckdb:///abs/x.duckdb") == "/abs/x.duckdb"
    assert parse_dsn("duckdb:///:memory:") == ":memory:"
    assert parse_dsn("rel/x.duckdb") == "rel/x.duckdb"
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(ClavaError, match="no DuckDB database at"):
        open_adapter(str(missing))
    assert not missing.exists()  # reading never creates the file
    with open_adapter("duckdb:///:memory:", read_only=False) as a:
        assert a.introspect().tables == {}
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    with pytest.raises(ConnectionFailed, match="cannot open DuckDB database"):
        open_adapter(str(junk))


def test_introspect_movielens(duckdb_movielens):
    with open_adapter(duckdb_movielens) as a:
        s = a.introspect()
    assert list(s.tables) == MOVIELENS_ORDER  # creation order (DuckDB >= 1.5.5, pyproject.toml)
    assert s.engine == "duckdb" and all(t.schema == "main" for t in s.tables.values())
    assert len(s.foreign_keys()) == 6
    for name, t in s.tables.items():
        assert t.primary_key == [f"{name}_id"]
        lines = (DATASETS / "movielens" / f"{name}.csv").read_bytes().count(b"\n")
        assert t.row_count == lines - 1  # header
    rating = s.table("rating")
    assert {(f.columns[0], f.ref_table) for f in rating.foreign_keys} == {("user_id", "user"), ("movie_id", "movie")}
    assert rating.column("rating").kind == "int" and not rating.column("rating").nullable
    assert s.table("movie").column("isEnglish").kind == "text"
    assert s.graph().roots() == ["actor", "director", "movie", "user"]


def test_read_batches_bounded_and_empty_arrow(duckdb_movielens):
    with open_adapter(duckdb_movielens) as a:
        t = a.introspect().table("rating")
        batches = list(a.read_batches(t, ["rating_id", "rating"], batch_rows=10_000))
        assert max(b.num_rows for b in batches) <= 10_000
        assert sum(b.num_rows for b in batches) == t.row_count
        empty = a.empty_arrow(t, ["rating_id", "rating"])
        assert empty.num_rows == 0 and empty.schema == batches[0].schema


def test_mirror_movielens_equal_rows_and_constraints(duckdb_movielens, tmp_path):
    dst = str(tmp_path / "copy.duckdb")
    src_schema, dst_schema, report = _mirror(duckdb_movielens, f"duckdb://{dst}")
    assert report.tables == {k: t.row_count for k, t in src_schema.tables.items()}
    assert report.constraints == 7 + 6 and report.type_substitutions == []
    assert _constraint_set(dst_schema) == _constraint_set(src_schema)
    con = duckdb.connect(dst, read_only=True)
    con.execute(f"ATTACH '{duckdb_movielens}' AS src (READ_ONLY)")
    for t in MOVIELENS_ORDER:
        diff = con.execute(f'SELECT count(*) FROM (SELECT * FROM src."{t}" EXCEPT ALL SELECT * FROM "{t}"'
                           f' UNION ALL (SELECT * FROM "{t}" EXCEPT ALL SELECT * FROM src."{t}"))').fetchone()[0]
        assert diff == 0, t
    con.close()


def test_introspect_rich(rich):
    with open_adapter(rich) as a:
        s = a.introspect()
    staff, order = s.table("staff"), s.table("order")
    assert s.enums["mood"].values == ["sad", "ok", "happy"]
    assert staff.column("feeling").kind == "enum" and staff.column("feeling").enum == "mood"
    assert staff.column("feeling").default == "'ok'"
    tags = staff.column("tags")
    assert (tags.kind, tags.element_kind) == ("array", "text")
    assert (staff.column("salary").precision, staff.column("salary").scale) == (10, 2)
    # length(name) <= 12 reads back as VARCHAR(12), not as a CHECK
    assert staff.column("name").max_length == 12
    assert [c.expression for c in staff.checks] == ["(salary > 0)"]
    assert staff.column("id").sequence == "staff_id_seq" and s.sequences["staff_id_seq"].table == "staff"
    assert staff.column("tenth").generated and staff.column("tenth").default is None
    assert [u.columns for u in staff.uniques] == [["email"]]
    assert [(f.columns, f.ref_table) for f in staff.foreign_keys] == [(["boss"], "staff")]
    assert order.primary_key == ["order_id", "line"]
    assert [ix.columns for ix in order.indexes] == [["staff_id"]]
    assert s.graph().self_references()[0][0] == "staff"


def test_mirror_rich_self_reference_sequence_and_rejections(rich, tmp_path):
    dst = str(tmp_path / "dst.duckdb")
    src_schema, dst_schema, report = _mirror(rich, dst)
    assert report.tables == {"staff": 4, "order": 3}
    assert _constraint_set(dst_schema) == _constraint_set(src_schema)
    assert [ix.columns for ix in dst_schema.table("order").indexes] == [["staff_id"]]
    con = duckdb.connect(dst)
    # the sequence was restarted past the largest key
    assert con.execute("INSERT INTO staff (email) VALUES ('new@x.org') RETURNING id").fetchone()[0] == 5
    assert con.execute("SELECT feeling FROM staff WHERE id = 5").fetchone()[0] == "ok"
    # the generated column is declared again, not loaded as plain values
    assert dst_schema.table("staff").column("tenth").generated
    assert con.execute("SELECT tenth FROM staff WHERE id = 1").fetchone()[0] == Decimal("1.05")
    assert report.type_substitutions == []
    bad = {
        "pk": "INSERT INTO staff (id, email) VALUES (1, 'q@x.org')",
        "fk": "INSERT INTO \"order\" VALUES (9, 1, 99, 1.0)",
        "not null": "INSERT INTO staff (id, email) VALUES (10, NULL)",
        "unique": "INSERT INTO staff (id, email) VALUES (11, 'a@x.org')",
        "check": "INSERT INTO staff (id, email, salary) VALUES (12, 'z@x.org', -1)",
        "length": "INSERT INTO staff (id, email, name) VALUES (13, 'y@x.org', 'a name far too long')",
        "self fk": "INSERT INTO staff (id, email, boss) VALUES (14, 'w@x.org', 77)",
    }
    for kind, sql in bad.items():
        with pytest.raises(duckdb.ConstraintException):
            con.execute(sql)
            pytest.fail(f"{kind} violation accepted")
    con.close()


def test_read_only_destination_not_empty_and_replace(rich, tmp_path):
    with open_adapter(rich) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
        with pytest.raises(ClavaError, match="read-only"):
            a.write(schema, data)
    with open_adapter(rich, read_only=False) as b:
        with pytest.raises(DestinationNotEmpty):
            b.write(schema, data)
        half = {"staff": data["staff"], "order": data["order"].slice(0, 1)}
        report = b.write(schema, half, replace=True)
        assert report.tables == {"staff": 4, "order": 1}
        assert {k: t.row_count for k, t in b.introspect().tables.items()} == {"staff": 4, "order": 1}
    # a sequence of the same name is in the way too (and replace recreates it)
    other = str(tmp_path / "seq.duckdb")
    duckdb.connect(other).execute("CREATE SEQUENCE staff_id_seq START 100").close()
    with open_adapter(other, read_only=False) as b:
        with pytest.raises(DestinationNotEmpty, match="staff_id_seq"):
            b.write(schema, data)
        b.write(schema, data, replace=True)
        assert b.introspect().sequences["staff_id_seq"].start == 5


def test_failed_write_leaves_file_unchanged(rich, tmp_path):
    with open_adapter(rich) as a:
        schema = a.introspect()
        data = {k: a.read_table(t) for k, t in schema.tables.items()}
    # plant an order pointing at a staff member that does not exist: the FK rejects it on the last table
    orders = data["order"].to_pydict()
    orders["staff_id"][-1] = 999
    data["order"] = pa.table(orders, schema=data["order"].schema)
    before = _digest(rich)
    with open_adapter(rich, read_only=False) as b:
        with pytest.raises(ConstraintUnsatisfiable, match="order"):
            b.write(schema, data, replace=True)
    assert _digest(rich) == before
    # a new destination file that failed is removed rather than left half-made
    fresh = tmp_path / "fresh.duckdb"
    with open_adapter(str(fresh), read_only=False) as b:
        with pytest.raises(ConstraintUnsatisfiable):
            b.write(schema, data)
    assert not fresh.exists()


def test_interrupt_rolls_back(rich, tmp_path):
    with open_adapter(rich) as a:
        schema = a.introspect()
        staff = a.read_table(schema.table("staff"))
        order_batches = list(a.read_batches(schema.table("order")))

    def interrupted():
        yield order_batches[0]
        raise KeyboardInterrupt

    dst = str(tmp_path / "dst.duckdb")
    duckdb.connect(dst).execute("CREATE TABLE keep (x INTEGER); INSERT INTO keep VALUES (1)").close()
    with open_adapter(dst, read_only=False) as b:
        with pytest.raises(KeyboardInterrupt):
            b.write(schema, {"staff": staff, "order": interrupted()})
        assert list(b.introspect().tables) == ["keep"]


def _pg_like_schema() -> Schema:
    """A schema as the PostgreSQL adapter reports it: PG type names, a domain, identity, jsonb, a cycle."""
    s = Schema(engine="postgresql")
    s.domains["posint"] = DomainType("posint", "integer", "int", not_null=True,
                                     checks=[Check("posint_check", "(VALUE > 0)")])
    dept = Table("dept", columns=[
        Column("dept_id", "integer", "int", nullable=False, identity="by default"),
        Column("code", "character varying(4)", "text", max_length=4),
        Column("head_id", "integer", "int"),
        Column("budget", "numeric", "decimal"),
        Column("meta", "jsonb", "json"),
        Column("logo", "bytea", "bytes"),
        Column("span", "interval", "interval"),
        Column("uid", "uuid", "uuid"),
        Column("size", "posint", "int", domain="posint"),
        Column("addr", "inet", "other"),
    ], primary_key=["dept_id"], checks=[Check("dept_code_check", "((code)::text ~ '^[A-Z]+$'::text)", ["code"])])
    emp = Table("emp", columns=[
        Column("emp_id", "bigint", "int", nullable=False, default="nextval('emp_emp_id_seq'::regclass)",
               sequence="public.emp_emp_id_seq"),
        Column("dept_id", "integer", "int", nullable=False),
        Column("hired", "timestamp with time zone", "timestamptz", default="now()"),
    ], primary_key=["emp_id"],
        foreign_keys=[ForeignKey("emp_dept_fk", ["dept_id"], "dept", ["dept_id"], on_delete="CASCADE")])
    dept.foreign_keys = [ForeignKey("dept_head_fk", ["head_id"], "emp", ["emp_id"])]
    s.tables = {"dept": dept, "emp": emp}
    return s


def _pg_like_data() -> dict[str, pa.Table]:
    dept = pa.table({
        "dept_id": pa.array([1, 2], pa.int32()), "code": ["AB", "XYZ"], "head_id": pa.array([10, None], pa.int32()),
        "budget": [1.5, 2e20], "meta": ['{"a": 1}', None], "logo": pa.array([b"\x00\x01", None], pa.binary()),
        "span": ["P1Y2M3DT4H5M6S", "PT0.5S"], "uid": ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None],
        "size": pa.array([3, 4], pa.int32()), "addr": ["10.0.0.1", None],
    })
    emp = pa.table({"emp_id": pa.array([10, 11], pa.int64()), "dept_id": pa.array([1, 2], pa.int32()),
                    "hired": pa.array([0, 1_000_000], pa.timestamp("us", "UTC"))})
    return {"dept": dept, "emp": emp}


def test_write_postgres_schema_type_map_and_cycle(tmp_path):
    dst = str(tmp_path / "pg.duckdb")
    with DuckDBAdapter(dst, read_only=False) as b:
        report = b.write(_pg_like_schema(), _pg_like_data())
        subs = "\n".join(report.type_substitutions)
        for expected in ("dept.code: character varying(4) -> VARCHAR + CHECK", "dept.budget: numeric -> DOUBLE",
                         "dept.meta: jsonb -> JSON", "dept.size: domain posint", "dept.addr: inet -> VARCHAR",
                         "dept.dept_id: identity -> sequence", "emp.emp_dept_fk: ON DELETE CASCADE",
                         "dept.dept_head_fk: FOREIGN KEY (head_id) REFERENCES emp not declared"):
            assert expected in subs, expected
        assert report.tables == {"dept": 2, "emp": 2}
        s = b.introspect()
    dept = s.table("dept")
    kinds = {c.name: c.kind for c in dept.columns}
    assert kinds == {"dept_id": "int", "code": "text", "head_id": "int", "budget": "float", "meta": "json",
                     "logo": "bytes", "span": "interval", "uid": "uuid", "size": "int", "addr": "text"}
    assert dept.column("code").max_length == 4 and not dept.column("size").nullable
    assert dept.foreign_keys == [] and [f.ref_table for f in s.table("emp").foreign_keys] == ["dept"]
    con = duckdb.connect(dst)
    span = con.execute("SELECT span FROM dept ORDER BY dept_id").fetchall()
    assert span[0][0].days == 14 * 30 + 3 and span[1][0].microseconds == 500_000
    assert con.execute("INSERT INTO emp (dept_id) VALUES (1) RETURNING emp_id, hired IS NOT NULL").fetchone() == (
        12, True)
    for sql in ("INSERT INTO dept (dept_id, code, size) VALUES (5, 'ab', 1)",  # regex CHECK, translated
                "INSERT INTO dept (dept_id, code, size) VALUES (6, 'ABCDE', 1)",  # varchar(4)
                "INSERT INTO dept (dept_id, code, size) VALUES (7, 'AB', 0)",  # domain CHECK
                "INSERT INTO dept (dept_id, code) VALUES (8, 'AB')"):  # NOT NULL domain
        with pytest.raises(duckdb.ConstraintException):
            con.execute(sql)
    con.close()


def test_untranslatable_check_refused_before_writing(tmp_path):
    s = _pg_like_schema()
    s.table("emp").checks.append(Check("emp_weird", "(pg_catalog.txid_current() > 0)"))
    dst = tmp_path / "x.duckdb"
    with DuckDBAdapter(str(dst), read_only=False) as b:
        with pytest.raises(ClavaError, match="emp_weird"):
            b.write(s, _pg_like_data())
    assert not dst.exists()


def test_evaluate_checks_planted_violations():
    s = _pg_like_schema()
    dept = s.table("dept")
    dept.checks.append(Check("dept_weird", "(pg_catalog.txid_current() > 0)"))
    data = _pg_like_data()["dept"]
    cols = data.to_pydict()
    cols["code"] = ["AB", "bad", None]  # row 1 fails the regex CHECK, NULL passes
    cols["size"] = [3, -1, None]  # row 1 fails the domain CHECK
    n = 3
    for k in cols:
        if len(cols[k]) < n:
            cols[k] = cols[k] + [None] * (n - len(cols[k]))
    data = pa.table(cols, schema=data.schema)
    with DuckDBAdapter(":memory:", read_only=False) as a:
        masks = a.evaluate_checks(dept, data, s)
        # without the schema, the PostgreSQL regex CHECK is recognised by its syntax (domains are unknown)
        bare = a.evaluate_checks(dept, data)
    assert set(bare) == {"dept_code_check"} and bare["dept_code_check"].tolist() == [False, True, False]
    assert set(masks) == {"dept_code_check", "size.posint_check"}
    assert masks["dept_code_check"].tolist() == [False, True, False]
    assert masks["size.posint_check"].tolist() == [False, True, False]
    assert all(m.dtype == np.bool_ for m in masks.values())


def test_streamed_batches_and_other_schema(rich, tmp_path):
    """Batches streamed from the source (not whole tables) through the staged path (sequence, self-reference),
    and a table outside `main` keeps its schema."""
    con = duckdb.connect(rich)
    con.execute("CREATE SCHEMA audit; CREATE TABLE audit.log (id INTEGER PRIMARY KEY, note VARCHAR);"
                "INSERT INTO audit.log VALUES (1, 'x'), (2, NULL)")
    con.close()
    with open_adapter(rich) as a:
        schema = a.introspect(["main", "audit"])
        assert list(schema.tables) == ["staff", "order", "audit.log"]
        dst = str(tmp_path / "streamed.duckdb")
        with open_adapter(dst, read_only=False) as b:
            data = {k: a.read_batches(t, batch_rows=2) for k, t in schema.tables.items()}
            report = b.write(schema, data)
            assert report.tables == {"staff": 4, "order": 3, "audit.log": 2}
            copy = b.introspect(["main", "audit"])
    assert _constraint_set(copy) == _constraint_set(schema)
    assert copy.table("audit.log").schema == "audit"
