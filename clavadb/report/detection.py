"""Discriminators: can a classifier tell the synthetic rows from the real ones?

Two measures, defined as SyntheRela defines them (Hudovernik et al., "Benchmarking the Fidelity and Utility
of Synthetic Relational Data", 2024):

- DDA (discriminative detection with aggregation, C2ST-Agg), per parent table: each row of the table plus,
  per child FK edge, the number of children, the number of distinct values of each categorical child
  column and the mean of each numerical child column.
- C2ST, per table: the same classifier on the table's own columns only.

Both sides are balanced (the larger one subsampled) and capped at MAX_ROWS rows each; categorical columns
are one-hot encoded; 5-fold stratified cross-validation of a gradient-boosted tree classifier; the
held-out predictions of all folds are pooled into one accuracy, its standard error, and SyntheRela's two
binomial p-values: `p_detect` (accuracy > 0.5: the copy can be told apart) and `p_copy` (accuracy < 0.5).

0.5 means indistinguishable. Accuracy well below 0.5 is not a good score: it happens when the copy
repeats real rows, so that each held-out real row has its twin in the training folds labelled
synthetic. Such a result is flagged "copy-like" (where the real rows are unique enough for it to mean
that: see UNIQUE_SHARE).

The classifier is scikit-learn's HistGradientBoostingClassifier, with XGBoost's default tree shape
(depth 6, learning rate 0.3, 100 rounds, L2 1, leaves down to a few rows), the classifier SyntheRela uses:
the same histogram gradient boosting as XGBoost's `hist` method, from a library the project already
depends on, where XGBoost would add a large native wheel for no change in what is measured.

Which features give the copy away: grouped permutation importance on the held-out folds (all one-hot
columns of a categorical permuted together): the drop in accuracy when the feature is scrambled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from clavadb import pipeline
from clavadb.schema import ForeignKey
from clavadb.sql import qident

from .columns import ColumnSpec

# Rows per side. A discriminator's accuracy on 2 x 20,000 rows has a standard error of 0.0025, finer than
# any difference worth reading, and 5 folds of it fit in a few seconds on 2 cores.
MAX_ROWS = 20_000
FOLDS = 5  # SyntheRela's number of folds
# Fewer rows per side than this and 5 folds hold too few rows to say anything (a fold of 4 rows)
MIN_ROWS = 10
# p_copy below this and accuracy below 0.5 by more than COPY_MARGIN: the copy repeats real rows. The
# margin keeps a large table's tiny, significant dip (near-duplicate real rows) from reading as a copy.
COPY_P = 0.001
COPY_MARGIN = 0.05
# Only where the real rows are this unique: with few, repeated feature rows, a held-out row's equals in
# the training folds lean to the other label by construction (leave-one-out), so accuracy dips below 0.5
# with no copying at all. The share is the pipeline's own bar for a table a copied row can leak from.
UNIQUE_SHARE = pipeline.UNIQUE_SHARE
TOP_FEATURES = 8  # features listed per table in the report
MAX_ONE_HOT = 50  # categories one-hot encoded per column; the rarer ones share an "other" column
# XGBoost's defaults (max_depth 6, eta 0.3, 100 rounds, lambda 1, min_child_weight 1, i.e. leaves of a
# few rows), so the classifier can memorise rows as SyntheRela's does: that is what exposes a copy.
# One OpenMP thread: a fold's trees are small, and on a machine whose cores are busy OpenMP's spinning
# threads ran a fit 30x slower (32,000 rows: 4 s on one thread, 120 s on two with other jobs running).
CLASSIFIER = dict(max_depth=6, learning_rate=0.3, max_iter=100, l2_regularization=1.0, min_samples_leaf=4,
                  max_leaf_nodes=None, early_stopping=False)

Query = Callable[[str], pd.DataFrame]


@dataclass
class Features:
    """Feature frame of one side: columns, and the original feature each column belongs to."""

    frame: pd.DataFrame
    kinds: dict[str, str]  # feature -> "numerical" | "categorical"


def _child_aggregates(child: str, fk: ForeignKey, specs: list[ColumnSpec], prefix: str) -> tuple[str, dict]:
    """SQL of the per-parent aggregates of one child edge, keyed by the FK columns, and their kinds."""
    sel, kinds = ["count(*) AS n"], {f"{prefix}count": "numerical"}
    for i, s in enumerate(specs):
        if s.role == "categorical":
            sel.append(f"count(DISTINCT {s.expr()}) AS a{i}")
            kinds[f"{prefix}{s.name} distinct"] = "numerical"
        else:
            sel.append(f"avg({s.expr()}) AS a{i}")
            kinds[f"{prefix}{s.name} mean"] = "numerical"
    fkc = ", ".join(qident(c) for c in fk.columns)
    nn = " AND ".join(f"{qident(c)} IS NOT NULL" for c in fk.columns)
    return f"SELECT {fkc}, {', '.join(sel)} FROM {child} WHERE {nn} GROUP BY {fkc}", kinds


def features(query: Query, view: str, specs: list[ColumnSpec],
             children: list[tuple[str, str, ForeignKey, list[ColumnSpec]]]) -> Features:
    """The rows of `view` on its modeled columns, plus (DDA) the aggregates of each child edge.

    children: (child table, its view, its FK to this table, its modeled columns)."""
    sel = [f"{s.expr('p')} AS f{i}" for i, s in enumerate(specs)]
    kinds = {s.name: s.role for s in specs}
    names = [s.name for s in specs]
    joins = []
    for j, (table, child, fk, cspecs) in enumerate(children):
        prefix = f"{table}.{'/'.join(fk.columns)}: "
        sql, ckinds = _child_aggregates(child, fk, cspecs, prefix)
        on = " AND ".join(f"p.{qident(b)} = g{j}.{qident(a)}" for a, b in zip(fk.columns, fk.ref_columns, strict=True))
        joins.append(f"LEFT JOIN ({sql}) g{j} ON {on}")
        sel.append(f"coalesce(g{j}.n, 0) AS c{j}_n")
        for i, s in enumerate(cspecs):
            default = "0" if s.role == "categorical" else "NULL"  # no children: 0 distinct values, no mean
            sel.append(f"coalesce(g{j}.a{i}, {default}) AS c{j}_{i}")
        kinds.update(ckinds)
        names += list(ckinds)
    if not sel:
        return Features(pd.DataFrame(), {})
    frame = query(f"SELECT {', '.join(sel)} FROM {view} p {' '.join(joins)}")
    frame.columns = names
    return Features(frame, kinds)


def _encode(real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, str]
            ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Numeric matrices of both sides (numbers as they are, NaN kept: the trees route missing values;
    categories one-hot over both sides), the feature names, and each column's feature index."""
    blocks_r, blocks_s, group = [], [], []
    names = list(kinds)
    for gi, name in enumerate(names):
        if kinds[name] == "numerical":
            blocks_r.append(pd.to_numeric(real[name], errors="coerce").to_numpy(float)[:, None])
            blocks_s.append(pd.to_numeric(synth[name], errors="coerce").to_numpy(float)[:, None])
            group.append(gi)
            continue
        both = pd.concat([real[name], synth[name]], ignore_index=True).astype(object)
        both = both.where(both.notna(), "\x00NULL")
        top = both.value_counts().index[:MAX_ONE_HOT]
        codes = pd.Categorical(both.where(both.isin(top), "\x00other"))
        eye = np.eye(len(codes.categories), dtype=float)
        onehot = eye[codes.codes]
        blocks_r.append(onehot[: len(real)])
        blocks_s.append(onehot[len(real):])
        group += [gi] * onehot.shape[1]
    return np.hstack(blocks_r), np.hstack(blocks_s), names, np.asarray(group)


def discriminate(real: Features, synth: Features, seed: int = 0, importance: bool = True) -> dict | None:
    """Accuracy of telling `synth` rows from `real` ones (see the module doc), or None when a side has
    fewer than MIN_ROWS rows or there is no feature."""
    kinds = {k: v for k, v in real.kinds.items() if k in synth.frame.columns}
    n = min(len(real.frame), len(synth.frame), MAX_ROWS)
    if n < MIN_ROWS or not kinds:
        return None
    rng = np.random.default_rng(seed)
    r = real.frame.iloc[rng.permutation(len(real.frame))[:n]].reset_index(drop=True)
    s = synth.frame.iloc[rng.permutation(len(synth.frame))[:n]].reset_index(drop=True)
    xr, xs, names, group = _encode(r, s, kinds)
    keep = ~np.all(np.vstack([xr, xs]) == np.vstack([xr, xs])[:1], axis=0)  # constant columns say nothing
    x, y = np.vstack([xr, xs])[:, keep], np.r_[np.ones(n), np.zeros(n)]
    group = group[keep]
    unique = len(np.unique(np.nan_to_num(xr[:, keep], nan=-1.5e308), axis=0)) / n
    if x.shape[1] == 0:  # every feature constant on both sides: nothing tells them apart
        correct = np.r_[np.ones(n), np.zeros(n)]  # a constant prediction is right on one side
        return _summary(correct, {}, unique)
    correct = np.zeros(2 * n)
    drops = np.zeros(len(names))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):  # one thread: see CLASSIFIER
        for i, (tr, te) in enumerate(folds.split(x, y)):
            clf = HistGradientBoostingClassifier(random_state=seed + i, **CLASSIFIER).fit(x[tr], y[tr])
            hit = clf.predict(x[te]) == y[te]
            correct[te] = hit
            if importance:
                drops += _permutation_drops(clf, x[te], y[te], hit.mean(), group, len(names), rng) * len(te)
    imp = {names[g]: float(drops[g] / (2 * n)) for g in np.unique(group)} if importance else {}
    return _summary(correct, imp, unique)


def _permutation_drops(clf, x: np.ndarray, y: np.ndarray, base: float, group: np.ndarray, n_groups: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Accuracy lost on a held-out fold when the columns of one feature are shuffled together."""
    out = np.zeros(n_groups)
    perm = rng.permutation(len(x))
    for g in np.unique(group):
        cols = group == g
        xp = x.copy()
        xp[:, cols] = x[perm][:, cols]
        out[g] = base - float(np.mean(clf.predict(xp) == y))
    return out


def _summary(correct: np.ndarray, importance: dict[str, float], unique: float) -> dict:
    k, m = int(correct.sum()), len(correct)
    acc = k / m
    p_copy = float(binomtest(k, m, 0.5, alternative="less").pvalue)
    top = sorted(((f, v) for f, v in importance.items() if v > 0), key=lambda t: -t[1])[:TOP_FEATURES]
    return {
        "accuracy": acc,
        "se": float(np.std(correct) / np.sqrt(m)),
        "p_detect": float(binomtest(k, m, 0.5, alternative="greater").pvalue),
        "p_copy": p_copy,
        "rows_per_side": m // 2,
        "real_unique_share": unique,  # distinct real feature rows / real rows
        "copy_like": bool(p_copy < COPY_P and acc < 0.5 - COPY_MARGIN and unique >= UNIQUE_SHARE),
        "top_features": [{"feature": f, "importance": v} for f, v in top],
    }


__all__ = ["Features", "MAX_ROWS", "discriminate", "features"]
