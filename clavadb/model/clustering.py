"""Relation-aware clustering (paper §4.3.1, Algorithm 1) and the encoding of cluster labels as a column.

For an edge parent -> child: a diagonal GMM on (child augmented ; λ · parent) rows, then a majority vote per
parent row. Childless parents get a label of their own. Labels become a categorical column of the parent
(and of the child's view of the edge), encoded like any category: the label's frequency bin mapped to the
standard normal quantile of the bin's midpoint, so the column is ~N(0, 1) for the diffusion.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

MAX_ONEHOT = 64  # categorical dims with more distinct values stay as they are


def cluster_features(x: np.ndarray, categorical: list[int]) -> np.ndarray:
    """GMM features: numeric dims as encoded, categorical dims one-hot (an ordinal code has no geometry)."""
    if x.shape[1] == 0:
        return x
    cat = [d for d in categorical if d < x.shape[1]]
    parts = [x[:, [d for d in range(x.shape[1]) if d not in set(cat)]]]
    for d in cat:
        vals, inv = np.unique(x[:, d], return_inverse=True)
        if len(vals) > MAX_ONEHOT or len(vals) < 2:
            parts.append(x[:, [d]] if len(vals) >= 2 else np.zeros((len(x), 0), np.float32))
            continue
        oh = np.zeros((len(x), len(vals)), np.float32)
        oh[np.arange(len(x)), inv.ravel()] = 1.0
        parts.append(oh)
    return np.concatenate(parts, axis=1).astype(np.float32)


# reg_covar of the first fit, and the factor by which a failed fit raises it: the features are ~N(0, 1), so
# 1e-4 is negligible next to a real spread, and three tenfold retries reach 0.1, still below it
REG_COVAR = 1e-4
REG_RETRIES = 3


def _centered(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """x in float64, shifted by the column means of ref: the GMM's variance (E[x²] - E[x]²) loses all
    precision on large, nearly constant columns in float32, which is what 'ill-defined covariance' means."""
    return x.astype(np.float64) - ref.astype(np.float64).mean(axis=0)


def _fit_mixture(rows: np.ndarray, k: int, iters: int, seed: int, mixture: type, convergence: type):
    """A diagonal GMM on rows with at most as many components as distinct rows; a fit that fails on
    degenerate components is retried with a larger covariance floor. None when no fit is possible (one
    distinct row): the caller then uses one cluster. Never raises for the shape of the data."""
    x = _centered(rows, rows)
    distinct = len(np.unique(x, axis=0))
    k = min(k, distinct)
    if k < 2:
        return None
    reg = REG_COVAR
    for _ in range(REG_RETRIES + 1):
        gm = mixture(k, covariance_type="diag", max_iter=iters, reg_covar=reg, random_state=seed,
                     init_params="k-means++")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", convergence)
                gm.fit(x)
            return gm
        except ValueError:  # "ill-defined empirical covariance": raise the floor and retry
            reg *= 10
    return None


@dataclass
class EdgeClusters:
    parent_labels: np.ndarray  # int64 per parent row, 0..n_labels-1
    n_labels: int  # clusters used by parents with children (+1 when some parent is childless)
    childless_label: int | None
    agree_rate: float


def cluster_edge(child: np.ndarray, parent: np.ndarray, parent_pos: np.ndarray, n_parent: int, k: int,
                 lam: float, iters: int, max_rows: int, seed: int, merge_tol: float = 0.05) -> EdgeClusters:
    """child: features of child rows that have a parent (aligned with parent_pos); parent: features of all
    parent rows. Returns one label per parent row (majority vote over its children)."""
    sizes = np.bincount(parent_pos, minlength=n_parent)
    h = np.concatenate([child, lam * parent[parent_pos]], axis=1) if len(child) else np.zeros((0, 0))
    has = sizes > 0
    k = max(1, min(k, int(has.sum())))
    gm = None
    if h.shape[1] > 0 and k > 1 and len(h) > 0:
        rng = np.random.default_rng(seed)
        fit_rows = h if len(h) <= max_rows else h[rng.choice(len(h), max_rows, replace=False)]
        # imported here: the codecs of this module are read by sampling, which needs neither library
        from scipy.cluster.hierarchy import fcluster, linkage
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        gm = _fit_mixture(fit_rows, k, iters, seed, GaussianMixture, ConvergenceWarning)
    if gm is None:  # collapsed sample (fewer than two distinct rows): one cluster
        comp = np.zeros(len(parent_pos), np.int64)
        order = np.zeros(1, np.int64)
        k = 1
    else:
        k = gm.n_components
        comp = gm.predict(_centered(h, fit_rows)).astype(np.int64)
        # components with (nearly) the same mean split one mode at random (e.g. identical categorical rows):
        # merge them, so that a label stands for a distinct kind of family, not a coin flip
        means = gm.means_
        if k > 1:
            merged = fcluster(linkage(means, "single"), merge_tol * np.sqrt(h.shape[1]), "distance") - 1
            comp = merged[comp]
            k = int(merged.max()) + 1
            means = np.stack([gm.means_[merged == j].mean(axis=0) for j in range(k)])
        # order clusters along the main axis of their means, so nearby label codes are similar clusters
        means = means - means.mean(axis=0)
        axis = np.linalg.svd(means, full_matrices=False)[2][0] if len(means) > 1 else np.ones(h.shape[1])
        order = np.argsort(np.argsort(means @ axis))
    # majority vote per parent: count (parent, component) pairs, keep the most frequent component
    counts = np.zeros((n_parent, k), np.int64)
    np.add.at(counts, (parent_pos, comp), 1)
    vote = counts.argmax(axis=1)
    agree = float((counts.max(axis=1)[has] / sizes[has]).mean()) if has.any() else 1.0
    # compact labels to those used by parents with children, in cluster-axis order
    used = np.unique(order[vote[has]]) if has.any() else np.zeros(0, np.int64)
    rank = order[vote]  # axis rank of the voted component
    labels = np.searchsorted(used, rank)
    childless = None
    n_labels = len(used)
    if (~has).any():
        childless = n_labels
        labels = np.where(has, labels, childless)
        n_labels += 1
    return EdgeClusters(labels.astype(np.int64), max(1, n_labels), childless, agree)


@dataclass
class LabelCodec:
    """Cluster label <-> one float column: label l sits at Φ⁻¹(midpoint of its frequency bin)."""

    codes: np.ndarray  # (n_labels,) float32
    bounds: np.ndarray  # (n_labels - 1,) decision boundaries between consecutive codes

    @classmethod
    def fit(cls, labels: np.ndarray, n_labels: int) -> LabelCodec:
        freq = np.bincount(labels, minlength=n_labels).astype(np.float64) + 0.5  # every label gets a bin
        cum = np.cumsum(freq) / freq.sum()
        mid = cum - freq / freq.sum() / 2
        codes = ndtri(mid).astype(np.float32)
        edges = ndtri(cum[:-1]).astype(np.float32)
        return cls(codes, edges)

    def encode(self, labels: np.ndarray) -> np.ndarray:
        return self.codes[labels]

    def decode(self, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, x).astype(np.int64)

    def state(self) -> dict:
        return {"codes": self.codes.tolist(), "bounds": self.bounds.tolist()}

    @classmethod
    def from_state(cls, d: dict) -> LabelCodec:
        return cls(np.asarray(d["codes"], np.float32), np.asarray(d["bounds"], np.float32))
