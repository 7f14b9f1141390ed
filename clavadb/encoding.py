"""Column codecs between a table's columns (pandas) and the diffusion model's unified space (float32).

Codec names are "quantile", "categorical", "constant" and "null" (one value plus NULLs: only the NULL dim);
ORDINAL_MAX and N_QUANTILES are module constants.

Every modeled column becomes 0, 1 or 2 dims, in column order:
  value dim      "quantile"    numbers, dates, timestamps, times with many distinct values: a piecewise-linear
                               quantile map to N(0, 1) (sklearn QuantileTransformer semantics, done with np.interp).
                 "categorical" bool, enum, text, and numbers/temporals with at most ORDINAL_MAX distinct
                               values: label codes, dequantised inside the code's probability interval and
                               mapped through the normal inverse CDF. Each category owns a slice of N(0, 1) as
                               wide as its frequency, so a Gaussian diffusion reproduces the marginal and a
                               decode is a plain interval lookup.
                 none          a column with at most one distinct non-NULL value ("constant" when it has no
                               NULLs either: no dims at all).
  NULL dim       +1 where the value is NULL, -1 elsewhere; present when the column had NULLs and values at
                 fit time. The value dim of a NULL row encodes a random non-NULL value of the column (keeps
                 the marginal); decoding puts NULL where the NULL dim is > 0.

Rules and output dtypes (inverse_transform):
  * Numbers/temporals with <= ORDINAL_MAX distinct values are categorical, codes ordered by value (ordinal);
    text and enum codes are ordered by frequency. bool is always categorical.
  * rare_k (k): no value seen fewer than k times is stored. Text and enum labels seen fewer than k times
    (and those beyond max_categories) become RARE, an "other" bucket the pipeline fills; a number / temporal
    category seen fewer than k times joins its nearest frequent category (a column with none is quantile
    coded). A quantile grid point is the mean of a run of >= k consecutive sorted values (k_grid), so the
    real minimum and maximum are not stored and a column of fewer than 2k values keeps one mean (fewer than
    k: nothing, decoded as NULL).
  * Discrete quantities (int; decimal with a scale; date; timestamp/time at the resolution seen in the data;
    float whose values all have at most 6 decimals, e.g. prices, seen at that many decimals) are handled as
    integer ticks, dequantised with U(-0.4, 0.4) before the quantile map and rounded back: generated values
    keep the data's resolution (whole seconds stay whole seconds, cents stay cents).
  * int -> pandas nullable Int of the source dtype's width (of Column.type's when the source dtype is not an
    integer one, e.g. float64 with NaN; Int64 by default);
    decimal -> float64 rounded to Column.scale (the writer casts to numeric(p,s)); float -> the source float
    dtype; bool -> "boolean" (or bool when the source was bool and there are no NULLs); date -> the source
    datetime64 dtype, or datetime.date objects when the source held objects; timestamp(tz) -> the source
    datetime64 dtype (time zone included), datetime64[us] (UTC for timestamptz) when the source held objects;
    time -> datetime.time objects, or the source timedelta64 dtype; text/enum -> the source dtype.
  * transform() of frames unlike the fit: unseen labels read as RARE (when merged) or the most frequent
    label, unseen numbers as the nearest category or clipped to the quantile range; a value dim left
    without any usable value is drawn from N(0, 1). inverse_transform() reads NaN as 0 and +-inf as +-10.
  * Precision: the model space is float32, so a quantile-coded value round-trips exactly only while the
    column spans up to about 1e6 ticks (ints up to a range of about 1e6, dates over centuries, whole-second
    timestamps over about ten days); wider columns (bytes up to 1e9, seconds over years) come back within
    about 1e-6 of their range, still at their resolution. Sub-microsecond timestamps are truncated to
    microseconds; ints beyond 2**53 lose low bits; float +-inf are treated as unusable and filled.
  * The state holds aggregates only: quantile grids (N_QUANTILES points at most, each a mean of >= rare_k
    values), category labels and values seen >= rare_k times with their frequencies (at most max_categories
    labels), never a row.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import ndtr, ndtri

from .schema import LABEL_KINDS, NUMBER_KINDS, TEMPORAL_KINDS, Column

RARE = "__rare__"  # the value inverse_transform emits for merged rare categories (the pipeline replaces it)

SUPPORTED_KINDS = (*NUMBER_KINDS, *TEMPORAL_KINDS, *LABEL_KINDS, "bool")  # the kinds with a codec

ORDINAL_MAX = 20  # numbers/temporals with at most this many distinct values are coded as categories
N_QUANTILES = 1000
_BOUND = 1e-7  # quantile levels are clipped to [_BOUND, 1 - _BOUND]: the map spans about +-5.2
_JITTER = 0.4  # dequantisation half-width for integer ticks: rounding survives float32 error up to 0.1
_MARGIN = 0.02  # categorical codes sit in [MARGIN, 1 - MARGIN] of their interval: robust to float32
_US = 1_000_000
_DAY_US = 86_400 * _US
_RESOLUTIONS = (_DAY_US, 3_600 * _US, 60 * _US, _US, 1_000, 1)  # coarsest unit dividing every value wins


def supported(column: Column) -> bool:
    """Whether a column kind has a codec (int/float/decimal/bool/text/enum/date/timestamp/timestamptz/time)."""
    return column.kind in SUPPORTED_KINDS


# -- values <-> ticks (float64, NaN for NULL) -------------------------------------------------------------


_ARROW_TYPES = {
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


def _arrow_ticks(s: pd.Series, kind: str) -> np.ndarray | None:
    """Python date / time / datetime objects (psycopg's output) converted in C; None when they are not."""
    try:
        a = pa.array(s.to_numpy(dtype=object), type=_ARROW_TYPES[kind], from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return (
        a.cast(pa.int32() if kind == "date" else pa.int64()).to_numpy(zero_copy_only=False).astype("float64")
    )


def _to_ticks(s: pd.Series, col: Column, res: int = 1, scale: int | None = None) -> np.ndarray:
    """A number per row in the column's natural unit (days, microseconds / res, 10**-scale), NaN for NULL."""
    kind = col.kind
    if kind in NUMBER_KINDS or kind == "bool":
        v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        return np.round(v * 10.0**scale) if scale is not None and kind != "bool" else v
    out = _arrow_ticks(s, kind) if s.dtype == object else None
    if out is None:
        if kind == "time":
            td = s if pd.api.types.is_timedelta64_dtype(s.dtype) else pd.to_timedelta(s, errors="coerce")
            raw = td.to_numpy(dtype="timedelta64[us]")
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            raw = s.to_numpy(dtype="datetime64[D]" if kind == "date" else "datetime64[us]")  # tz-aware: UTC
        else:  # text: parse it
            raw = pd.to_datetime(s, errors="coerce").to_numpy(
                dtype="datetime64[D]" if kind == "date" else "datetime64[us]"
            )
        out = raw.astype("int64").astype("float64")
        out[np.isnat(raw)] = np.nan
    return out / res if res != 1 else out


def _resolution(us: np.ndarray) -> int:
    """Coarsest of day/hour/minute/second/ms/us dividing every timestamp or time (in us) of the column."""
    us = us[~np.isnan(us)].astype("int64")
    return next((r for r in _RESOLUTIONS if not np.any(us % r)), 1)


def _int_dtype(src: str, col: Column) -> str:
    """The nullable Int dtype of the source width."""
    d = pd.api.types.pandas_dtype(src)
    if isinstance(d, pd.api.extensions.ExtensionDtype) and d.kind in "iu":  # Int32, UInt8, ...
        return str(d)
    if isinstance(d, np.dtype) and d.kind in "iu":
        return ("UInt" if d.kind == "u" else "Int") + str(d.itemsize * 8)
    t = col.type.lower()
    for names, width in (
        (("tinyint", "int1"), "8"),
        (("smallint", "int2"), "16"),
        (("integer", "int4"), "32"),
    ):
        if t in names or (t == "int" and width == "32"):
            return ("UInt" if t.startswith("u") else "Int") + width
    return "UInt64" if t.startswith("u") else "Int64"


def _decimals(v: np.ndarray) -> int | None:
    """Fewest decimals (at most 6) that write every float of the column, within its float precision."""
    v = v[np.isfinite(v)]
    for d in range(7):
        x = v * 10.0**d
        if np.abs(x).max(initial=0.0) >= 2.0**52:
            return None
        if np.all(np.abs(x - np.round(x)) <= 1.5e-7 * np.abs(x)):  # float32 data: within ~1 ulp
            return d
    return None


def _from_ticks(
    v: np.ndarray, null: np.ndarray, col: Column, res: int, scale: int | None, src: str
) -> pd.Series:
    """Inverse of _to_ticks: a Series of the column's kind, NULL where `null`."""
    kind = col.kind
    src_dtype = pd.api.types.pandas_dtype(src)
    if kind == "int":
        out = pd.array(np.rint(np.where(null, 0, v)).astype("int64"), dtype=_int_dtype(src, col))
        out[null] = pd.NA
        return pd.Series(out)
    if kind in ("float", "decimal"):
        x = np.round(v / 10.0**scale, scale) if scale is not None else v
        x = pd.Series(np.where(null, np.nan, x), dtype="float64")
        return x.astype(src_dtype) if kind == "float" and pd.api.types.is_float_dtype(src_dtype) else x
    if kind == "bool":
        out = pd.array(np.where(null, 0, v) > 0.5, dtype="boolean")
        out[null] = pd.NA
        if src_dtype == np.dtype(bool) and not null.any():
            return pd.Series(out).astype(bool)
        return pd.Series(out)
    ticks = np.rint(np.where(null, 0, v)).astype("int64")
    if kind == "date":
        if src_dtype == np.dtype(object):  # the source held datetime.date objects: give them back
            days = pa.array(ticks.astype("int32"), mask=null).cast(pa.date32())
            return days.to_pandas(date_as_object=True)
        days = ticks.astype("datetime64[D]").astype("datetime64[s]")
        days[null] = np.datetime64("NaT")
        dtype = src_dtype if pd.api.types.is_datetime64_dtype(src_dtype) else np.dtype("datetime64[s]")
        return pd.Series(days).astype(dtype)
    us = ticks * res
    if kind == "time":
        if pd.api.types.is_timedelta64_dtype(src_dtype):
            td = us.astype("timedelta64[us]")
            td[null] = np.timedelta64("NaT")
            return pd.Series(td).astype(src_dtype)
        return pd.Series(
            pa.array(us, mask=null).cast(pa.time64("us")).to_numpy(zero_copy_only=False), dtype=object
        )
    ts = us.astype("datetime64[us]")
    ts[null] = np.datetime64("NaT")
    out = pd.Series(ts)
    if isinstance(src_dtype, pd.DatetimeTZDtype):
        return out.dt.tz_localize("UTC").dt.tz_convert(src_dtype.tz).astype(src_dtype)
    if kind == "timestamptz":
        return out.dt.tz_localize("UTC")
    if pd.api.types.is_datetime64_dtype(src_dtype):
        return out.astype(src_dtype)
    return out


# -- codecs -------------------------------------------------------------------------------------------------


def _references(n: int, levels: np.ndarray | None = None) -> np.ndarray:
    """The N(0, 1) points of a quantile grid: of its levels, or of n evenly spaced ones (files before levels)."""
    lv = np.linspace(0.0, 1.0, n) if levels is None else levels
    return ndtri(np.clip(lv, _BOUND, 1.0 - _BOUND))


def k_grid(v: np.ndarray, k: int, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """A quantile grid of the values `v` in which every point is an aggregate of at least k of them.

    The sorted values are cut into m = min(len(v) // k, max_points) runs of consecutive values (each at
    least k long); a point is the mean of a run, at the level (rank share) of the run's middle. No point is
    one value unless the k or more values of its run share it; the real minimum and maximum are not stored.
    k <= 1 protects nothing and keeps the exact quantiles at min(len(v), max_points) evenly spaced levels
    (minimum and maximum included: a column round-trips exactly). Returns (levels, points), both empty when
    there are fewer than k values."""
    v = np.sort(np.asarray(v, dtype="float64"))
    n = len(v)
    if k <= 1:
        levels = np.linspace(0.0, 1.0, min(n, max_points))
        return levels, np.quantile(v, levels) if n else np.zeros(0)
    m = min(n // max(k, 1), max_points)
    if m == 0:
        return np.zeros(0), np.zeros(0)
    starts = np.rint(np.linspace(0, n, m + 1)).astype(np.int64)
    sizes = np.diff(starts)
    base = v[0]  # sums of offsets: large ticks (microseconds since 1970) keep their precision
    points = base + np.add.reduceat(v - base, starts[:-1]) / sizes
    levels = (starts[:-1] + (sizes - 1) / 2) / max(n - 1, 1)
    return levels, points


@dataclasses.dataclass
class _ColumnCodec:
    """Fitted state of one column: JSON-able fields plus the arrays named in `arrays`."""

    column: Column
    codec: str  # "quantile" | "categorical" | "constant" | "null" (one value plus NULLs)
    source_dtype: str
    has_null: bool = False
    discrete: bool = False  # quantile codec on integer ticks
    resolution: int = 1  # microseconds per tick of timestamps / times
    scale: int | None = None  # decimals per tick of decimals (Column.scale) and floats (seen in the data)
    labels: list[Any] | None = None  # categories of text / enum columns, by code
    constant: Any = None  # the value of a constant column (a tick, or a label), None for all-NULL
    quantiles: np.ndarray | None = None  # quantile grid points (k_grid: each the mean of >= rare_k values)
    levels: np.ndarray | None = None  # their levels (rank shares); None in files that predate them
    probs: np.ndarray | None = None  # category frequencies, by code
    values: np.ndarray | None = None  # tick of each category of a numeric / temporal categorical

    @property
    def value_dims(self) -> int:
        return 1 if self.codec in ("quantile", "categorical") else 0

    @property
    def dims(self) -> int:
        return self.value_dims + int(self.has_null)

    @property
    def is_label(self) -> bool:
        return self.column.kind in LABEL_KINDS

    def _ticks(self, s: pd.Series) -> np.ndarray:
        return _to_ticks(s, self.column, self.resolution, self.scale)

    def _series(self, v: np.ndarray, null: np.ndarray) -> pd.Series:
        return _from_ticks(v, null, self.column, self.resolution, self.scale, self.source_dtype)

    # -- fit ---------------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, s: pd.Series, col: Column, max_categories: int, rare_k: int, rng: np.random.Generator
    ) -> _ColumnCodec:
        c = cls(column=col, codec="constant", source_dtype=str(s.dtype))
        null = s.isna().to_numpy()
        c.has_null = bool(null.any() and not null.all())  # an all-NULL column is a constant
        if c.is_label:
            vc = s[~null].value_counts(sort=False)
            by_count_then_label = np.lexsort((vc.index.astype(str).to_numpy(), -vc.to_numpy()))
            vc = vc.iloc[by_count_then_label]
            keep = vc[vc >= rare_k] if rare_k > 0 else vc
            keep = keep.iloc[:max_categories]
            rest = int(vc.sum() - keep.sum())
            labels, counts = list(keep.index), keep.to_numpy(dtype="float64")
            if rest:
                labels.append(RARE)
                counts = np.append(counts, rest)
            if len(labels) <= 1:
                c.codec = "constant" if not c.has_null else "null"
                c.constant = labels[0] if labels else None
                return c
            c.codec, c.labels, c.probs = "categorical", labels, counts / counts.sum()
            return c
        t = _to_ticks(s, col)
        if col.kind in ("timestamp", "timestamptz", "time"):
            c.resolution = _resolution(t)
            t = t / c.resolution
        elif col.kind in ("float", "decimal"):
            c.scale = col.scale if col.kind == "decimal" else _decimals(t[~null])
            t = c._ticks(s)
        v = t[~null & np.isfinite(t)]
        values, counts = np.unique(v, return_counts=True)
        k = max(int(rare_k), 1)
        frequent = counts >= k
        if len(values) <= 1 and frequent.all():
            c.codec = "constant" if not c.has_null else "null"
            c.constant = float(values[0]) if len(values) else None
            return c
        if (len(values) <= ORDINAL_MAX or col.kind == "bool") and frequent.any():
            # a value seen fewer than k times joins its nearest frequent value: only those are stored
            kept = values[frequent]
            if len(kept) == 1:
                c.codec = "constant" if not c.has_null else "null"
                c.constant = float(kept[0])
                return c
            at = np.clip(np.searchsorted(kept, values), 1, len(kept) - 1)
            to = np.where(np.abs(values - kept[at - 1]) <= np.abs(kept[at] - values), at - 1, at)
            merged = np.bincount(to, weights=counts, minlength=len(kept))
            c.codec, c.values, c.probs = "categorical", kept, merged / merged.sum()
            return c
        c.discrete = col.kind not in ("float", "decimal") or c.scale is not None
        if c.discrete:
            v = v + rng.uniform(-_JITTER, _JITTER, len(v))
        levels, points = k_grid(v, k, N_QUANTILES)
        if len(points) <= 1:  # fewer than 2k values: one aggregate (their mean), or none below k
            c.codec = "constant" if not c.has_null or not len(points) else "null"
            c.has_null = c.has_null and bool(len(points))
            c.constant = float(points[0]) if len(points) else None
            return c
        c.codec, c.levels, c.quantiles = "quantile", levels, points
        return c

    # -- encode / decode ---------------------------------------------------------------------------------
    def encode(self, s: pd.Series, rng: np.random.Generator) -> np.ndarray:
        n = len(s)
        out = np.empty((n, self.dims), dtype="float64")
        null = s.isna().to_numpy()
        if self.has_null:
            out[:, -1] = np.where(null, 1.0, -1.0)
        if not self.value_dims:
            return out
        if self.codec == "categorical":
            if self.is_label:
                codes = pd.Index(self.labels).get_indexer(s)
                unknown = codes < 0
                if unknown.any():  # unseen labels: RARE when it exists, else the most frequent
                    codes[unknown] = self.labels.index(RARE) if RARE in self.labels else 0
            else:
                t = self._ticks(s)
                idx = np.clip(np.searchsorted(self.values, t), 1, len(self.values) - 1)
                left = self.values[idx - 1]
                codes = np.where(np.abs(t - left) <= np.abs(self.values[idx] - t), idx - 1, idx)
            codes = self._fill_null(codes, null, rng)
            cum = np.concatenate(([0.0], np.cumsum(self.probs)))
            u = cum[codes] + self.probs[codes] * rng.uniform(_MARGIN, 1.0 - _MARGIN, n)
            out[:, 0] = ndtri(u)
            return out
        t = self._ticks(s)
        t = self._fill_null(t, null | ~np.isfinite(t), rng)  # unparseable values and +-inf: filled too
        if self.discrete:
            t = t + rng.uniform(-_JITTER, _JITTER, n)
        q, r = self.quantiles, _references(len(self.quantiles), self.levels)
        if np.all(np.diff(q) > 0):
            out[:, 0] = np.interp(t, q, r)
        else:  # mean of the forward and backward interpolation: a tie maps to the middle of its flat run
            out[:, 0] = 0.5 * (np.interp(t, q, r) - np.interp(-t, -q[::-1], -r[::-1]))
        return out

    @staticmethod
    def _fill_null(v: np.ndarray, null: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """NULL rows take the value of a random non-NULL row, so the value dim keeps its marginal."""
        if not null.any():
            return v
        ok = np.flatnonzero(~null)
        v = v.copy()
        if len(ok):
            v[null] = v[ok[rng.integers(0, len(ok), int(null.sum()))]]
        return v

    def decode(self, x: np.ndarray) -> pd.Series:
        n = len(x)
        null = x[:, -1] > 0 if self.has_null else np.zeros(n, dtype=bool)
        if self.codec in ("constant", "null"):  # null: one value, NULL where the indicator says
            if self.is_label:
                return self._labels_out(
                    np.full(n, self.constant, dtype=object), null | (self.constant is None)
                )
            v = np.full(n, np.nan if self.constant is None else self.constant)
            return self._series(v, null | (self.constant is None))
        z = x[:, 0].astype("float64")
        if self.codec == "categorical":
            cum = np.cumsum(self.probs)[:-1]
            codes = np.searchsorted(cum, ndtr(z), side="right")
            if self.is_label:
                return self._labels_out(np.asarray(self.labels, dtype=object)[codes], null)
            return self._series(self.values[codes], null)
        v = np.interp(z, _references(len(self.quantiles), self.levels), self.quantiles)
        if self.discrete:
            v = np.rint(v)
        return self._series(v, null)

    def _labels_out(self, labels: np.ndarray, null: np.ndarray) -> pd.Series:
        labels[null] = None
        dtype = pd.api.types.pandas_dtype(self.source_dtype)
        return (
            pd.Series(labels, dtype=object).astype(dtype) if dtype != np.dtype(object) else pd.Series(labels)
        )

    # -- state -------------------------------------------------------------------------------------------
    def meta(self) -> dict:
        constant = self.constant
        if isinstance(constant, np.generic):
            constant = constant.item()
        return {
            "column": dataclasses.asdict(self.column),
            "codec": self.codec,
            "source_dtype": self.source_dtype,
            "has_null": self.has_null,
            "discrete": self.discrete,
            "resolution": self.resolution,
            "scale": self.scale,
            "labels": None if self.labels is None else [str(v) for v in self.labels],
            "constant": str(constant) if self.is_label and constant is not None else constant,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("quantiles", "levels", "probs", "values") if getattr(self, k) is not None}

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> _ColumnCodec:
        fields = {**meta, "column": Column(**meta["column"])}
        fields.update({k: np.asarray(v, dtype="float64") for k, v in arrays.items()})
        return cls(**fields)


class TableEncoder:
    """Encodes a table's columns into the model's float32 space and back (see the module docstring)."""

    def __init__(self, columns: list[Column], *, max_categories: int = 1000, rare_k: int = 0, seed: int = 0):
        for c in columns:
            if not supported(c):
                raise ValueError(f"column {c.name!r} of kind {c.kind!r} ({c.type}) has no codec; exclude it")
        self.columns = list(columns)
        self.max_categories = max_categories
        self.rare_k = rare_k
        self.seed = seed
        self.codecs: list[_ColumnCodec] = []
        self.categorical_dims: list[int] = []

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        missing = [n for n in self.names if n not in df.columns]
        if missing:
            raise ValueError(f"columns missing from the frame: {missing}")
        return df[self.names]

    def fit(self, df: pd.DataFrame) -> TableEncoder:
        df = self._frame(df)
        rng = np.random.default_rng(self.seed)
        self.codecs = [
            _ColumnCodec.fit(df[c.name], c, self.max_categories, self.rare_k, rng) for c in self.columns
        ]
        self._index()
        return self

    def _index(self) -> None:
        self.categorical_dims, at = [], 0
        for c in self.codecs:
            if c.codec == "categorical":
                self.categorical_dims.append(at)
            if c.has_null:
                self.categorical_dims.append(at + c.value_dims)
            at += c.dims

    @property
    def dim(self) -> int:
        return sum(c.dims for c in self.codecs)

    def _check_fitted(self) -> None:
        if len(self.codecs) != len(self.columns):
            raise ValueError("the encoder is not fitted")

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        df = self._frame(df)
        rng = np.random.default_rng(self.seed + 1)
        out, at = np.empty((len(df), self.dim), dtype="float32"), 0
        for c in self.codecs:
            if c.dims:
                out[:, at : at + c.dims] = c.encode(df[c.column.name], rng)
                at += c.dims
        bad = ~np.isfinite(out)  # a column with no usable value in this frame: a draw from the prior
        if bad.any():
            out[bad] = rng.standard_normal(int(bad.sum()))
        return out

    def inverse_transform(self, x: np.ndarray) -> pd.DataFrame:
        self._check_fitted()
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected an array of shape (n, {self.dim}), got {x.shape}")
        if not np.isfinite(x).all():  # a diverged sample: NaN reads as the median, infinities as the ends
            x = np.nan_to_num(x, nan=0.0, posinf=10.0, neginf=-10.0)
        out, at = {}, 0
        for c in self.codecs:
            out[c.column.name] = c.decode(x[:, at : at + c.dims]).reset_index(drop=True)
            at += c.dims
        return pd.DataFrame(out, columns=self.names)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        meta = {
            "version": 1,
            "max_categories": self.max_categories,
            "rare_k": self.rare_k,
            "seed": self.seed,
            "codecs": [c.meta() for c in self.codecs],
        }
        arrays = {f"{i}.{k}": v for i, c in enumerate(self.codecs) for k, v in c.arrays().items()}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> TableEncoder:
        codecs = []
        for i, m in enumerate(meta["codecs"]):
            mine = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.split(".", 1)[0] == str(i)}
            codecs.append(_ColumnCodec.from_state(m, mine))
        enc = cls(
            [c.column for c in codecs],
            max_categories=meta["max_categories"],
            rare_k=meta["rare_k"],
            seed=meta["seed"],
        )
        enc.codecs = codecs
        enc._index()
        return enc
