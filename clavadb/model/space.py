"""The diffusion's own space: the unified (encoded) row, with low-cardinality categorical dims one-hot.

A label-encoded category is a narrow band of the N(0, 1) axis; a small denoiser trained for minutes blurs
bands into their neighbours, which washes out dependencies between categorical columns (measured on
MovieLens movie.country ~ isEnglish: Cramér's V 0.70 real, 0.29 label-coded, see bench/). As ±1 one-hot
blocks the categories are corners, not bands. Wider categoricals stay label-coded. Decoding takes the
arg-max of a block and puts the row in the middle of that category's band of the unified space.

Marginal calibration (optional, `calibrate`): the space keeps the training data's marginals as aggregates, a
quantile grid per plain dim and the category shares of each one-hot block. A generated batch is then mapped
onto them: plain dims by rank (a monotone map per dim, so the rows' joint order, their copula, is untouched),
one-hot blocks by a per-category offset on the scores before the arg-max (a prior shift: the rows that most
favour a category still get it first). A denoiser trained for minutes on a CPU gets each marginal a few
points wrong, and errors of a marginal carry into every pair metric; the calibration removes them at the
cost of one sort per dim.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from clavadb.encoding import k_grid

ONEHOT_MAX = 16  # categories; beyond this a categorical dim stays one label-coded dim
GRID_LEVELS = 513  # quantile levels kept per plain dim for calibration
_LEVELS = np.linspace(0.0, 1.0, GRID_LEVELS)
_SWEEPS = 10  # offset sweeps of the one-hot calibration (it settles in 2-5 on real blocks)


@dataclass
class DiffusionSpace:
    dim_in: int  # width of the unified row (encoded columns + label columns)
    blocks: list[tuple[int, list[float]]]  # (unified dim, band boundaries in z) of each one-hot block
    dropped: list[int] = field(default_factory=list)  # unified dims not modeled (filled by someone else: 0)
    grid: np.ndarray | None = None  # (GRID_LEVELS, n_plain) quantiles of the plain dims of the training rows
    shares: list[np.ndarray] | None = None  # category shares of each one-hot block in the training rows

    @classmethod
    def build(cls, dim_in: int, bounds: dict[int, np.ndarray], max_categories: int = ONEHOT_MAX,
              dropped: list[int] | None = None) -> DiffusionSpace:
        drop = sorted(dropped or [])
        blocks = [(d, [float(b) for b in bounds[d]]) for d in sorted(bounds)
                  if d < dim_in and d not in drop and 1 <= len(bounds[d]) < max_categories]
        return cls(dim_in, blocks, drop)

    @property
    def _plain(self) -> list[int]:
        skip = {d for d, _ in self.blocks} | set(self.dropped)
        return [d for d in range(self.dim_in) if d not in skip]

    @property
    def dim(self) -> int:
        return len(self._plain) + sum(len(b) + 1 for _, b in self.blocks)

    def to_space(self, x: np.ndarray) -> np.ndarray:
        parts = [x[:, self._plain]]
        for d, b in self.blocks:
            codes = np.searchsorted(np.asarray(b), x[:, d])
            oh = -np.ones((len(x), len(b) + 1), np.float32)
            oh[np.arange(len(x)), codes] = 1.0
            parts.append(oh)
        return np.concatenate(parts, axis=1).astype(np.float32)

    def fit_marginals(self, y: np.ndarray, rare_k: int = 1) -> DiffusionSpace:
        """Keep the marginals of training rows y (already in this space) for calibrate(). With rare_k = k > 1
        each plain dim's grid is read off means of >= k consecutive sorted values (encoding.k_grid), so it
        holds no single row's value; with fewer than k rows there is no grid (no calibration)."""
        n_plain = len(self._plain)
        if rare_k > 1 and len(y) >= rare_k:
            cols = [k_grid(y[:, j], rare_k, GRID_LEVELS) for j in range(n_plain)]
            self.grid = np.zeros((GRID_LEVELS, n_plain), np.float32)
            for j, (lv, pts) in enumerate(cols):
                self.grid[:, j] = np.interp(_LEVELS, lv, pts) if len(pts) > 1 else pts[0]
        elif rare_k > 1:
            self.grid = None
        else:
            self.grid = (np.quantile(y[:, :n_plain], _LEVELS, axis=0).astype(np.float32) if len(y)
                         else np.zeros((GRID_LEVELS, n_plain), np.float32))
        self.shares, at = [], n_plain
        for _, b in self.blocks:
            m = len(b) + 1
            counts = np.bincount(y[:, at:at + m].argmax(axis=1), minlength=m).astype(np.float64)
            self.shares.append(counts / max(counts.sum(), 1.0))
            at += m
        return self

    def calibrate(self, y: np.ndarray) -> np.ndarray:
        """Map generated rows y onto the training marginals (see the module docstring); a copy."""
        if self.grid is None or self.shares is None or len(y) == 0:
            return y
        y = np.array(y, dtype=np.float32, copy=True)
        n, n_plain = len(y), len(self._plain)
        q = (np.arange(n) + 0.5) / n
        for j in range(n_plain):
            ranks = np.argsort(np.argsort(y[:, j], kind="stable"), kind="stable")
            y[:, j] = np.interp(q, _LEVELS, self.grid[:, j])[ranks]
        at = n_plain
        for (_, b), share in zip(self.blocks, self.shares, strict=True):
            m = len(b) + 1
            y[:, at:at + m] = _one_hot(shifted_argmax(y[:, at:at + m], share), m)
            at += m
        return y

    def from_space(self, y: np.ndarray) -> np.ndarray:
        x = np.zeros((len(y), self.dim_in), np.float32)
        plain = self._plain
        x[:, plain] = y[:, :len(plain)]
        at = len(plain)
        for d, b in self.blocks:
            m = len(b) + 1
            cum = np.concatenate([[0.0], ndtr(np.asarray(b, np.float64)), [1.0]])
            mid = ndtri((cum[:-1] + cum[1:]) / 2).astype(np.float32)
            x[:, d] = mid[y[:, at:at + m].argmax(axis=1)]
            at += m
        return x

    def state(self) -> dict:
        return {"dim_in": self.dim_in, "blocks": [[d, b] for d, b in self.blocks], "dropped": self.dropped,
                "grid": self.grid.tolist() if self.grid is not None else None,
                "shares": [s.tolist() for s in self.shares] if self.shares is not None else None}

    @classmethod
    def from_state(cls, d: dict) -> DiffusionSpace:
        grid = d.get("grid")
        shares = d.get("shares")
        return cls(d["dim_in"], [(int(a), list(b)) for a, b in d["blocks"]], list(d.get("dropped", [])),
                   np.asarray(grid, np.float32).reshape(GRID_LEVELS, -1) if grid is not None else None,
                   [np.asarray(s, np.float64) for s in shares] if shares is not None else None)


def shifted_argmax(scores: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Arg-max of scores + b, with per-category offsets b such that the arg-max shares are `share`.
    Coordinate ascent on the offsets: each category's offset in turn is set so that exactly its target
    number of rows have it as the arg-max, the others held; a few sweeps settle all of them.

    A row's margin for category j needs the row's best other score. Within a sweep the categories after j
    still have the offsets the sweep started with, so their running maxima (from the right) are computed once
    per sweep, and those before j are folded into a running maximum as their offsets are set: O(n m) per
    sweep instead of O(n m^2), the same offsets to the last bit."""
    n, m = scores.shape
    target = np.round(np.asarray(share, np.float64) * n).astype(np.int64)
    target[np.argmax(target)] += n - target.sum()
    cols = np.ascontiguousarray(np.asarray(scores, np.float64).T)  # (m, n): one category's scores contiguous
    b = np.zeros(m)
    tol = max(1, n // 1000)
    for _ in range(_SWEEPS):
        after = np.maximum.accumulate((cols + b[:, None])[::-1], axis=0)[::-1]  # after[j]: max over k >= j
        before = np.full(n, -np.inf)  # max over k < j, with the offsets set in this sweep
        for j in range(m):
            other = np.maximum(before, after[j + 1]) if j + 1 < m else before
            d = (cols[j] + b[j]) - other  # row's margin for category j
            t = int(target[j])
            if t <= 0:
                b[j] -= max(float(d.max()), 0.0) + 1e-6
            elif t >= n:
                b[j] -= min(float(d.min()), 0.0) - 1e-6
            else:
                part = np.partition(d, [n - t - 1, n - t])
                b[j] -= (part[n - t - 1] + part[n - t]) / 2
            np.maximum(before, cols[j] + b[j], out=before)
        counts = np.bincount((cols + b[:, None]).argmax(axis=0), minlength=m)
        if np.abs(counts - target).max() <= tol:
            break
    return (cols + b[:, None]).argmax(axis=0)


def _one_hot(codes: np.ndarray, m: int) -> np.ndarray:
    out = -np.ones((len(codes), m), np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out
