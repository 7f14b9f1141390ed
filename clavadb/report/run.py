"""run_report(): read a real and a synthetic database through their adapters, evaluate, write HTML / JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clavadb.adapters import open_adapter
from clavadb.errors import ClavaError
from clavadb.privacy import ColumnPlan
from clavadb.schema import Table
from clavadb.state import PipelineState

from .metrics import MEASURES, evaluate
from .result import ReportResult

# kinds DuckDB cannot scan from pandas objects reliably; the report only needs them as text
TEXT_ONLY_KINDS = {"json", "array", "other", "uuid"}


def run_report(real_dsn: str, synth_dsn: str, *, schemas: list[str] | None = None, html: str | None = None,
               json_path: str | None = None, max_rows: int = 50_000, seed: int = 0, model: str | None = None,
               discriminators: bool = True, progress: Callable[[str, str, float], None] | None = None
               ) -> ReportResult:
    """Measure the synthetic database `synth_dsn` against the real `real_dsn`; write HTML and/or JSON.

    model: the model file the copy was sampled from: its column plan (which columns were generated, which
    tables kept) and its preset and seed go into the report; without it the plan is re-derived from the
    real rows and the preset and seed read "unknown". progress: called as ("report", step, fraction done)
    as each step starts: reading each table, then each measure."""
    report = progress or (lambda stage, step, fraction: None)
    info, plans = _model_info(model) if model else ({}, None)
    with open_adapter(real_dsn, read_only=True) as real_db, open_adapter(synth_dsn, read_only=True) as synth_db:
        schema = real_db.introspect(schemas)
        synth_schema = synth_db.introspect(schemas)
        missing = [k for k in schema.tables if k not in synth_schema.tables]
        if len(missing) == len(schema.tables) and missing:
            raise ClavaError(f"the synthetic database {synth_dsn!r} has none of the real tables",
                             "check the DSN and --schema of both databases")
        n_steps = len(schema.tables) + len(MEASURES)
        real, synth = {}, {}
        for i, (k, t) in enumerate(schema.tables.items()):
            report("report", f"read {k}", i / n_steps)
            real[k] = _frame(real_db, t, t)
            if k not in missing:
                synth[k] = _frame(synth_db, synth_schema.tables[k], t)
    done = len(schema.tables)

    def measure(step: str) -> None:
        report("report", step, (done + MEASURES.index(step)) / n_steps)

    result = evaluate(schema, real, synth, max_rows=max_rows, seed=seed, plans=plans, discriminators=discriminators,
                      progress=measure)
    report("report", "", 1.0)
    result.run.update(info)
    if json_path:
        Path(json_path).write_text(json.dumps(result.to_dict(), indent=1))
    if html:
        from .html import render

        title = f"{_redact(real_dsn)} vs {_redact(synth_dsn)}"
        Path(html).write_text(render(result, schema, title=title), encoding="utf-8")
    return result


def _model_info(path: str) -> tuple[dict[str, Any], list[ColumnPlan]]:
    """Preset, method, seed and column plan of a model file."""
    from clavadb.model_check import load_model

    syn = load_model(path)
    info = {"preset": syn.preset, "method": syn.method, "model_seed": syn.settings.seed, "model_file": path,
            "column_plan": "from the model file"}
    return info, PipelineState.of(syn).plans


def _redact(dsn: str) -> str:
    """The DSN without its password, for the page title."""
    from clavadb.dsn import redact

    return redact(dsn)


def _frame(adapter, table: Table, ref: Table) -> pd.DataFrame:
    """The table as pandas, with the real table's columns (those the synthetic copy lacks are left out)."""
    have = set(table.column_names)
    cols = [c for c in ref.column_names if c in have]
    data = adapter.read_table(table, cols)
    for c in ref.columns:
        if c.name in have and c.kind in TEXT_ONLY_KINDS:
            data = data.set_column(data.schema.get_field_index(c.name), c.name, _as_text(data[c.name]))
    return data.to_pandas()


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(col, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())])

