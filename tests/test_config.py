"""clavadb.toml: per-column choices, kept and excluded tables, foreign keys the catalog lacks, typos refused."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from clavadb.adapters import open_adapter
from clavadb.cli import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def chinook(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("cfg") / "chinook.duckdb")
    assert cli("example", "chinook", path, "--quiet").exit_code == 0
    return path


def test_column_choices_change_the_plan(chinook, tmp_path):
    cfg = tmp_path / "clavadb.toml"
    cfg.write_text("""
[tables.customer.columns.city]
pii = true
generator = "city"
[tables.customer.columns.company]
exclude = true
[tables.genre]
keep = false
""")
    out = cli("clone", chinook, tmp_path / "x.duckdb", "--dry-run", "--config", cfg).output
    assert "city                         generated as city" in out
    assert "company                      excluded" in out
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("genre ("))
    genre = lines[start + 1:start + 3]
    assert all(ln.startswith("  ") and "kept as is" not in ln for ln in genre), genre


def test_typos_are_refused_before_anything_is_read(chinook, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[tables.customer.columns.emial]\npii = true\n")
    result = cli("clone", chinook, tmp_path / "y.duckdb", "--config", cfg, "--preset", "test")
    assert result.exit_code != 0 and "customer.emial" in result.output
    cfg.write_text("[tables.customer]\nkeeep = true\n")
    result = cli("clone", chinook, tmp_path / "y.duckdb", "--config", cfg)
    assert result.exit_code != 0 and "keeep" in result.output
    assert not (tmp_path / "y.duckdb").exists()


def test_foreign_key_from_config_is_learned_and_declared(tmp_path):
    src = str(tmp_path / "legacy.duckdb")
    con = duckdb.connect(src)
    con.execute("CREATE TABLE team (id INTEGER PRIMARY KEY, league VARCHAR)")
    con.execute("CREATE TABLE player (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL, pos VARCHAR)")
    con.execute("INSERT INTO team SELECT i, CASE WHEN i % 2 = 0 THEN 'east' ELSE 'west' END FROM range(1, 61) t(i)")
    con.execute("INSERT INTO player SELECT i, 1 + i % 60, CASE WHEN i % 3 = 0 THEN 'guard' ELSE 'wing' END "
                "FROM range(1, 601) t(i)")
    con.close()
    cfg = tmp_path / "clavadb.toml"
    cfg.write_text('[[foreign_keys]]\ntable = "player"\ncolumns = ["team_id"]\nref_table = "team"\n'
                   'ref_columns = ["id"]\n')
    dst = str(tmp_path / "out.duckdb")
    result = cli("clone", src, dst, "--config", cfg, "--preset", "test", "--quiet")
    assert result.exit_code == 0, result.output
    with open_adapter(dst) as db:
        schema = db.introspect()
        team, player = (db.read_table(schema.tables[t]).to_pandas() for t in ("team", "player"))
    fk = schema.tables["player"].foreign_keys
    assert [(f.columns, f.ref_table) for f in fk] == [(["team_id"], "team")]
    assert player["team_id"].isin(team["id"]).all()
