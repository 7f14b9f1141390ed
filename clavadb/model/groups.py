"""Foreign-key group sizes: p(s | c) per cluster (zero-size groups included), the no-parent share of a
nullable FK, and FK assignment from group sizes alone (deferred edges, the "independent" baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SizeDist:
    """Empirical distribution of group sizes per label: sizes[l] (ascending) with probabilities probs[l]."""

    sizes: list[np.ndarray]
    probs: list[np.ndarray]

    @classmethod
    def fit(cls, group_sizes: np.ndarray, labels: np.ndarray | None = None, n_labels: int = 1) -> SizeDist:
        if labels is None:
            labels = np.zeros(len(group_sizes), np.int64)
        sizes, probs = [], []
        for lab in range(n_labels):
            s = group_sizes[labels == lab]
            if len(s) == 0:
                s = group_sizes if len(group_sizes) else np.zeros(1, np.int64)
            v, c = np.unique(s, return_counts=True)
            sizes.append(v.astype(np.int64))
            probs.append(c / c.sum())
        return cls(sizes, probs)

    def sample(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One group size per parent row, drawn from p(s | label) (vectorised per label). Stratified: the
        parents of a label get one draw from each of n equal-probability strata, in random order. Each size
        still follows p(s | label), but the total no longer swings with a few draws from a long tail: a
        parent table of eight employees, three of them with twenty customers each, gives about 59
        customers, not anywhere from 20 to 120."""
        out = np.zeros(len(labels), np.int64)
        labels = np.clip(labels, 0, len(self.sizes) - 1)
        for lab in np.unique(labels):
            rows = np.flatnonzero(labels == lab)
            u = (rng.permutation(len(rows)) + rng.random(len(rows))) / len(rows)
            cdf = np.cumsum(self.probs[lab])
            idx = np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)
            out[rows] = self.sizes[lab][idx]
        return out

    def state(self) -> dict:
        return {"sizes": [s.tolist() for s in self.sizes], "probs": [p.tolist() for p in self.probs]}

    @classmethod
    def from_state(cls, d: dict) -> SizeDist:
        return cls([np.asarray(s, np.int64) for s in d["sizes"]], [np.asarray(p, np.float64) for p in d["probs"]])


def group_sizes(parent_pos: np.ndarray, n_parent: int) -> np.ndarray:
    """Children per parent row (NA / negative positions ignored)."""
    valid = parent_pos[parent_pos >= 0]
    return np.bincount(valid, minlength=n_parent).astype(np.int64)


def assign_by_sizes(n_children: int, n_parent: int, dist: SizeDist, rng: np.random.Generator) -> np.ndarray:
    """Parent position for each of n_children rows: draw a size per parent row, lay out that many slots per
    parent, shuffle, and take n_children of them (topping up with draws proportional to the sizes when short)."""
    if n_children == 0:
        return np.zeros(0, np.int64)
    if n_parent == 0:
        return np.full(n_children, -1, np.int64)
    sizes = dist.sample(np.zeros(n_parent, np.int64), rng)
    slots = np.repeat(np.arange(n_parent), sizes)
    if len(slots) < n_children:
        w = sizes + 1e-3 if sizes.sum() else np.ones(n_parent)
        extra = rng.choice(n_parent, size=n_children - len(slots), p=w / w.sum())
        slots = np.concatenate([slots, extra])
    return rng.permutation(slots)[:n_children]


def assign_forest(n: int, dist: SizeDist, null_share: float, nullable: bool,
                  rng: np.random.Generator) -> np.ndarray:
    """Self-reference positions that form a forest: in a random order, a row only points to an earlier row.
    The first row in that order is a root (NULL; itself when the FK is NOT NULL, the only acyclic choice)."""
    if n == 0:
        return np.zeros(0, np.int64)
    order = rng.permutation(n)  # order[r] = row at rank r
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    has_parent = rng.random(n) >= (null_share if nullable else 0.0)
    # capacity of each row as a parent, laid out as slots sorted by the parent's rank
    sizes = dist.sample(np.zeros(n, np.int64), rng)
    slot_rank = np.sort(np.repeat(rank, sizes))
    avail = np.searchsorted(slot_rank, rank, side="left")  # slots whose parent comes strictly earlier
    pick = np.floor(rng.random(n) * np.maximum(avail, 1)).astype(np.int64)
    parent_rank = np.where(avail > 0, slot_rank[np.minimum(pick, max(len(slot_rank) - 1, 0))] if len(slot_rank)
                           else 0, np.floor(rng.random(n) * rank).astype(np.int64))
    out = order[parent_rank]
    root = rank == 0
    out = np.where(root, np.arange(n) if not nullable else -1, out)
    return np.where(has_parent | root & ~nullable, out, -1)
