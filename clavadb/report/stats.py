"""The SDMetrics column and column-pair metrics, written with numpy/scipy.

Each returns a score in [0, 1], 1 = the synthetic data matches the real data. Definitions follow
SDMetrics (KSComplement, TVComplement, CorrelationSimilarity, ContingencySimilarity,
CardinalityShapeSimilarity); where SDMetrics leaves a choice open, it is stated here.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ks_2samp


def ks_complement(real: np.ndarray, synth: np.ndarray) -> float | None:
    """1 - two-sample Kolmogorov-Smirnov statistic; NaNs dropped (as SDMetrics). None if a side is empty."""
    real = np.asarray(real, dtype=float)
    synth = np.asarray(synth, dtype=float)
    real, synth = real[~np.isnan(real)], synth[~np.isnan(synth)]
    if real.size == 0 or synth.size == 0:
        return None
    # the p-value is unused (asymp: cheap); for a side of one or two rows scipy's computation of it divides by
    # zero and warns, which says nothing about the statistic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(1.0 - ks_2samp(real, synth, method="asymp").statistic)


def frequencies(real_codes: np.ndarray, synth_codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative frequencies of integer codes 0..n-1 on each side."""
    r = np.bincount(real_codes, minlength=n).astype(float)
    s = np.bincount(synth_codes, minlength=n).astype(float)
    return r / max(r.sum(), 1.0), s / max(s.sum(), 1.0)


def tv_complement(real_codes: np.ndarray, synth_codes: np.ndarray, n: int | None = None) -> float | None:
    """1 - total variation distance of the category frequencies (union of categories; codes shared)."""
    if len(real_codes) == 0 or len(synth_codes) == 0:
        return None
    n = n or int(max(real_codes.max(initial=0), synth_codes.max(initial=0)) + 1)
    r, s = frequencies(real_codes, synth_codes, n)
    # disjoint supports give exactly 0, not a round-off below it (shown as "-0.00")
    return float(np.clip(1.0 - 0.5 * np.abs(r - s).sum(), 0.0, 1.0))


def contingency_similarity(real_a: np.ndarray, real_b: np.ndarray, synth_a: np.ndarray, synth_b: np.ndarray,
                           na: int, nb: int) -> float | None:
    """1 - total variation distance of the normalised 2-D contingency tables of two coded columns."""
    return tv_complement(real_a * nb + real_b, synth_a * nb + synth_b, na * nb)


def correlation_similarity(real_a: np.ndarray, real_b: np.ndarray, synth_a: np.ndarray,
                           synth_b: np.ndarray) -> float | None:
    """1 - |pearson(real) - pearson(synth)| / 2; rows with a NaN dropped. None when the real correlation is
    undefined (a constant column); a constant synthetic column counts as correlation 0."""
    rc = _pearson(real_a, real_b)
    if rc is None:
        return None
    sc = _pearson(synth_a, synth_b)
    return float(1.0 - abs(rc - (sc or 0.0)) / 2.0)


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def cardinality_shape_similarity(real_counts: np.ndarray, synth_counts: np.ndarray) -> float | None:
    """KS complement of children-per-parent counts (parents without children included as 0)."""
    return ks_complement(real_counts, synth_counts)


def quantile_edges(real: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the real deciles (duplicates merged), so each bin holds ~1/bins of the real rows."""
    real = np.asarray(real, dtype=float)
    real = real[~np.isnan(real)]
    if real.size == 0:
        return np.array([])
    return np.unique(np.quantile(real, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin numbers by inner edges (open-ended outer bins); NaN gets the last code, len(edges) + 1."""
    values = np.asarray(values, dtype=float)
    codes = np.searchsorted(edges, values, side="right")
    codes[np.isnan(values)] = len(edges) + 1
    return codes
