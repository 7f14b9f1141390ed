"""Children conditioned on their parent rows: a child column that follows a parent column finely (more
finely than a few cluster labels can carry) keeps that dependency in the copy."""

from __future__ import annotations

import duckdb
import numpy as np
from click.testing import CliRunner

from clavadb.cli import main


def _database(path) -> None:
    """p(x) with 400 rows; c(y), three rows per parent, y = the parent's x plus 10% noise (corr 0.995)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, x DOUBLE, g VARCHAR)")
    con.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER NOT NULL REFERENCES p (id), y DOUBLE)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?)", [(i, float(v), "ab"[i % 2]) for i, v in enumerate(x)])
    con.executemany("INSERT INTO c VALUES (?, ?, ?)",
                    [(3 * i + j, i, float(x[i] + 0.1 * rng.standard_normal())) for i in range(400) for j in range(3)])
    con.close()


def _corr(tmp_path, context: bool) -> float:
    src, dst = tmp_path / "src.duckdb", tmp_path / f"copy_{context}.duckdb"
    if not src.exists():
        _database(src)
    r = CliRunner().invoke(main, ["clone", str(src), str(dst), "--preset", "test", "--set", "steps=400",
                                  "--set", f"parent_context={str(context).lower()}", "--seed", "1", "--quiet"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(dst), read_only=True)
    try:
        return con.execute("SELECT corr(p.x, c.y) FROM c JOIN p ON c.p_id = p.id").fetchone()[0]
    finally:
        con.close()


def test_child_follows_its_parent_row(tmp_path):
    """Measured when written: 0.83 with the context, 0.14 with cluster labels alone (test preset, 400 steps)."""
    with_context, labels_only = _corr(tmp_path, True), _corr(tmp_path, False)
    assert with_context >= 0.7, with_context
    assert with_context >= labels_only + 0.3, (with_context, labels_only)
