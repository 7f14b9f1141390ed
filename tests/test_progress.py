"""Progress a person can follow: one line per stage off a terminal, a bar with rows, elapsed time and ETA on
one; the summary lists what was generated rather than modeled and the next command; report says where."""

from __future__ import annotations

import io
import re
import time

from click.testing import CliRunner

from clavadb.cli import main
from clavadb.console import Console
from clavadb.examples import write_example


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_shows_rows_and_eta():
    term = Terminal()
    c = Console(stream=term)
    c.expect("write", {"a": 1000, "b": 3000})
    c.begin("write")
    c.progress("write", "a", 1.0)
    time.sleep(0.15)  # past the redraw interval
    c.progress("write", "b", 0.5)
    last = term.getvalue().split("\r")[-1]
    assert "2,500/4,000 rows" in last and "62.5%" in last, last
    assert re.search(r"ETA \d+:\d\d", last), last


def test_stages_summary_and_next_command(tmp_path):
    src = tmp_path / "chinook.duckdb"
    write_example("chinook", str(src))
    dst = tmp_path / "copy.duckdb"
    r = CliRunner().invoke(main, ["clone", str(src), str(dst), "--tables", "album", "--preset", "test"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    stages = [ln.split(":")[0] for ln in lines if re.match(r"^(read|fit|sample|write):", ln)]
    assert stages == ["read", "fit", "sample", "write"], r.output
    assert "read: 2 tables, 622 rows" in lines
    assert "generated rather than modeled:" in lines
    assert any(re.match(r"^  generated as shaped_text\s+artist\.name, album\.title$", ln) for ln in lines), r.output
    assert lines[-1] == f"next: clavadb report {src} {dst} --html report.html"
    html = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", str(src), str(dst), "--html", str(html)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert f"note: HTML report written to {html.resolve()}" in r.output
    assert html.is_file()


def test_sample_stage_reports_each_table(tmp_path):
    """The sample stage, the longest after fit, reports each table as it is drawn, with rows towards the ETA."""
    import json

    src = tmp_path / "chinook.duckdb"
    write_example("chinook", str(src))
    dst = tmp_path / "copy.duckdb"
    r = CliRunner().invoke(main, ["clone", str(src), str(dst), "--tables", "album", "--preset", "test", "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    events = [json.loads(ln) for ln in r.output.splitlines() if ln.startswith("{")]
    sample = [e for e in events if e.get("event") == "progress" and e["stage"] == "sample"]
    done = {e["table"] for e in sample if e["fraction"] == 1.0}
    assert done == {"artist", "album"}, sample
    last = sample[-1]
    assert last["rows"] == last["rows_total"] > 0, last


def test_report_shows_its_steps(tmp_path):
    """`report` says each step it takes (reading each table, then each measure), with the share done."""
    from clavadb.report.run import run_report

    src = tmp_path / "chinook.duckdb"
    write_example("chinook", str(src))
    seen: list[tuple[str, str, float]] = []
    run_report(str(src), str(src), max_rows=2000, discriminators=False,
               progress=lambda stage, step, fraction: seen.append((stage, step, fraction)))
    steps = [step for _, step, _ in seen]
    assert {s[0] for s in seen} == {"report"}
    assert steps[:2] == ["read artist", "read employee"] and "read track" in steps, steps
    assert [s for s in steps if not s.startswith("read")] == ["validity", "1-way", "cardinality", "pairs",
                                                               "privacy", ""], steps
    fractions = [f for _, _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0, fractions
