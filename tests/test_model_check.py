"""Model files are data: crafted files are rejected on load with one line, before the destination is touched,
and every SQL fragment a real schema carries still passes the parser-based checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from safetensors.numpy import save_file

from clavadb.adapters import open_adapter
from clavadb.cli import main
from clavadb.examples import example_schema
from clavadb.model.artifact import META_KEY, read_raw
from clavadb.model_check import KEY_ENV
from clavadb.sqlcheck import duck_expression, duck_index, pg_expression, pg_index, schema_problems

EDGE_SQL = Path(__file__).parent / "sql" / "edge_cases.sql"
ATTACK = "CREATE INDEX ON public.album (title); DROP TABLE keepme; CREATE TABLE pwned AS SELECT current_user"


def cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.output


@pytest.fixture(scope="module")
def model(pg_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "m.clava"
    code, out = cli("train", pg_dataset("chinook"), "-o", path, "--tables", "album", "--preset", "test", "--quiet")
    assert code == 0, out
    return path


def crafted(model: Path, out: Path, edit) -> Path:
    meta, tensors = read_raw(model)
    tensors = {k: np.array(v) for k, v in tensors.items()}
    schema = json.loads(meta["schema"])
    edit(meta, schema, tensors)
    meta["schema"] = json.dumps(schema)
    save_file(tensors, str(out), metadata={META_KEY: json.dumps(meta, allow_nan=True)})
    return out


def album(schema):
    return schema["tables"]["album"]


def set_index(meta, schema, tensors):
    album(schema)["indexes"].append({"name": "x", "columns": ["title"], "unique": False, "method": "btree",
                                     "definition": ATTACK})


def set_check(meta, schema, tensors):
    album(schema)["checks"].append({"name": "c", "expression": "true); DROP TABLE keepme; SELECT (1",
                                    "columns": []})


def set_default(meta, schema, tensors):
    album(schema)["columns"][1]["default"] = "pg_read_file('/etc/passwd')"


def set_type(meta, schema, tensors):
    album(schema)["columns"][1]["type"] = "text); DROP TABLE keepme; CREATE TABLE y (z text"


def set_fk_action(meta, schema, tensors):
    album(schema)["foreign_keys"][0]["on_delete"] = "CASCADE; DROP TABLE keepme"


def set_subquery_check(meta, schema, tensors):
    album(schema)["checks"].append({"name": "c", "expression": "(SELECT count(*) FROM keepme) >= 0",
                                    "columns": []})


def set_nan_weight(meta, schema, tensors):
    name = next(k for k, t in tensors.items() if np.issubdtype(t.dtype, np.floating) and t.size > 1)
    tensors[name][0] = float("nan")


def set_n_rows(meta, schema, tensors):
    meta["tables"]["album"]["n_rows"] = "abc"


def set_nan_share(meta, schema, tensors):
    meta["edges"][0]["null_share"] = float("nan")


def set_negative_size(meta, schema, tensors):
    meta["edges"][0]["sizes"]["sizes"][0][0] = -3


@pytest.mark.parametrize("edit, reason", [
    (set_index, "not a single create index"),
    (set_check, "more than one statement"),
    (set_default, "pg_read_file"),
    (set_type, "type"),
    (set_fk_action, "action"),
    (set_subquery_check, "subquery"),
    (set_nan_weight, "nan"),
    (set_n_rows, "n_rows"),
    (set_nan_share, "nan"),
    (set_negative_size, "non-negative integer"),
])
def test_crafted_model_rejected_and_destination_untouched(model, tmp_path, new_pg, edit, reason):
    bad = crafted(model, tmp_path / "bad.clava", edit)
    dst = new_pg("mc")
    with psycopg.connect(dst, autocommit=True) as con:
        con.execute("CREATE TABLE keepme (id int); INSERT INTO keepme VALUES (1), (2)")
    code, out = cli("sample", bad, dst, "--replace")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert code == 11, out
    assert len(lines) == 1 and lines[0].startswith("clavadb: error: model file rejected:"), out
    assert reason in lines[0].lower(), out
    with psycopg.connect(dst) as con:
        tables = {r[0] for r in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
        assert tables == {"keepme"}
        assert con.execute("SELECT count(*) FROM keepme").fetchone()[0] == 2


def test_every_reader_checks_the_file(model, tmp_path, pg_dataset):
    """Not only `sample`: the library's Synthesizer.load and `clavadb report --model` refuse a crafted file."""
    from clavadb.errors import ModelRejected
    from clavadb.model import Synthesizer

    bad = crafted(model, tmp_path / "bad.clava", set_index)
    with pytest.raises(ModelRejected, match="index"):
        Synthesizer.load(bad)
    src = pg_dataset("chinook")
    code, out = cli("report", src, src, "--model", bad)
    assert code == 11 and "model file rejected" in out, out


def test_not_a_model_file_rejected(tmp_path):
    junk = tmp_path / "junk.clava"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    code, out = cli("sample", junk, tmp_path / "o.duckdb")
    assert code == 11 and "model file rejected" in out and not (tmp_path / "o.duckdb").exists()


def test_signed_model_checked_by_sample(pg_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "correct horse battery staple")
    path = tmp_path / "s.clava"
    code, out = cli("train", pg_dataset("chinook"), "-o", path, "--tables", "genre", "--preset", "test", "--quiet")
    assert code == 0, out
    assert Path(f"{path}.sig").is_file()
    code, out = cli("sample", path, tmp_path / "o.duckdb", "--dry-run")
    assert code == 0, out
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    tampered = tmp_path / "t.clava"
    tampered.write_bytes(bytes(data))
    Path(f"{tampered}.sig").write_text(Path(f"{path}.sig").read_text())
    code, out = cli("sample", tampered, tmp_path / "o.duckdb", "--dry-run")
    assert code == 11 and "does not match" in out, out
    Path(f"{tampered}.sig").unlink()
    code, out = cli("sample", tampered, tmp_path / "o.duckdb", "--dry-run")
    assert code == 11 and "missing" in out, out
    monkeypatch.setenv(KEY_ENV, "another key")
    code, out = cli("sample", path, tmp_path / "o.duckdb", "--dry-run")
    assert code == 11 and "does not match" in out, out


def test_every_fragment_of_real_schemas_passes(pg_dataset, new_pg):
    """No false rejection: the edge-case schema (domains, generated columns, partial and expression
    indexes, enums, arrays) and every real dataset, as PostgreSQL and DuckDB read them."""
    edge = new_pg("edge")
    with psycopg.connect(edge, autocommit=True) as con:
        con.execute(EDGE_SQL.read_text())
    for dsn in (edge, pg_dataset("chinook"), pg_dataset("northwind"), pg_dataset("movielens")):
        with open_adapter(dsn) as a:
            schema = a.introspect()
        assert schema_problems(schema) == [], dsn
        assert any(ix.definition for t in schema.tables.values() for ix in t.indexes) or dsn != edge
    for name in ("chinook", "movielens"):
        assert schema_problems(example_schema(name)) == [], name


def test_every_fragment_of_duckdb_schemas_passes(duckdb_movielens, tmp_path):
    from clavadb.examples import write_example

    path = str(tmp_path / "c.duckdb")
    write_example("chinook", path)
    for dsn in (path, duckdb_movielens):
        with open_adapter(dsn) as a:
            schema = a.introspect()
        assert any(ix.definition for t in schema.tables.values() for ix in t.indexes) or dsn != path
        assert schema_problems(schema) == [], dsn
    assert duck_index("CREATE INDEX i ON album (artist_id); DROP TABLE keepme", schema.tables["movie"]) is not None


@pytest.mark.parametrize("expr", ["a > 0 AND b IS NOT NULL", "lower(email) ~ '^[a-z]+@'", "nextval('s'::regclass)",
                                  "CURRENT_TIMESTAMP", "(price * 1.1)::numeric(10,2) < 1e6"])
def test_plain_expressions_accepted(expr):
    assert pg_expression(expr) is None


@pytest.mark.parametrize("expr", ["1); DROP TABLE t; SELECT (1", "(SELECT 1)", "query_to_xml('DROP TABLE t', true, "
                                  "true, '')", "set_config('role', 'x', false) IS NOT NULL", "lo_import('/etc/passwd')",
                                  "x > 0 -- ", "pg_catalog.pg_sleep(10) IS NULL"])
def test_statements_and_side_effects_rejected(expr):
    assert pg_expression(expr) is not None
    assert duck_expression(expr) is not None


def test_index_must_target_its_own_table():
    from clavadb.schema import Table

    t = Table("album", "public")
    assert pg_index("CREATE INDEX ix ON public.album USING btree (lower(title)) WHERE (artist_id > 0)", t,
                    "public") is None
    assert pg_index("CREATE INDEX ix ON public.keepme USING btree (id)", t, "public") is not None
    assert pg_index("CREATE INDEX ix ON public.album (title); DROP TABLE keepme", t, "public") is not None
    assert pg_index("DROP TABLE keepme", t, "public") is not None
