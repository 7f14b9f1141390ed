"""Crashes found on databases clavadb had never seen, each kept as a regression: a real DuckDB or PostgreSQL
database holding the one feature that broke the clone, cloned by the CLI with the `test` preset."""

from __future__ import annotations

import duckdb
import numpy as np
import psycopg
from click.testing import CliRunner

from clavadb import generators
from clavadb.cli import main
from clavadb.model.clustering import cluster_edge
from clavadb.schema import Column

FAST = ["--preset", "test", "--quiet"]


def clone(src: str, dst: str, *extra: str) -> str:
    result = CliRunner().invoke(main, ["clone", src, dst, *FAST, *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "unexpected" not in result.output
    return result.output


def duck_db(path, sql: str) -> str:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return f"duckdb:///{path}"


def test_blank_only_and_empty_text_columns_are_planned(tmp_path):
    """A text column of only blanks (and a zero-row table's text columns, read as float NaN) gave
    'Can only use .str accessor with string values' in the personal-data planner."""
    src = duck_db(tmp_path / "s.duckdb", """
        create table blank_t(id int primary key, note text, k int);
        insert into blank_t select i, repeat(' ', 1 + i % 3), i % 4 from range(50) t(i);
        create table empty_t(id int primary key, note text, label varchar(20));""")
    dst = tmp_path / "d.duckdb"
    clone(src, f"duckdb:///{dst}")
    with duckdb.connect(str(dst), read_only=True) as con:
        assert con.execute("select count(*), count(note) from blank_t").fetchone() == (50, 50)
        assert con.execute("select count(*) from empty_t").fetchone() == (0,)


def test_collapsed_sample_clusters_without_error():
    """Many identical rows of large values: the GMM's variance in float32 came out negative ('ill-defined
    empirical covariance'). The clustering now always returns labels."""
    rng = np.random.default_rng(0)
    child = np.full((2000, 3), 1000.0, np.float32)
    child[:5] += rng.normal(size=(5, 3)).astype(np.float32)
    parent = np.full((100, 2), 1000.0, np.float32)
    pos = rng.integers(0, 100, len(child))
    out = cluster_edge(child, parent, pos, 100, 20, 1.0, 200, 100_000, 0)
    assert out.parent_labels.shape == (100,) and 1 <= out.n_labels <= 6
    single = cluster_edge(np.ones((50, 2), np.float32), np.ones((10, 1), np.float32), np.arange(50) % 10, 10,
                          8, 1.0, 50, 1000, 0)
    assert single.n_labels == 1 and (single.parent_labels == 0).all()


def test_arrays_of_one_length_generate_one_array_per_row():
    """Arrays all of one length made a 2-d array ('Data must be 1-dimensional'); elements follow the kind."""
    rng = np.random.default_rng(1)
    for kind, ok in [("int", lambda v: isinstance(v, int)), ("bool", lambda v: isinstance(v, bool)),
                     ("text", lambda v: isinstance(v, str))]:
        col = Column("a", f"{kind}[]", "array", element_kind=kind)
        out = generators.generate("array", 20, rng, col, {"len_min": 2, "len_max": 2})
        assert out.shape == (20,)
        assert all(len(a) == 2 and all(ok(v) for v in a) for a in out)


def test_arrays_clone_duckdb_and_postgres(tmp_path, new_pg):
    """int[], text[] and boolean[] arrays of one length, DuckDB -> DuckDB and PostgreSQL -> PostgreSQL
    (integers in a boolean[] were refused by PostgreSQL)."""
    src = duck_db(tmp_path / "a.duckdb", """
        create table arr_t(id int primary key, ia int[], ta text[], ba boolean[]);
        insert into arr_t select i, [i, i + 1], ['x' || i, 'y'], [true, i % 2 = 0] from range(200) t(i);""")
    dst = tmp_path / "b.duckdb"
    clone(src, f"duckdb:///{dst}")
    with duckdb.connect(str(dst), read_only=True) as con:
        assert con.execute("select count(*), min(len(ia)), max(len(ba)) from arr_t").fetchone() == (200, 2, 2)
    pg_src, pg_dst = new_pg("arr"), new_pg("arrd")
    with psycopg.connect(pg_src, autocommit=True) as con:
        con.execute("""create table arr_t(id int primary key, ia int[], ta text[], ba boolean[]);
            insert into arr_t select i, array[i, i + 1], array['x' || i, 'y'], array[true, i % 2 = 0]
            from generate_series(0, 199) i""")
    clone(pg_src, pg_dst)
    with psycopg.connect(pg_dst) as con:
        ia, ba = con.execute("select ia, ba from arr_t limit 1").fetchone()
        assert len(ia) == 2 and all(isinstance(v, bool) for v in ba)

