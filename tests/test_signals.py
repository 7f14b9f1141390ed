"""Ctrl-C (SIGINT) and SIGTERM sent to the real CLI during the fit and during the write: one line, exit 130 /
143, and the destination as it was (no file, no temporary file, an existing file byte for byte; PostgreSQL
without a table of the run)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psycopg
import pytest
from click.testing import CliRunner

from clavadb.cli import main
from clavadb.examples import write_example

SMALL = ["--tables", "track", "--preset", "test"]  # track and its four parents: 4k rows, a fit of seconds
TIMEOUT = 300  # seconds a run may take on a loaded CI machine before the test gives up


@pytest.fixture(scope="module")
def chinook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sig") / "chinook.duckdb"
    write_example("chinook", str(path))
    return path


@pytest.fixture(scope="module")
def model(chinook) -> Path:
    path = chinook.with_name("m.clava")
    r = CliRunner().invoke(main, ["train", str(chinook), "-o", str(path), *SMALL, "--quiet"])
    assert r.exit_code == 0, r.output
    return path


def sample_into(model: Path, dst) -> None:
    r = CliRunner().invoke(main, ["sample", str(model), str(dst), "--quiet"])
    assert r.exit_code == 0, r.output


def signal_when(args: list[str], ready, signum: int) -> tuple[int, str]:
    """Run the CLI with --json, send `signum` once an event satisfies `ready`; (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "clavadb.cli", *map(str, args), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if ready(event):
                proc.send_signal(signum)
                break
        else:
            pytest.fail(f"the run ended before the awaited event: {proc.stderr.read()}")
        proc.stdout.read()
        err = proc.stderr.read()
        return proc.wait(), err
    finally:
        timer.cancel()


def in_stage(stage: str, begun: bool = False):
    """An event of `stage`: a table's progress (the stage is working), or with `begun` its start."""
    kinds = ("progress", "stage") if begun else ("progress",)
    return lambda e: e.get("event") in kinds and e.get("stage") == stage


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_fit_leaves_no_file(chinook, tmp_path, signum, code):
    dst = tmp_path / "out.duckdb"
    rc, err = signal_when(["clone", chinook, dst, *SMALL], in_stage("fit"), signum)
    assert rc == code, err
    lines = error_lines(err)
    assert len(lines) == 1 and "during fit" in lines[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130)])
def test_signal_during_duckdb_write_leaves_no_file(model, tmp_path, signum, code):
    dst = tmp_path / "out.duckdb"
    rc, err = signal_when(["sample", model, dst], in_stage("write"), signum)
    # A small write can finish before the signal lands: then the file is the whole copy, never a partial one.
    assert rc in (0, code), err
    if rc == 0:
        assert duckdb.connect(str(dst), read_only=True).execute("SELECT count(*) FROM track").fetchone()[0] > 0
        assert [p.name for p in tmp_path.iterdir()] == ["out.duckdb"]
        return
    lines = error_lines(err)
    assert len(lines) == 1 and "during write" in lines[0], err
    assert list(tmp_path.iterdir()) == []


def test_signal_during_write_into_existing_duckdb_file_keeps_it(model, tmp_path):
    dst = tmp_path / "existing.duckdb"
    sample_into(model, dst)
    before, size = md5(dst), dst.stat().st_size
    rc, err = signal_when(["sample", model, dst, "--replace"], in_stage("write"), signal.SIGTERM)
    # A small write can finish before the signal lands: then the file is the whole new copy, never a mix.
    assert rc in (0, 143), err
    if rc == 143:
        assert md5(dst) == before and dst.stat().st_size == size
    else:
        assert duckdb.connect(str(dst), read_only=True).execute("SELECT count(*) FROM track").fetchone()[0] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.duckdb"]


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143)])
def test_signal_during_postgres_write_rolls_back(model, new_pg, signum, code):
    """The write is held inside its transaction by a lock the test keeps on a table it replaces, so the
    signal arrives while the DROP waits; afterwards the destination has exactly its old rows."""
    dst = new_pg("sig")
    sample_into(model, dst)
    with psycopg.connect(dst) as con:
        before = con.execute("SELECT count(*), sum(track_id) FROM track").fetchone()
    holder = psycopg.connect(dst)
    holder.execute("SELECT 1 FROM track LIMIT 1")  # ACCESS SHARE until this transaction ends
    try:
        def waiting(e):
            if not in_stage("write", begun=True)(e):
                return False
            deadline = time.monotonic() + 30  # until the write is blocked on the lock, as seen by the server
            while time.monotonic() < deadline:
                with psycopg.connect(dst) as probe:
                    if probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND query LIKE 'DROP TABLE%'").fetchone()[0]:
                        return True
                time.sleep(0.2)
            return True

        rc, err = signal_when(["sample", model, dst, "--replace"], waiting, signum)
    finally:
        holder.close()
    assert rc == code, err
    assert "during write" in error_lines(err)[-1], err
    with psycopg.connect(dst) as con:
        assert con.execute("SELECT count(*), sum(track_id) FROM track").fetchone() == before
