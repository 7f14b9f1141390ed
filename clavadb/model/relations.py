"""Foreign key values -> parent row positions: the join the fit needs, run in the workspace (DuckDB).

A position is the 0-based row of the referenced parent row in the parent's frame; -1 for a NULL FK (any of
its columns NULL) and for an orphan. The model imports no database: these functions hand the join to
`Workspace.fk_positions`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from clavadb.schema import Schema

Positions = dict[tuple[str, str], np.ndarray]  # (child table, FK name) -> parent position per child row


def fk_positions(schema: Schema, workspace) -> Positions:
    """Positions of every FK inside `schema`, from its tables as loaded in `workspace` (a
    clavadb.workspace.Workspace holding each table under its key, rows in the order of the frames)."""
    return {(child, fk.name): workspace.fk_positions(child, fk)
            for child, fk in schema.foreign_keys() if fk.ref_table in schema.tables}


def frame_positions(schema: Schema, frames: Mapping[str, pd.DataFrame],
                    seconds: dict[str, dict[str, float]] | None = None) -> Positions:
    """Positions of every FK inside `schema` from in-memory frames: their key columns are loaded into a
    fresh workspace first. seconds: per child table, "fk_positions" gets the time its joins took."""
    from clavadb.workspace import Workspace

    need: dict[str, list[str]] = {}
    for child, fk in schema.foreign_keys():
        if fk.ref_table in schema.tables:
            need.setdefault(child, []).extend(fk.columns)
            need.setdefault(fk.ref_table, []).extend(fk.ref_columns)
    ws = Workspace()
    try:
        for key, cols in need.items():
            ws.load(key, frames[key][list(dict.fromkeys(cols))])
        out: Positions = {}
        for child, fk in schema.foreign_keys():
            if fk.ref_table not in schema.tables:
                continue
            t0 = time.perf_counter()
            out[(child, fk.name)] = ws.fk_positions(child, fk)
            if seconds is not None:
                stage = seconds.setdefault(child, {})
                stage["fk_positions"] = stage.get("fk_positions", 0.0) + time.perf_counter() - t0
        return out
    finally:
        ws.close()
