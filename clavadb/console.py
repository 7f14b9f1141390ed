"""What the CLI tells the user: progress per stage, notes, the final summary, errors.

Text goes to stderr (stdout stays clean for `inspect` and `--dry-run` output); `--json` writes one JSON
object per line to stdout instead; `--quiet` prints only errors. On a terminal a stage draws one line that
is redrawn in place (table, bar, rows, elapsed, ETA); elsewhere (CI logs, pipes) each stage prints one line
when it starts. Every text goes through `scrub`, so a password given on the command line is never printed,
whatever message carries it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from clavadb.dsn import scrub

# sub-stages the model reports during fitting, shown as part of the one "fit" stage
STAGE_OF = {"encode": "fit", "cluster": "fit", "train": "fit", "classifier": "fit", "label_head": "fit"}
REDRAW_SECONDS = 0.1  # a terminal line is redrawn at most this often: cheap, and still looks live
BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Console:
    def __init__(self, quiet: bool = False, as_json: bool = False, secrets: Iterable[str] = (),
                 stream: TextIO | None = None):
        self.quiet = quiet
        self.as_json = as_json
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.err = stream or sys.stderr
        self.tty = self.err.isatty()
        self.stage: str | None = None  # the stage running now ("read", "fit", "sample", "write", "report")
        self._t0 = 0.0
        self._drawn = False
        self._last_draw = 0.0
        self._last_json: tuple[str, str] | None = None
        self._rows: dict[str, dict[str, int]] = {}  # stage -> table -> rows expected
        self._done: dict[str, dict[str, float]] = {}  # stage -> table -> fraction done

    # -- output --------------------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        return scrub(text, self.secrets) if self.secrets else text

    def _emit(self, obj: dict[str, Any]) -> None:
        print(self._clean(json.dumps(obj, default=str)), flush=True)

    def _write(self, text: str) -> None:
        self.err.write(self._clean(text))
        self.err.flush()

    def echo(self, text: str) -> None:
        """A line for stdout (inspect, the plan, the report summary)."""
        print(self._clean(text), flush=True)

    # -- stages and progress -------------------------------------------------------------------------
    def expect(self, stage: str, rows: Mapping[str, int]) -> None:
        """Rows each table will bring to `stage`, for the rows shown and the ETA."""
        self._rows[stage] = {k: int(v) for k, v in rows.items()}

    def begin(self, stage: str, detail: str = "") -> None:
        """A stage starts: one line off a terminal (and in --json), a fresh line on one."""
        if self.quiet or stage == self.stage:
            return
        self.end_progress()
        self.stage, self._t0 = stage, time.perf_counter()
        self._done.setdefault(stage, {})
        rows = sum(self._rows.get(stage, {}).values())
        what = detail or (f"{len(self._rows[stage])} tables, {rows:,} rows" if stage in self._rows else "")
        if self.as_json:
            self._emit({"event": "stage", "stage": stage, "detail": what})
        elif not self.tty:
            self._write(f"{stage}{': ' + what if what else ''}\n")
        else:
            self._draw("", 0.0, force=True)

    def progress(self, stage: str, table: str, fraction: float) -> None:
        """Called by the pipeline and the model: `fraction` of `table` is done in `stage` (a model
        sub-stage such as "train" counts towards "fit")."""
        if self.quiet:
            return
        top = STAGE_OF.get(stage, stage)
        self.begin(top)
        fraction = min(max(float(fraction), 0.0), 1.0)
        if table:
            done = self._done[top]
            # the model trains a table in several sub-stages: its share of "fit" is that of "train"
            if top != "fit" or stage == "train":
                done[table] = max(done.get(table, 0.0), fraction)
        if self.as_json:
            key = (stage, table)
            if fraction >= 1.0 or key != self._last_json:
                self._emit({"event": "progress", "stage": top, "step": stage, "table": table,
                            "fraction": round(fraction, 3), **self._counts(top)})
            self._last_json = key
            return
        if self.tty:
            label = table if stage == top else f"{stage} {table}"
            self._draw(label, fraction)

    def _counts(self, stage: str) -> dict[str, Any]:
        expected = self._rows.get(stage)
        if not expected:
            return {}
        done = self._done.get(stage, {})
        rows = sum(expected.get(t, 0) * f for t, f in done.items())
        total = sum(expected.values())
        out: dict[str, Any] = {"rows": int(rows), "rows_total": total}
        elapsed = time.perf_counter() - self._t0
        if rows > 0 and total > rows:
            out["eta_seconds"] = round(elapsed * (total - rows) / rows, 1)
        return out

    def _draw(self, label: str, fraction: float, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and fraction < 1.0 and now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        counts = self._counts(self.stage or "")
        share = counts["rows"] / counts["rows_total"] if counts.get("rows_total") else fraction
        filled = int(BAR_WIDTH * min(max(share, 0.0), 1.0))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        parts = [f"\r{self.stage or '':<7} {label[:30]:<30} [{bar}] {share * 100:5.1f}%"]
        if counts.get("rows_total"):
            parts.append(f" {counts['rows']:,}/{counts['rows_total']:,} rows")
        parts.append(f"  {_clock(now - self._t0)}")
        if "eta_seconds" in counts:
            parts.append(f"  ETA {_clock(counts['eta_seconds'])}")
        self._write("".join(parts) + "\x1b[K")
        self._drawn = True

    def end_progress(self) -> None:
        if self.tty and self._drawn and not self.quiet and not self.as_json:
            self._write("\n")
        self._drawn = False
        self._last_json = None

    # -- messages ------------------------------------------------------------------------------------
    def note(self, message: str) -> None:
        if self.quiet:
            return
        self.end_progress()
        if self.as_json:
            self._emit({"event": "note", "message": message})
        else:
            self._write(f"note: {message}\n")

    def summary(self, data: dict[str, Any], text: str) -> None:
        self.end_progress()
        self.stage = None
        if self.as_json:
            self._emit({"event": "summary", **data})
        elif not self.quiet:
            self._write(text.rstrip() + "\n")

    def error(self, message: str, code: int) -> None:
        """One line; in --json also an error event with the exit code."""
        self.end_progress()
        message = " ".join(message.split())  # one line, whatever the message holds
        if self.as_json:
            self._emit({"event": "error", "message": message, "exit_code": code})
        self._write(f"clavadb: error: {message}\n")
