"""Make the synthetic tables satisfy the declared constraints before anything is written.

Order per table: enum values, integer/NUMERIC(p,s) precision, plausible ranges, NOT NULL, VARCHAR(n),
UNIQUE, CHECK. Repairs never drop a row; every repair is counted in the EnforceReport. A CHECK that
cannot be met after a few rounds of donor repairs raises ConstraintUnsatisfiable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from clavadb.errors import ConstraintUnsatisfiable
from clavadb.schema import DATETIME_KINDS, NUMBER_KINDS, Check, Column, Schema, Table
from clavadb.workspace import Workspace

COUNTS = ("not_null_filled", "truncated", "rounded", "clipped", "unique_repaired", "check_repaired",
          "enum_repaired", "checks_unevaluated")
CHECK_ROUNDS = 10
UNIQUE_ROUNDS = 20
_INT_RANGES = {"smallint": 2**15, "int2": 2**15, "integer": 2**31, "int": 2**31, "int4": 2**31,
               "bigint": 2**63, "int8": 2**63, "tinyint": 2**7}

CheckEval = Callable[[Table, pa.Table], dict[str, np.ndarray]]


@dataclass
class EnforceReport:
    tables: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, table: str, what: str, n: int) -> None:
        counts = self.tables.setdefault(table, dict.fromkeys(COUNTS, 0))
        counts[what] += int(n)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {t: dict(c) for t, c in self.tables.items()}


# -- column-wise repairs -----------------------------------------------------------------------------

def _timestamps(s: pd.Series, col: Column) -> pd.Series:
    return pd.to_datetime(s, errors="coerce", utc=col.kind == "timestamptz")


def _like(ts: pd.Timestamp, s: pd.Series) -> pd.Timestamp:
    """A bound in the same time-zone awareness as the series."""
    tz = getattr(s.dt, "tz", None)
    if tz is None and ts.tzinfo is not None:
        return ts.tz_convert(None)
    if tz is not None and ts.tzinfo is None:
        return ts.tz_localize(tz)
    return ts


def _enum(schema: Schema, col: Column, s: pd.Series, rng: np.random.Generator) -> tuple[pd.Series, int]:
    enum = schema.enums.get(col.enum or "") or next(
        (e for e in schema.enums.values() if e.name == col.enum), None)
    if enum is None:
        return s, 0
    bad = s.notna() & ~s.astype(object).isin(enum.values)
    if not bad.any():
        return s, 0
    good = s[s.notna() & ~bad].to_numpy(dtype=object)
    pool = good if len(good) else np.array(enum.values, dtype=object)
    out = s.astype(object).copy()
    out[bad] = pool[rng.integers(0, len(pool), int(bad.sum()))]
    return out, int(bad.sum())


def _numbers(col: Column, s: pd.Series, st: Mapping, is_key: bool) -> tuple[pd.Series, int, int]:
    """Round to the type's scale, clip to its precision / integer range and to the real [min, max].
    Only changed cells are rewritten, in the column's own representation (Decimal objects stay Decimal)."""
    x = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
    nn = ~np.isnan(x)
    scale = 0 if col.kind == "int" else col.scale
    rounded = np.zeros(len(x), dtype=bool)
    target = x
    if scale is not None:
        f = x * 10.0**scale
        with np.errstate(invalid="ignore"):
            rounded = nn & (np.abs(f - np.rint(f)) > 1e-6 * np.maximum(1.0, np.abs(f)))
        target = np.where(rounded, np.round(x, scale), x)
    lo, hi = -np.inf, np.inf
    if col.kind == "decimal" and col.precision:
        hi = 10.0 ** (col.precision - (col.scale or 0)) - 10.0 ** -(col.scale or 0)
        lo = -hi
    if col.kind == "int":
        bound = _INT_RANGES.get(re.split(r"[\s(]", col.type.lower())[0])
        if bound:
            lo, hi = -bound, bound - 1
    if not is_key and st.get("min") is not None and st.get("max") is not None:
        lo, hi = max(lo, float(st["min"])), min(hi, float(st["max"]))
    final = np.clip(target, lo, hi)
    clipped = nn & (final != target)
    changed = rounded | clipped
    if not changed.any():
        return s, 0, 0
    new = final[changed]
    if col.kind == "int":
        ints = np.rint(np.nan_to_num(final)).astype(np.int64)
        out = pd.Series(pd.arrays.IntegerArray(ints, ~nn), index=s.index)
    elif s.dtype == object:  # Decimal values from a NUMERIC column
        out = s.copy()
        out[changed] = [Decimal(f"{v:.{scale}f}") if scale is not None else Decimal(repr(v)) for v in new]
    else:
        out = s.astype(float)
        out[changed] = new
    return out, int(rounded.sum()), int(clipped.sum())


def _temporal(col: Column, s: pd.Series, st: Mapping) -> tuple[pd.Series, int]:
    if "min" not in st or "max" not in st:
        return s, 0
    ts = _timestamps(s, col)
    lo, hi = _like(pd.Timestamp(st["min"]), ts), _like(pd.Timestamp(st["max"]), ts)
    c = ts.clip(lo, hi)
    changed = ts.notna() & (c != ts)
    n = int(changed.sum())
    if not n:
        return s, 0
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return c.astype(s.dtype), n
    out = s.astype(object).copy()
    out[changed] = (c[changed].dt.date if col.kind == "date" else c[changed]).to_numpy(dtype=object)
    return out, n


def _fill_nulls(s: pd.Series, st: Mapping, rng: np.random.Generator, col: Column) -> tuple[pd.Series, int]:
    null = s.isna()
    n = int(null.sum())
    if not n:
        return s, 0
    pool = s[~null].to_numpy(dtype=object)
    if not len(pool):  # nothing to draw from: the real frequent values, else the middle of the real range
        freq = st.get("frequent") or {}
        if freq:
            pool = np.array(list(freq), dtype=object)
        elif "min" in st:
            pool = np.array([st["min"]], dtype=object)
        else:
            pool = np.array([_zero(col)], dtype=object)
    out = s.astype(object).copy()
    out[null] = pool[rng.integers(0, len(pool), n)]
    return (out.astype(s.dtype) if s.dtype != object else out), n


def _zero(col: Column) -> Any:
    return {"int": 0, "float": 0.0, "decimal": 0.0, "bool": False, "date": pd.Timestamp("2000-01-01"),
            "timestamp": pd.Timestamp("2000-01-01"), "timestamptz": pd.Timestamp("2000-01-01", tz="UTC"),
            "uuid": "00000000-0000-4000-8000-000000000000", "json": "{}", "bytes": b""}.get(col.kind, "")


def _truncate(s: pd.Series, n: int) -> tuple[pd.Series, int]:
    long = s.notna() & (s.astype("string").str.len() > n)
    k = int(long.sum())
    if not k:
        return s, 0
    out = s.astype(object).copy()
    out[long] = s[long].astype(str).str.slice(0, n)
    return out, k


# -- UNIQUE -----------------------------------------------------------------------------------------

def _perturb(col: Column, vals: pd.Series, k: pd.Series) -> pd.Series:
    """Distinct-making change of values by their duplicate rank k (1, 2, ...)."""
    if col.kind == "text":
        suffix = "-" + k.astype(str)
        base = vals.astype(str)
        if col.max_length:
            room = (col.max_length - suffix.str.len()).clip(lower=0)
            base = pd.Series([b[:r] for b, r in zip(base, room, strict=True)], index=vals.index)
        return base + suffix
    if col.kind in NUMBER_KINDS:
        x = pd.to_numeric(vals, errors="coerce").astype(float)
        eps = 1.0 if col.kind == "int" else (
            10.0 ** -col.scale if col.scale is not None else np.maximum(np.abs(x) * 1e-6, 1e-6))
        out = x + k * eps
        if col.kind == "int":
            return out.round().astype("Int64")
        if vals.dtype == object and col.scale is not None:  # Decimal values stay Decimal
            return pd.Series([Decimal(f"{v:.{col.scale}f}") for v in out], index=vals.index, dtype=object)
        return out
    if col.kind in DATETIME_KINDS:
        ts = _timestamps(vals, col)
        out = ts + pd.to_timedelta(k, unit="D" if col.kind == "date" else "s")
        return out.dt.date if col.kind == "date" and not pd.api.types.is_datetime64_any_dtype(vals.dtype) else out
    raise TypeError(col.kind)


def _unique(table: Table, frame: pd.DataFrame, key_cols: set[str], report: EnforceReport, ws: Workspace,
            dialect: str) -> pd.DataFrame:
    for u in table.uniques:
        cols = u.columns
        if not all(c in frame for c in cols) or set(cols) <= key_cols or set(cols) == set(table.primary_key):
            continue
        # the column to change: a number or a time moves a value slightly; a text gets a suffix
        candidates = [table.column(c) for c in cols if c not in key_cols]
        target = next((c for kinds in (NUMBER_KINDS, DATETIME_KINDS, ("text",))
                       for c in candidates if c.kind in kinds), None)
        scope = frame[cols].notna().all(axis=1).to_numpy()
        if u.predicate:
            scope &= ws.rows_where(frame, u.predicate, dialect)
        changed = np.zeros(len(frame), dtype=bool)
        for r in range(UNIQUE_ROUNDS):
            # rows not changed yet come first: a changed value that hits another row is changed again,
            # never the other row, so the count is exactly the rows that repeated
            idx = np.flatnonzero(scope)
            idx = idx[np.argsort(changed[idx], kind="stable")]
            dup = np.zeros(len(frame), dtype=bool)
            dup[idx[frame.iloc[idx][cols].duplicated(keep="first").to_numpy()]] = True
            if not dup.any():
                break
            if target is None:
                raise ConstraintUnsatisfiable(
                    f"{table.key}: {int(dup.sum())} rows repeat UNIQUE {u.name} ({', '.join(cols)})",
                    "no column of it can be changed; exclude or keep the table")
            sub = frame.loc[dup, cols]
            k = sub.groupby(cols, dropna=False, sort=False).cumcount() + 1 + r * (r + 1)
            new = _perturb(target, frame.loc[dup, target.name], k)
            col_vals = frame[target.name]
            if target.kind == "text" or new.dtype == object:
                col_vals = col_vals.astype(object)
            elif new.dtype != col_vals.dtype:
                col_vals = col_vals.astype(new.dtype)
            col_vals = col_vals.copy()
            col_vals[dup] = new.to_numpy()
            if target.kind == "text":
                col_vals = col_vals.astype(frame[target.name].dtype)
            frame = frame.assign(**{target.name: col_vals})
            changed |= dup
        else:
            raise ConstraintUnsatisfiable(f"{table.key}: UNIQUE {u.name} still repeated after {UNIQUE_ROUNDS} rounds")
        report.add(table.key, "unique_repaired", int(changed.sum()))
    return frame


# -- CHECK ------------------------------------------------------------------------------------------

def check_columns(table: Table, check: Check) -> list[str]:
    """Columns a CHECK mentions: declared, else found in its expression."""
    if check.columns:
        return list(check.columns)
    return [c for c in table.column_names
            if re.search(rf'(?<![\w"]){re.escape(c)}(?![\w"])|"{re.escape(c)}"', check.expression)]


def _arrow(table: Table, frame: pd.DataFrame) -> pa.Table:
    cols = [c for c in table.column_names if c in frame]
    return pa.Table.from_pandas(frame[cols], preserve_index=False)


def _checks(table: Table, frame: pd.DataFrame, check_eval: CheckEval, protected: set[str],
            rng: np.random.Generator, report: EnforceReport) -> pd.DataFrame:
    if not table.checks and not any(c.domain for c in table.columns):
        return frame
    by_name = {c.name: c for c in table.checks}
    for rnd in range(CHECK_ROUNDS + 1):
        fails = {k: np.asarray(v, dtype=bool) for k, v in check_eval(table, _arrow(table, frame)).items()}
        for k in fails:  # a domain's CHECK comes back as "<column>.<check>": it constrains that column
            if k not in by_name and k.split(".", 1)[0] in table.column_names:
                by_name[k] = Check(k, f"CHECK of the domain of {k.split('.', 1)[0]}", [k.split(".", 1)[0]])
        fails = {k: m for k, m in fails.items() if k in by_name}
        if rnd == 0:
            report.add(table.key, "checks_unevaluated", sum(c.name not in fails for c in table.checks))
        failing = {k: m for k, m in fails.items() if m.any()}
        if not failing:
            return frame
        any_fail = np.logical_or.reduce(list(fails.values()))
        passing = np.flatnonzero(~any_fail)
        if rnd == CHECK_ROUNDS or not len(passing):
            name, mask = next(iter(failing.items()))
            raise ConstraintUnsatisfiable(
                f"{table.key}: CHECK {name} ({by_name[name].expression}) fails for {int(mask.sum())} "
                f"of {len(frame)} rows after {rnd} repair rounds",
                "loosen or drop the CHECK on the source, or exclude the table")
        for name, mask in failing.items():
            cols = [c for c in check_columns(table, by_name[name]) if c in frame and c not in protected]
            if not cols:
                raise ConstraintUnsatisfiable(
                    f"{table.key}: CHECK {name} fails for {int(mask.sum())} rows and involves only key columns")
            rows = np.flatnonzero(mask)
            donors = rng.choice(passing, size=len(rows))
            idx = [frame.columns.get_loc(c) for c in cols]
            frame = frame.copy()
            for j in idx:  # column by column keeps each column's dtype
                frame.iloc[rows, j] = frame.iloc[donors, j].to_numpy()
            report.add(table.key, "check_repaired", len(rows))
    return frame


# -- entry point ------------------------------------------------------------------------------------

def enforce(schema: Schema, frames: dict[str, pd.DataFrame], stats: Mapping, seed: int,
            check_eval: CheckEval | None = None) -> tuple[dict[str, pd.DataFrame], EnforceReport]:
    """Repair every table's rows so the declared constraints hold; `stats` is privacy.column_stats' output.
    CHECKs are judged by `check_eval` (the destination adapter's evaluate_checks), by default in the
    workspace; partial UNIQUE predicates always in the workspace."""
    with Workspace() as ws:
        evaluate = check_eval or (lambda t, data: ws.evaluate_checks(t, data, schema).failing)
        return _enforce(schema, frames, stats, seed, evaluate, ws)


def _enforce(schema: Schema, frames: dict[str, pd.DataFrame], stats: Mapping, seed: int, evaluate: CheckEval,
             ws: Workspace) -> tuple[dict[str, pd.DataFrame], EnforceReport]:
    report = EnforceReport()
    out = dict(frames)
    for key, table in schema.tables.items():
        if key not in out:
            continue
        rng = np.random.default_rng([seed, len(key), sum(map(ord, key))])
        frame = out[key].reset_index(drop=True)
        report.tables.setdefault(key, dict.fromkeys(COUNTS, 0))
        key_cols = set(table.primary_key) | table.fk_columns()
        tstats = stats.get(key, {})
        for col in table.columns:
            if col.name not in frame or col.generated:
                continue
            s, st = frame[col.name], tstats.get(col.name, {})
            if col.kind == "enum":
                s, n = _enum(schema, col, s, rng)
                report.add(key, "enum_repaired", n)
            if col.kind in NUMBER_KINDS and col.name not in key_cols:
                s, r, c = _numbers(col, s, st, col.name in key_cols)
                report.add(key, "rounded", r)
                report.add(key, "clipped", c)
            if col.kind in DATETIME_KINDS and col.name not in key_cols:
                s, n = _temporal(col, s, st)
                report.add(key, "clipped", n)
            if not col.nullable and col.name not in table.primary_key:  # key values are keys.py's
                s, n = _fill_nulls(s, st, rng, col)
                report.add(key, "not_null_filled", n)
            if col.max_length and col.kind == "text":
                s, n = _truncate(s, col.max_length)
                report.add(key, "truncated", n)
            if s is not frame[col.name]:
                frame = frame.assign(**{col.name: s})
        frame = _unique(table, frame, key_cols, report, ws, schema.engine)
        single_unique = {u.columns[0] for u in table.uniques if len(u.columns) == 1}
        frame = _checks(table, frame, evaluate, set(table.primary_key) | single_unique, rng, report)
        out[key] = frame
    return out, report
