"""Primary and foreign key values of the synthetic tables.

The model emits, per FK, the 0-based position of the referenced row in the parent's frame (column
`__fk__<fk name>`); here keys get values: new dense integers, new UUIDs, or new text keys of the real
keys' shape (never a real value), and FK columns are looked up from the parent's key columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clavadb.errors import ClavaError, ConstraintUnsatisfiable
from clavadb.generators import hash_buckets, stable_salt, uuid_strings
from clavadb.schema import DATETIME_KINDS, NUMBER_KINDS, Column, ForeignKey, Schema, Table

FK_PREFIX = "__fk__"
_CLASS_RANGES = ((65, 26), (97, 26), (48, 10))  # upper, lower, digit (codepoint start, size); 4th: other
_MIN_PER_BUCKET = 64  # hash buckets of real text keys hold at least this many possible keys each


def fk_column(fk: ForeignKey) -> str:
    return FK_PREFIX + fk.name


def _generated_keys(schema: Schema, table: Table) -> list[str]:
    """Key columns this module generates: PK columns and FK-referenced columns that are no FK column."""
    referenced = {c for _, fk in schema.foreign_keys() if fk.ref_table == table.key for c in fk.ref_columns}
    fk_cols = table.fk_columns()
    cols = [c for c in table.primary_key if c not in fk_cols]
    return cols + [c for c in table.column_names if c in referenced and c not in cols and c not in fk_cols]


# -- statistics -------------------------------------------------------------------------------------

def _text_shape(values: pd.Series, col: Column) -> dict[str, Any]:
    v = values.dropna().astype(str)
    if v.empty:
        return {"kind": "text"}
    lmax = int(v.str.len().max())
    grid = np.asarray(v.to_numpy(dtype=f"<U{lmax}")).view(np.uint32).reshape(len(v), lmax)
    present = grid != 0
    upper = (grid >= 65) & (grid <= 90)
    lower = (grid >= 97) & (grid <= 122)
    digit = (grid >= 48) & (grid <= 57)
    other = present & ~(upper | lower | digit)
    cnt = np.maximum(present.sum(0), 1)
    classes = np.stack([upper.sum(0), lower.sum(0), digit.sum(0), other.sum(0)], axis=1) / cnt[:, None]
    other_chars = "".join(sorted({chr(c) for c in np.unique(grid[other])} - set("\x00")))[:32]
    lengths = v.str.len().value_counts(normalize=True).sort_index()
    st: dict[str, Any] = {"kind": "text", "lengths": {str(k): float(p) for k, p in lengths.items()},
                          "classes": np.round(classes, 6).tolist(), "other": other_chars or "-"}
    # Real keys are remembered only as coarse salted hash buckets, each shared by >= _MIN_PER_BUCKET possible
    # keys: enough to never emit a real key, too coarse to tell which key was real.
    sizes = np.array([26, 26, 10, max(len(other_chars), 1)])
    per_pos = ((classes > 0) * sizes).sum(1)
    space = sum(p * float(np.prod(per_pos[: int(k)])) for k, p in lengths.items())
    bits = int(min(24, np.floor(np.log2(max(space / _MIN_PER_BUCKET, 1)))))
    if bits >= 4:
        salt = stable_salt(col.name, *map(str, lengths.index))
        st["avoid"] = {"salt": salt, "bits": bits, "buckets": sorted(set(hash_buckets(v, salt, bits).tolist()))}
    return st


def key_shape_stats(schema: Schema, tables: Mapping[str, pd.DataFrame]) -> dict:
    """Per table and generated key column: what new keys need (JSON-able, no real value)."""
    out: dict[str, dict[str, Any]] = {}
    for key, table in schema.tables.items():
        frame = tables.get(key)
        for c in _generated_keys(schema, table):
            col = table.column(c)
            s = frame[c] if frame is not None and c in frame else pd.Series([], dtype=object)
            if col.kind in NUMBER_KINDS:
                x = pd.to_numeric(s, errors="coerce").dropna()
                st: dict[str, Any] = {"kind": "int", "min": int(x.min()) if len(x) else 1}
            elif col.kind == "text":
                st = _text_shape(s, col)
            elif col.kind in DATETIME_KINDS:
                x = pd.to_datetime(s, errors="coerce").dropna()
                st = {"kind": col.kind, "min": x.min().isoformat() if len(x) else "2000-01-01"}
            else:
                st = {"kind": col.kind}
            out.setdefault(key, {})[c] = st
    return out


# -- generation -------------------------------------------------------------------------------------

def _text_keys(n: int, st: Mapping[str, Any], col: Column, rng: np.random.Generator, where: str) -> np.ndarray:
    limit = col.max_length or 64
    if "lengths" in st:
        lens = np.array([int(k) for k in st["lengths"]])
        lp = np.array(list(st["lengths"].values()), dtype=float)
        classes = np.asarray(st["classes"], dtype=float)
        other = np.frombuffer(st.get("other", "-").encode("utf-32-le"), dtype=np.uint32)
    else:  # no real key to learn from: capitals and digits
        lens, lp = np.array([min(limit, 8)]), np.array([1.0])
        classes = np.tile([0.7, 0.0, 0.3, 0.0], (int(lens[0]), 1))
        other = np.array([ord("-")], dtype=np.uint32)
    avoid = st.get("avoid")
    banned = np.asarray(avoid["buckets"], dtype=np.int64) if avoid else None
    if not n:
        return np.empty(0, dtype=object)
    taken: list[np.ndarray] = []
    need, extra = n, 0
    used: set[str] = set()
    for rnd in range(60):
        if rnd and rnd % 15 == 0 and int(lens.max()) + extra < limit:
            extra += 1  # the learned space is too crowded: one more character
        m = 2 * need + 32  # oversample: near a full key space most candidates are taken already
        length = np.minimum(rng.choice(lens, size=m, p=lp / lp.sum()) + extra, limit)
        width = int(length.max())
        cls = classes[np.minimum(np.arange(width), len(classes) - 1)]
        cum = np.cumsum(cls / np.maximum(cls.sum(1, keepdims=True), 1e-12), axis=1)
        pick = (rng.random((m, width, 1)) > cum[None, :, :3]).sum(-1)
        grid = other[rng.integers(0, len(other), size=(m, width))].astype(np.uint32)
        for k, (lo, span) in enumerate(_CLASS_RANGES):
            sel = pick == k
            grid[sel] = lo + rng.integers(0, span, size=int(sel.sum()))
        grid[np.arange(width)[None, :] >= length[:, None]] = 0
        cand = pd.unique(np.ascontiguousarray(grid).view(f"<U{width}").ravel().astype(object))
        ok = ~pd.Series(cand).isin(used).to_numpy()
        if banned is not None:
            ok &= ~np.isin(hash_buckets(cand, avoid["salt"], avoid["bits"]), banned)
        new = cand[ok][:need]
        taken.append(new)
        used.update(new)
        need -= len(new)
        if not need:
            return np.concatenate(taken)
    raise ConstraintUnsatisfiable(f"{where}: cannot make {n} distinct new text keys of the source's shape",
                                  f"widen the column (now {col.type}) or sample fewer rows")


def _new_keys(table: Table, col: Column, frame: pd.DataFrame, group_cols: list[str], st: Mapping[str, Any],
              rng: np.random.Generator) -> pd.Series:
    n = len(frame)
    where = f"{table.key}.{col.name}"
    if col.kind in NUMBER_KINDS:
        start = int(st.get("min", 1))
        if group_cols:  # part of a composite key: numbered within each parent's group
            return (frame.groupby(group_cols, dropna=False, sort=False).cumcount() + start).astype(np.int64)
        return pd.Series(np.arange(start, start + n, dtype=np.int64), index=frame.index)
    if col.kind == "uuid":
        return pd.Series(uuid_strings(n, rng), index=frame.index, dtype=object)
    if col.kind == "text":
        return pd.Series(_text_keys(n, st, col, rng, where), index=frame.index, dtype=object)
    if col.kind in DATETIME_KINDS:
        start = pd.Timestamp(st.get("min", "2000-01-01"))
        unit = "D" if col.kind == "date" else "s"
        return pd.Series(start + pd.to_timedelta(np.arange(n), unit=unit), index=frame.index)
    raise ClavaError(f"{where}: cannot generate key values of type {col.type}",
                     "exclude the table in clavadb.toml, or keep it as is")


def _lookup(frame: pd.DataFrame, table: Table, fk: ForeignKey, frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    pos_col = fk_column(fk)
    where = f"{table.key}.{fk.name}"
    if pos_col not in frame:
        if all(c in frame for c in fk.columns):
            return frame  # values given (a kept table)
        if all(table.column(c).nullable for c in fk.columns):
            return frame.assign(**{c: pd.Series(pd.NA, index=frame.index, dtype=object) for c in fk.columns})
        raise ClavaError(f"{where}: no parent rows chosen for a NOT NULL foreign key")
    parent = frames.get(fk.ref_table)
    if parent is None or not all(c in parent for c in fk.ref_columns):
        raise ClavaError(f"{where}: the referenced table {fk.ref_table} or its key columns are missing",
                         "exclude the child table too, or keep the parent")
    pos = frame[pos_col]
    null = pos.isna().to_numpy()
    idx = pos.fillna(0).to_numpy(dtype=np.int64)
    if (~null).any() and (idx[~null].min() < 0 or idx[~null].max() >= len(parent)):
        raise ClavaError(f"{where}: row positions out of range of {fk.ref_table} ({len(parent)} rows)")
    new = {}
    for c, rc in zip(fk.columns, fk.ref_columns, strict=True):
        src = parent[rc]
        if pd.api.types.is_integer_dtype(src.dtype):
            src = src.astype("Int64")
        vals = src.iloc[idx] if len(parent) else pd.Series(pd.NA, index=range(len(frame)), dtype=object)
        vals = pd.Series(vals.to_numpy(), index=frame.index, dtype=vals.dtype)
        # a column shared with an FK looked up before (flights.origin of origin -> airports and of
        # (origin, time_hour) -> weather) keeps that FK's value where this one is NULL
        new[c] = vals.where(~null, frame[c]) if c in frame else vals.mask(null)
    return frame.assign(**new)


def _repair_composite(table: Table, frame: pd.DataFrame, graph_fks: list[ForeignKey],
                      frames: Mapping[str, pd.DataFrame], rng: np.random.Generator) -> pd.DataFrame:
    """A primary key made only of FK columns (order_details(order_id, product_id)) must not repeat a pair:
    duplicates get another parent row on the FK with the most parent rows."""
    pk = set(table.primary_key)
    fks = [fk for fk in graph_fks if set(fk.columns) <= pk and fk_column(fk) in frame]
    if not pk or not fks or {c for fk in fks for c in fk.columns} != pk:
        return frame
    whole = [fk for fk in fks if set(fk.columns) == pk]
    if whole:
        return _repair_one_to_one(table, frame, whole[0], frames, rng)
    if len(pk) < 2:
        return frame
    # an FK inside a wider one decides nothing of its own: the wider FK's parent row sets its columns
    fks = [fk for fk in fks if not any(set(fk.columns) < set(o.columns) for o in fks)]
    cols = [fk_column(fk) for fk in fks]
    free = max(fks, key=lambda fk: len(frames.get(fk.ref_table, ())))
    m = len(frames.get(free.ref_table, ()))
    pos = frame[cols].copy()
    moved = pos.duplicated(keep="first").to_numpy()
    for _ in range(100):
        # rows never moved come first, so only moved rows are ever counted as the duplicates
        order = np.argsort(moved, kind="stable")
        dup = np.zeros(len(pos), dtype=bool)
        dup[order] = pos.iloc[order].duplicated(keep="first").to_numpy()
        if not dup.any():
            return frame.assign(**{fk_column(free): pos[fk_column(free)]})
        pos.loc[dup, fk_column(free)] = rng.integers(0, m, size=int(dup.sum())) if m else pd.NA
    raise ConstraintUnsatisfiable(
        f"{table.key}: {int(dup.sum())} rows repeat the primary key {table.primary_key_name or table.primary_key}",
        f"too many rows per parent for {free.ref_table}'s {m} rows; sample fewer rows")


def _repair_one_to_one(table: Table, frame: pd.DataFrame, fk: ForeignKey, frames: Mapping[str, pd.DataFrame],
                       rng: np.random.Generator) -> pd.DataFrame:
    """An FK over the whole primary key (store_returns(item, ticket) -> store_sales) makes each row the only
    child of its parent row: rows sharing a parent row move to parent rows no other row took."""
    col = fk_column(fk)
    pos = frame[col].astype("Int64")
    dup = (pos.duplicated(keep="first") & pos.notna()).to_numpy()
    if not dup.any():
        return frame
    m = len(frames.get(fk.ref_table, ()))
    unused = np.setdiff1d(np.arange(m), pos[~dup].dropna().to_numpy(dtype=np.int64))
    if len(unused) < dup.sum():
        raise ConstraintUnsatisfiable(
            f"{table.key}: {len(frame)} rows for {m} rows of {fk.ref_table}, each the only child of its row "
            f"(the primary key is the foreign key {fk.name})", "sample fewer rows")
    pos[dup] = rng.choice(unused, size=int(dup.sum()), replace=False)
    return frame.assign(**{col: pos})


def assign_keys(schema: Schema, frames: dict[str, pd.DataFrame], key_stats: Mapping,
                seed: int) -> dict[str, pd.DataFrame]:
    """Fill PK, referenced-key and FK columns of every table (parents first), then drop the positions.
    Columns already present (a kept table's real rows) are left as they are."""
    graph = schema.graph()
    out = dict(frames)
    rng = np.random.default_rng([seed, 0x6B657973])
    for key in graph.top_down():
        if key not in out:
            continue
        table = schema.tables[key]
        frame = out[key]
        fks = [fk for fk in table.foreign_keys if fk.ref_table in out and not graph.is_deferred(key, fk.name)]
        frame = _repair_composite(table, frame, fks, out, rng)
        # narrower FKs first: where FKs share columns, the wider FK's parent row sets them last, and that
        # row's own FKs keep the narrower ones valid
        for fk in sorted(fks, key=lambda f: len(f.columns)):
            frame = _lookup(frame, table, fk, out)
        fk_cols = sorted(table.fk_columns() & set(table.primary_key))
        for c in _generated_keys(schema, table):
            if c in frame:
                continue
            group = [g for g in fk_cols if g in frame] if c in table.primary_key else []
            st = key_stats.get(key, {}).get(c, {})
            frame = frame.assign(**{c: _new_keys(table, table.column(c), frame, group, st, rng)})
        out[key] = frame
    for _, child, fk in graph.edges(include_deferred=True):
        if child in out and fk.ref_table in out and graph.is_deferred(child, fk.name):
            out[child] = _lookup(out[child], schema.tables[child], fk, out)
    for key, table in schema.tables.items():
        if key in out:
            extra = [fk_column(fk) for fk in table.foreign_keys if fk_column(fk) in out[key]]
            # FKs to tables left out of the clone: NULL where allowed
            for fk in table.foreign_keys:
                if fk.ref_table not in out and not all(c in out[key] for c in fk.columns):
                    out[key] = _lookup(out[key].drop(columns=[fk_column(fk)], errors="ignore"), table, fk, out)
            out[key] = out[key].drop(columns=[c for c in extra if c in out[key]])
    return out
