"""Multi-parent reconciliation (paper §4.3.3) and uniqueness of FK-only keys.

Each version of a multi-parent child was generated under one parent. A row of the base version takes the
parent position of its nearest neighbour in another version (annoy; an exact KD-tree for few dims), each row of the other version used at
most once: rounds of "each base row proposes its nearest free candidate, each candidate accepts its closest
proposer", all vectorised; rows still unmatched after the rounds pair up with the leftovers at random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from annoy import AnnoyIndex
from sklearn.neighbors import KDTree


def match_unique(base: np.ndarray, other: np.ndarray, rng: np.random.Generator, n_neighbours: int = 16,
                 rounds: int = 4) -> np.ndarray:
    """For each row of base, the index of a distinct row of other (len(other) >= len(base))."""
    n, m = len(base), len(other)
    if m < n:
        raise ValueError("the other version must have at least as many rows as the base")
    out = np.full(n, -1, np.int64)
    if n == 0:
        return out
    d = base.shape[1]
    if d == 0:
        return rng.permutation(m)[:n]
    # tiny jitter breaks exact ties (identical rows) so proposals spread over equally close candidates
    jit = 1e-4 * (other.std(axis=0) + 1e-6)
    base = base + rng.normal(size=base.shape) * jit
    other = other + rng.normal(size=other.shape) * jit
    knn = _Neighbours(other, int(rng.integers(1 << 30)))
    taken = np.zeros(m, bool)
    k = min(n_neighbours, m)
    for _ in range(rounds):
        todo = np.flatnonzero(out < 0)
        if len(todo) == 0:
            break
        cand, dist = knn.query(base[todo], k)
        free = (cand >= 0) & ~taken[np.maximum(cand, 0)]
        dist = np.where(free, dist, np.inf)
        best = dist.argmin(axis=1)
        prop = cand[np.arange(len(todo)), best]
        pd_ = dist[np.arange(len(todo)), best]
        ok = np.isfinite(pd_)
        rows, prop, pd_ = todo[ok], prop[ok], pd_[ok]
        # each candidate keeps its closest proposer
        order = np.lexsort((pd_, prop))
        first = np.ones(len(order), bool)
        first[1:] = prop[order][1:] != prop[order][:-1]
        win = order[first]
        out[rows[win]] = prop[win]
        taken[prop[win]] = True
        k = min(m, k * 2)
    left = np.flatnonzero(out < 0)
    if len(left):
        out[left] = rng.permutation(np.flatnonzero(~taken))[:len(left)]
    return out


class _Neighbours:
    """k nearest rows of `other`: an exact KD-tree (batched, in C) for few dims, annoy beyond."""

    KD_MAX_DIMS = 16

    def __init__(self, other: np.ndarray, seed: int, trees: int = 10):
        self.m, d = other.shape
        if d <= self.KD_MAX_DIMS:
            self.tree = KDTree(other)
            self.index = None
        else:
            self.tree = None
            self.index = AnnoyIndex(d, "euclidean")
            self.index.set_seed(seed)
            for j, row in enumerate(other.tolist()):
                self.index.add_item(j, row)
            self.index.build(trees, n_jobs=1)

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.m)
        if self.tree is not None:
            dist, idx = self.tree.query(q, k=k)
            return idx.astype(np.int64), dist
        cand = np.full((len(q), k), -1, np.int64)
        dist = np.full((len(q), k), np.inf)
        for r, row in enumerate(q.tolist()):
            idx, dd = self.index.get_nns_by_vector(row, k, include_distances=True)
            cand[r, :len(idx)] = idx
            dist[r, :len(dd)] = dd
        return cand, dist


def repair_unique(pos: np.ndarray, n_parents: list[int], rng: np.random.Generator,
                  rounds: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """pos: (n, f) parent positions making up a key (-1 = NULL, never equal to anything). Rows whose tuple
    repeats get one column (the one with most parents) redrawn until unique. Returns the repaired positions
    and a keep mask, False for rows that stayed duplicates (the parent tables are too small)."""
    pos = pos.copy()
    if len(pos) == 0:
        return pos, np.ones(0, bool)
    col = int(np.argmax(n_parents))
    for _ in range(rounds):
        dup = _duplicated(pos)
        if not dup.any() or n_parents[col] == 0:
            break
        idx = np.flatnonzero(dup)
        pos[idx, col] = rng.integers(0, n_parents[col], len(idx))
    dup = _duplicated(pos)
    if dup.any() and n_parents[col] > 0:
        # Random redraws stall where a group holds most of the parents (a playlist of nearly every track):
        # give each remaining duplicate a parent its group does not use yet, drawn from those left.
        rest = [j for j in range(pos.shape[1]) if j != col]
        frame = pd.DataFrame(pos[:, rest]) if rest else pd.DataFrame({0: np.zeros(len(pos), np.int64)})
        group = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        for g in np.unique(group[dup]):
            rows = np.flatnonzero(group == g)
            bad = rows[dup[rows]]
            free = np.setdiff1d(np.arange(n_parents[col]), pos[rows[~dup[rows]], col])
            take = rng.permutation(free)[:len(bad)]
            pos[bad[:len(take)], col] = take
    return pos, ~_duplicated(pos)


def _duplicated(pos: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame(pos)
    dup = frame.duplicated(keep="first").to_numpy()
    return dup & (pos >= 0).all(axis=1)
