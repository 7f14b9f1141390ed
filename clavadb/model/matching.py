"""Multi-parent reconciliation (paper §4.3.3) and uniqueness of FK-only keys.

`reconcile` makes one table out of the versions of a child with several parents; `match_unique` pairs the
rows of two versions; `repair_unique` keeps keys made only of FK columns unique.

Each version of a multi-parent child was generated under one parent. A row of the base version takes the
parent position of its nearest free row in another version, each row of the other version used at most once.
Both versions are cut into the same cells of a median-split tree grown on the base rows (a k-d tree whose
leaves hold at most `leaf` base rows; the other version's rows fall into the leaves by the same thresholds),
and within a cell exact distances (one matrix product) drive rounds of "each base row proposes its nearest
free candidate, each candidate accepts its closest proposer". Rows left unmatched by full or lopsided cells go
through the same steps again with a new tree over what is left, and the few still unmatched after that pair up
with the leftovers at random. The cost is linear in the rows (times the tree depth): 6 M x 6 M rows match in
about a minute; a neighbour just across a cell boundary is missed, a small loss against exact nearest neighbours.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clavadb.model.groups import assign_by_sizes

if TYPE_CHECKING:
    from clavadb.model.artifact import EdgeModel
    from clavadb.schema import Table

Version = tuple[np.ndarray, np.ndarray]  # a child generated under one parent: (augmented rows, parent positions)

LEAF = 1024  # base rows per cell: the cell's distance matrix is LEAF x ~LEAF
_VAR_SAMPLE = 4096  # rows used to choose a node's split dimension


def reconcile(table: Table, edges: list[EdgeModel], n_parents: list[int], versions: list[Version],
              enc_dim: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One table from its versions, one per edge in `edges` (its parent edges; n_parents: the synthetic
    parents' row counts). The largest version is the base (its rows are the output), cut to the versions'
    mean size weighted by their parents' row counts; each other version's rows are matched to base rows
    (on the first `enc_dim` columns) without reuse. Edges past the versions (Single-T) get FKs from their
    group sizes. FK-only unique keys are then repaired and the rows shuffled.
    Returns (rows, {fk name: parent positions})."""
    b = int(np.argmax([len(x) for x, _ in versions]))
    # Each version's size is a sum of group sizes drawn per parent row; its noise shrinks with the number
    # of parent rows, so a tiny parent (five media types) must not outvote a large one (350 albums).
    weights = np.array([max(m, 1) for m in n_parents[:len(versions)]], float)
    n = int(round(np.average([len(x) for x, _ in versions], weights=weights)))
    base_x, base_pos = versions[b]
    keep = np.sort(rng.permutation(len(base_x))[:n])
    base_x, base_pos = base_x[keep], base_pos[keep]
    out_pos = {edges[b].fk: base_pos}
    for v, (x, p) in enumerate(versions):
        if v != b:
            out_pos[edges[v].fk] = _match_version(base_x[:, :enc_dim], x[:, :enc_dim], p, edges[v], n_parents[v],
                                                  rng)
    for e, m in zip(edges[len(versions):], n_parents[len(versions):], strict=True):
        out_pos[e.fk] = assign_random(e, n, m, rng)  # Single-T: the other FKs from real group sizes
    x, out_pos = repair_fk_keys(table, base_x, out_pos, dict(zip([e.fk for e in edges], n_parents, strict=True)),
                                rng)
    perm = rng.permutation(len(x))
    return x[perm], {k: v[perm] for k, v in out_pos.items()}


def _match_version(base: np.ndarray, x: np.ndarray, p: np.ndarray, e: EdgeModel, n_parent: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Parent positions of edge `e` for the base rows, from the version (x, p) generated under `e`: each
    base row takes the position of a distinct matched row; when the version is short, the base rows left
    over copy the FK of a random row of it (an extra member of an existing group, so its group sizes keep
    their shape)."""
    n = len(base)
    m = min(len(x), n)
    sub = np.sort(rng.permutation(len(x))[:m])
    rows_b = np.sort(rng.permutation(n)[:m])  # base rows that get a partner
    pos = np.full(n, -1, np.int64)
    pos[rows_b] = p[sub][match_unique(base[rows_b], x[sub], rng)]
    rest = np.setdiff1d(np.arange(n), rows_b)
    if len(rest) and len(p):
        pos[rest] = p[rng.integers(0, len(p), len(rest))]
    elif len(rest):  # that version drew no rows at all: fall back to group sizes alone
        pos[rest] = assign_random(e, len(rest), n_parent, rng)
    return pos


def assign_random(e: EdgeModel, n: int, n_parent: int, rng: np.random.Generator) -> np.ndarray:
    """Parent positions for n child rows of edge `e` from its group sizes alone (-1: NULL at its null share)."""
    q = e.null_share if e.nullable else 0.0
    has = rng.random(n) >= q
    out = np.full(n, -1, np.int64)
    out[has] = assign_by_sizes(int(has.sum()), n_parent, e.sizes, rng)
    return out


def fk_only_keys(table: Table) -> list[set[str]]:
    """The table's primary key and unconditional UNIQUE keys that consist of FK columns only."""
    fkcols = table.fk_columns()
    keys = [table.primary_key] + [u.columns for u in table.uniques if u.predicate is None]
    return [set(k) for k in keys if k and set(k) <= fkcols]


def repair_fk_keys(table: Table, x: np.ndarray, pos: dict[str, np.ndarray], n_parents: dict[str, int],
                   rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Keep each FK-only key of `table` unique (repair_unique); rows that stay duplicates are dropped.
    pos: parent positions per FK name; n_parents: the parent's row count per FK name."""
    for cols in fk_only_keys(table):
        fks = [fk for fk in table.foreign_keys if set(fk.columns) <= cols and fk.name in pos]
        if not fks:
            continue
        mat = np.stack([pos[fk.name] for fk in fks], axis=1)
        fixed, ok = repair_unique(mat, [n_parents[fk.name] for fk in fks], rng)
        for j, fk in enumerate(fks):
            pos[fk.name] = fixed[:, j]
        x = x[ok]
        pos = {k: v[ok] for k, v in pos.items()}
    return x, pos


def match_unique(base: np.ndarray, other: np.ndarray, rng: np.random.Generator, leaf: int = LEAF,
                 passes: int = 4, rounds: int = 4) -> np.ndarray:
    """For each row of base, the index of a distinct row of other (len(other) >= len(base))."""
    n, m = len(base), len(other)
    if m < n:
        raise ValueError("the other version must have at least as many rows as the base")
    out = np.full(n, -1, np.int64)
    if n == 0:
        return out
    if base.shape[1] == 0:
        return rng.permutation(m)[:n]
    # tiny jitter breaks exact ties (identical rows) so proposals spread over equally close candidates
    jit = (1e-4 * (other.std(axis=0) + 1e-6)).astype(np.float32)
    base = (base + rng.standard_normal(base.shape, np.float32) * jit).astype(np.float32)
    other = (other + rng.standard_normal(other.shape, np.float32) * jit).astype(np.float32)
    todo, free = np.arange(n), np.arange(m)
    for _ in range(passes):
        for cb, co in _cells(base[todo], other[free], leaf, rng):
            got = _match_cell(base[todo[cb]], other[free[co]], rounds)
            ok = got >= 0
            out[todo[cb[ok]]] = free[co[got[ok]]]
        taken = np.zeros(m, bool)
        taken[out[out >= 0]] = True
        todo, free = np.flatnonzero(out < 0), np.flatnonzero(~taken)
        if len(todo) == 0:
            break
    if len(todo):
        out[todo] = rng.permutation(free)[:len(todo)]
    return out


def _cells(b: np.ndarray, o: np.ndarray, leaf: int, rng: np.random.Generator
           ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Leaves of a median-split tree on b: (indices into b, indices into o) per leaf. Each node splits on
    its base rows' widest dimension at their median (by rank, so a node always halves)."""
    stack = [(np.arange(len(b)), np.arange(len(o)))]
    while stack:
        ib, io = stack.pop()
        if len(ib) <= leaf or len(io) == 0:
            yield ib, io
            continue
        pts = b[ib] if len(ib) <= _VAR_SAMPLE else b[rng.choice(ib, _VAR_SAMPLE, replace=False)]
        dim = int(np.argmax(pts.var(axis=0)))
        vals = b[ib, dim]
        h = len(ib) // 2
        order = np.argpartition(vals, h)
        thr = vals[order[h]]
        left_o = o[io, dim] < thr
        stack.append((ib[order[h:]], io[~left_o]))
        stack.append((ib[order[:h]], io[left_o]))


def _match_cell(b: np.ndarray, o: np.ndarray, rounds: int) -> np.ndarray:
    """Greedy nearest-free matching of the rows of b to distinct rows of o (-1: left for the next pass)."""
    out = np.full(len(b), -1, np.int64)
    if len(o) == 0:
        return out
    dist = (b * b).sum(1)[:, None] + (o * o).sum(1)[None, :] - 2.0 * (b @ o.T)
    todo = np.arange(len(b))
    for _ in range(rounds):
        if len(todo) == 0:
            break
        sub = dist[todo]
        prop = sub.argmin(axis=1)
        d = sub[np.arange(len(todo)), prop]
        ok = np.isfinite(d)
        if not ok.any():
            break
        rows, prop, d = todo[ok], prop[ok], d[ok]
        order = np.lexsort((d, prop))  # each candidate keeps its closest proposer
        first = np.ones(len(order), bool)
        first[1:] = prop[order][1:] != prop[order][:-1]
        win = order[first]
        out[rows[win]] = prop[win]
        dist[:, prop[win]] = np.inf
        todo = np.flatnonzero(out < 0)
    return out


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
