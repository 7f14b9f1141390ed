"""Foreign key values -> parent row positions, joined in DuckDB (composite keys; NULL and orphans -> -1)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from clavadb.schema import ForeignKey
from clavadb.sql import qident


def fk_positions(child: pd.DataFrame, parent: pd.DataFrame, fk: ForeignKey,
                 con: duckdb.DuckDBPyConnection | None = None) -> np.ndarray:
    """Row position in `parent` of the row each `child` row references; -1 for NULL FKs and orphans.
    A referenced key that repeats in the parent (not declared unique) resolves to its first row."""
    n = len(child)
    if n == 0:
        return np.zeros(0, np.int64)
    if len(parent) == 0:
        return np.full(n, -1, np.int64)
    own = con is None
    con = con or duckdb.connect()
    # explicit positions: a scan's row order is not something to rely on
    c = pd.DataFrame({f"k{i}": child[col].to_numpy() for i, col in enumerate(fk.columns)})
    c["__pos"] = np.arange(n)
    p = pd.DataFrame({f"k{i}": parent[col].to_numpy() for i, col in enumerate(fk.ref_columns)})
    p["__pos"] = np.arange(len(parent))
    con.register("__clava_child", c)
    con.register("__clava_parent", p)
    keys = [qident(f"k{i}") for i in range(len(fk.columns))]
    on = " AND ".join(f"c.{k} = p.{k}" for k in keys)
    try:
        res = con.execute(
            f"""
            WITH p AS (SELECT {', '.join(keys)}, min(__pos) AS __pos FROM __clava_parent GROUP BY ALL)
            SELECT c.__pos, coalesce(p.__pos, -1) FROM __clava_child c LEFT JOIN p ON {on}
            """
        ).fetchnumpy()
    finally:
        con.unregister("__clava_child")
        con.unregister("__clava_parent")
        if own:
            con.close()
    cols = list(res.values())
    out = np.full(n, -1, np.int64)
    out[np.asarray(cols[0], np.int64)] = np.asarray(cols[1], np.int64)
    return out
