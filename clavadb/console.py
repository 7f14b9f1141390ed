"""What the CLI tells the user: progress per stage and table, notes, the final summary.

Text goes to stderr (stdout stays clean for `inspect` and `--dry-run` output); `--json` writes one JSON
object per line to stdout instead; `--quiet` prints only errors.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


class Console:
    def __init__(self, quiet: bool = False, as_json: bool = False):
        self.quiet = quiet
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self._last: tuple[str, str] | None = None
        self._last_draw = 0.0
        self._started: dict[str, float] = {}

    def _emit(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj, default=str), flush=True)

    def progress(self, stage: str, table: str, fraction: float) -> None:
        """Called by the pipeline and the model; draws a bar per (stage, table) on a terminal, a line per
        finished table otherwise."""
        if self.quiet:
            return
        if self.as_json:
            if fraction >= 1.0 or (stage, table) != self._last:
                self._emit({"event": "progress", "stage": stage, "table": table, "fraction": round(fraction, 3)})
            self._last = (stage, table)
            return
        key = (stage, table)
        if key != self._last:
            if self._last is not None and self.tty:
                sys.stderr.write("\n")
            self._started[f"{stage}/{table}"] = time.perf_counter()
            self._last = key
            if not self.tty:
                sys.stderr.write(f"{stage:<12} {table}\n")
        if self.tty:
            now = time.perf_counter()
            if fraction < 1.0 and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            width = 30
            filled = int(width * min(max(fraction, 0.0), 1.0))
            bar = "#" * filled + "-" * (width - filled)
            sys.stderr.write(f"\r{stage:<12} {table[:28]:<28} [{bar}] {fraction * 100:5.1f}%")
        sys.stderr.flush()

    def end_progress(self) -> None:
        if self.tty and self._last is not None and not self.quiet and not self.as_json:
            sys.stderr.write("\n")
        self._last = None

    def note(self, message: str) -> None:
        if self.quiet:
            return
        self.end_progress()
        if self.as_json:
            self._emit({"event": "note", "message": message})
        else:
            sys.stderr.write(f"note: {message}\n")

    def summary(self, data: dict[str, Any], text: str) -> None:
        self.end_progress()
        if self.as_json:
            self._emit({"event": "summary", **data})
        elif not self.quiet:
            sys.stderr.write(text.rstrip() + "\n")

    def error(self, message: str) -> None:
        self.end_progress()
        if self.as_json:
            self._emit({"event": "error", "message": message})
        sys.stderr.write(f"clavadb: error: {message}\n")
