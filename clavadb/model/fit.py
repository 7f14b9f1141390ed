"""Fitting (paper Alg. 1 and 2): encode, cluster bottom-up, then one diffusion per table and per edge a
classifier, a label head and the group sizes.

1. encode: each table's modeled columns -> a float matrix (TableEncoder).
2. edges: per foreign key, the null share from the parent positions of the child rows.
3. cluster, bottom-up (clava): per edge, a GMM over the child rows joined with their parent (Alg. 1) gives
   each parent row a cluster label; the label becomes a column of the parent's augmented rows, and the group
   sizes p(s | c) are counted per label. Deferred edges (self-references, one edge per cycle) get only a null
   share and a size distribution. "independent" (the paper's Single-T baseline) skips clustering.
4. given rows: a root table whose rows are given keeps its real augmented rows and its children's counts.
5. train: per table a denoiser on its augmented rows (conditioned on its parent edges' labels when
   `conditional`), per clustered edge a classifier p(c | x_t) for guidance, and label heads p(c | parent row).

Every source of randomness is seeded from the settings' seed and the table / edge index, so the same data
and settings give the same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from clavadb.encoding import TableEncoder, supported
from clavadb.errors import ClavaError
from clavadb.model.artifact import (
    EdgeModel,
    TableModel,
    child_edges,
    context_blocks,
    parent_context,
    parent_edges,
)
from clavadb.model.classifier import train_classifier
from clavadb.model.clustering import LabelCodec, cluster_edge, cluster_features
from clavadb.model.diffusion import Diffusion, TimeMLP, train_denoiser, train_loop
from clavadb.model.groups import SizeDist, group_sizes
from clavadb.model.net import Net
from clavadb.model.presets import Settings
from clavadb.model.space import DiffusionSpace
from clavadb.schema import FKGraph, Schema

Progress = Callable[[str, str, float], None]
Positions = Mapping[tuple[str, str], np.ndarray]  # (child table, FK name) -> parent row per child row, -1: none


@dataclass
class _Work:
    """The arrays of one fit, dropped after it: encoded rows, augmented rows (labels appended), parent
    positions and cluster labels per edge, category boundaries per table and augmented dim."""

    enc: dict[str, np.ndarray] = field(default_factory=dict)
    aug: dict[str, np.ndarray] = field(default_factory=dict)
    pos: dict[int, np.ndarray] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)


class Fitter:
    """One fit of a schema's tables; `run` returns the table and edge models and the fit statistics."""

    def __init__(self, schema: Schema, settings: Settings, method: str, device: torch.device,
                 progress: Progress | None = None):
        self.schema, self.s, self.method, self.device = schema, settings, method, device
        self.graph = FKGraph(schema)
        self.prog: Progress = progress or (lambda stage, table, frac: None)
        self.tables: dict[str, TableModel] = {}
        self.edges: list[EdgeModel] = []
        self.timing: dict[str, dict[str, float]] = {k: {} for k in schema.tables}
        self.stats: dict[str, Any] = {"fit_seconds": self.timing, "agree_rate": {}, "loss": {},
                                      "fit_threads": torch.get_num_threads()}
        self.w = _Work()

    def run(self, frames: Mapping[str, pd.DataFrame], modeled: Mapping[str, list[str]] | None,
            fixed: Collection[str], positions: Positions) -> tuple[dict[str, TableModel], list[EdgeModel], dict]:
        t0 = time.perf_counter()
        for ti, key in enumerate(self.schema.tables):
            self._encode(ti, key, frames[key], modeled)
        self._make_edges(positions)
        self._cluster()
        self._give_rows(fixed)
        self._train()
        self.stats["fit_total_seconds"] = time.perf_counter() - t0
        return self.tables, self.edges, self.stats

    def _tick(self, key: str, stage: str, t0: float) -> None:
        self.timing[key][stage] = self.timing[key].get(stage, 0.0) + time.perf_counter() - t0

    def _gen(self, *parts: int) -> torch.Generator:
        """Training generator: fixed by the settings' seed, so a refit gives the same model."""
        g = torch.Generator(device=self.device)
        g.manual_seed(int(np.random.SeedSequence([self.s.seed, *parts]).generate_state(1)[0]))
        return g

    # -- 1. encode ------------------------------------------------------------------------------------
    def _encode(self, ti: int, key: str, df: pd.DataFrame, modeled: Mapping[str, list[str]] | None) -> None:
        t0 = time.perf_counter()
        table = self.schema.tables[key]
        cols = list(modeled[key]) if modeled and key in modeled else default_columns(self.schema, key)
        check_columns(self.schema, key, df, cols)
        tm = TableModel(key, cols, len(df))
        if cols and len(df):
            tm.encoder = TableEncoder([table.column(c) for c in cols], max_categories=self.s.max_categories,
                                      rare_k=self.s.rare_k, seed=ti).fit(df[cols])
            self.w.enc[key] = tm.encoder.transform(df[cols])
            tm.enc_dim = tm.encoder.dim
        else:
            self.w.enc[key] = np.zeros((len(df), 0), np.float32)
        self.w.bounds[key] = categorical_bounds(tm.encoder)
        self.tables[key] = tm
        self._tick(key, "encode", t0)
        self.prog("encode", key, 1.0)

    # -- 2. edges -------------------------------------------------------------------------------------
    def _make_edges(self, positions: Positions) -> None:
        """One EdgeModel per FK inside the schema, with its null share (deferred edges included)."""
        for child, fk in self.schema.foreign_keys():
            if fk.ref_table not in self.schema.tables:
                continue
            ctab = self.schema.tables[child]
            e = EdgeModel(fk.ref_table, child, fk.name, self.graph.is_deferred(child, fk.name),
                          any(ctab.column(c).nullable for c in fk.columns))
            p = np.asarray(positions[(child, fk.name)], np.int64)
            self.w.pos[len(self.edges)] = p
            e.null_share = float((p < 0).mean()) if len(p) and e.nullable else 0.0
            self.edges.append(e)

    # -- 3. clustering --------------------------------------------------------------------------------
    def _cluster(self) -> None:
        self.w.aug = dict(self.w.enc)
        for key in self.graph.bottom_up():
            for ei in child_edges(self.edges, key):
                t0 = time.perf_counter()
                sizes = group_sizes(self.w.pos[ei], self.tables[key].n_rows)
                if self.method == "clava":
                    self._cluster_edge(ei, sizes)
                else:
                    self.edges[ei].sizes = SizeDist.fit(sizes)
                self._tick(key, "cluster", t0)
                self.prog("cluster", key, 1.0)
        for ei, e in enumerate(self.edges):
            if e.deferred:
                e.sizes = SizeDist.fit(group_sizes(self.w.pos[ei], self.tables[e.parent].n_rows))

    def _cluster_edge(self, ei: int, sizes: np.ndarray) -> None:
        """Alg. 1 for one edge: label the parent rows, append the label column to the parent's rows."""
        e, s, w = self.edges[ei], self.s, self.w
        key, p = e.parent, w.pos[ei]
        valid = p >= 0
        ch = cluster_features(w.aug[e.child][valid], w.bounds[e.child])
        pa = cluster_features(w.enc[key], w.bounds[key])  # the parent as is (Alg. 1: T_i with R_j)
        n_parent = self.tables[key].n_rows
        k = s.k_for(int((sizes > 0).sum()))
        cl = cluster_edge(ch, pa, p[valid], n_parent, k, s.lam, s.gmm_iters, s.gmm_max_rows, seed=ei)
        w.labels[ei] = cl.parent_labels
        e.n_labels, e.agree_rate = cl.n_labels, cl.agree_rate
        e.label_shares = (np.bincount(cl.parent_labels, minlength=cl.n_labels)
                          / max(len(cl.parent_labels), 1)).tolist()
        e.codec = LabelCodec.fit(cl.parent_labels, cl.n_labels)
        e.label_dim = w.aug[key].shape[1]
        w.aug[key] = np.concatenate([w.aug[key], e.codec.encode(cl.parent_labels)[:, None]], axis=1)
        w.bounds[key][e.label_dim] = e.codec.bounds
        self.tables[key].label_edges.append(ei)
        e.sizes = SizeDist.fit(sizes, cl.parent_labels, cl.n_labels)
        self.stats["agree_rate"][e.name] = cl.agree_rate

    # -- 4. given rows --------------------------------------------------------------------------------
    def _give_rows(self, fixed: Collection[str]) -> None:
        """A root among the tables whose rows are given keeps its real augmented rows instead of a model."""
        for key in fixed:
            if key in self.tables and not parent_edges(self.edges, key):
                self.tables[key].fixed_rows = np.ascontiguousarray(self.w.aug[key], dtype=np.float32)
                # its rows are shipped, so are their children counts (how many tracks are MPEG audio): a
                # few clusters over five rows could not tell them apart
                for ei in child_edges(self.edges, key):
                    self.edges[ei].fixed_sizes = group_sizes(self.w.pos[ei], self.tables[key].n_rows).tolist()

    # -- 5. training ----------------------------------------------------------------------------------
    def _train(self) -> None:
        # networks are built in this order from torch's seeded global generator: keep it
        diffusion = Diffusion(self.s.timesteps, self.s.schedule).to(self.device)
        for ti, key in enumerate(self.schema.tables):
            tm = self.tables[key]
            if tm.n_rows and self.w.aug[key].shape[1] and tm.fixed_rows is None:
                self._train_denoiser(ti, key, diffusion)
        if self.s.eta > 0:
            for ei in range(len(self.edges)):
                self._train_classifier(ei, diffusion)
        if self.s.label_head:
            for ei in range(len(self.edges)):
                if has_head(self.s, self.tables, self.edges[ei]):
                    self._train_head(ei)

    def _train_denoiser(self, ti: int, key: str, diffusion: Diffusion) -> None:
        s, tm, aug = self.s, self.tables[key], self.w.aug[key]
        t0 = time.perf_counter()
        # label columns drawn by label heads are not the diffusion's job
        headed = [self.edges[ei].label_dim for ei in tm.label_edges if has_head(s, self.tables, self.edges[ei])]
        tm.space = DiffusionSpace.build(aug.shape[1], self.w.bounds[key], s.onehot_max, headed)
        x = tm.space.to_space(aug)
        tm.space.fit_marginals(x, self.s.rare_k)
        xt = torch.from_numpy(x).to(self.device)
        if s.conditional and self.method == "clava":
            tm.cond_edges = [ei for ei in parent_edges(self.edges, key) if self.edges[ei].codec is not None]
        cond = self._cond_matrix(tm) if tm.cond_edges else None
        if s.parent_context and self.method == "clava":
            tm.ctx_edges = [ei for ei in parent_edges(self.edges, key)
                            if self.tables[self.edges[ei].parent].enc_dim > 0]
        ctx = self._context_matrix(tm) if tm.ctx_edges else None
        denoiser, loss = train_denoiser(
            xt, diffusion, s.layers, s.dim_t, s.dropout, s.steps_for(len(x)), s.batch_size, s.lr,
            s.weight_decay, self._gen(1, ti), lambda f: self.prog("train", key, f), cond,
            [self.edges[ei].n_labels for ei in tm.cond_edges], s.p_uncond,
            ctx, context_blocks(tm, self.tables, self.edges) if ctx is not None else None)
        tm.denoiser = Net.of(denoiser)
        tm.lo, tm.hi = x.min(axis=0), x.max(axis=0)
        self.stats["loss"][key] = loss
        self._tick(key, "train", t0)

    def _train_classifier(self, ei: int, diffusion: Diffusion) -> None:
        """p(c | x_t) on the child's rows that have a parent, for classifier guidance (Alg. 2)."""
        s, e, pos = self.s, self.edges[ei], self.w.pos[ei]
        space = self.tables[e.child].space
        valid = pos >= 0
        if e.deferred or e.codec is None or e.n_labels < 2 or space is None or not valid.any():
            return
        t0 = time.perf_counter()
        x = torch.from_numpy(space.to_space(self.w.aug[e.child][valid])).to(self.device)
        y = torch.from_numpy(self.w.labels[ei][pos[valid]]).to(self.device)
        classifier, loss = train_classifier(
            x, y, e.n_labels, diffusion, s.classifier_layers, s.dim_t, s.steps_for(len(x), classifier=True),
            s.classifier_batch_size, s.classifier_lr, self._gen(2, ei),
            lambda f: self.prog("classifier", e.child, f))
        e.classifier = Net.of(classifier)
        self.stats["loss"][e.name] = loss
        self._tick(e.child, "classifier", t0)

    def _train_head(self, ei: int) -> None:
        """p(c | parent row): a classifier on the parent's encoded columns (and the labels conditioning the
        parent). Sampling draws the parent's label columns from it, a sharper p(c | y) than a small diffusion
        learns for a categorical column in a CPU budget."""
        s, e = self.s, self.edges[ei]
        tm = self.tables[e.parent]
        t0 = time.perf_counter()
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        x = torch.from_numpy(np.ascontiguousarray(self.w.enc[e.parent], dtype=np.float32)).to(self.device)
        y = torch.from_numpy(self.w.labels[ei]).to(self.device)
        cond = self._cond_matrix(tm) if tm.cond_edges else None
        head = TimeMLP(tm.enc_dim, e.n_labels, s.classifier_layers, s.dim_t,
                       n_cond=[self.edges[j].n_labels for j in tm.cond_edges] or None).to(self.device)

        def loss_fn(idx: torch.Tensor) -> torch.Tensor:
            c = cond[idx] if cond is not None else None
            return torch.nn.functional.cross_entropy(head(x[idx], zero, c), y[idx])

        loss = train_loop(head, loss_fn, len(x), s.steps_for(len(x), classifier=True), s.classifier_batch_size,
                          s.classifier_lr, 0.0, self._gen(3, ei), self.device,
                          lambda f: self.prog("label_head", e.parent, f))
        e.head = Net.of(head)
        self.stats["loss"][f"{e.name}:head"] = loss
        self._tick(e.parent, "label_head", t0)

    def _context_matrix(self, tm: TableModel) -> torch.Tensor:
        """Per row of tm, the real encoded row of its parent on each context edge (zero without a parent)."""
        blocks = [parent_context(tm, self.tables, self.edges, ei, self.w.enc[self.edges[ei].parent],
                                 self.w.pos[ei]) for ei in tm.ctx_edges]
        return torch.from_numpy(np.sum(blocks, axis=0, dtype=np.float32)).to(self.device)

    def _cond_matrix(self, tm: TableModel) -> torch.Tensor:
        """Per row of tm, the label of its parent row for each conditioning edge ("no label" without parent)."""
        cols = []
        for ei in tm.cond_edges:
            p = self.w.pos[ei]
            lab = np.full(len(p), self.edges[ei].n_labels, np.int64)
            lab[p >= 0] = self.w.labels[ei][p[p >= 0]]
            cols.append(lab)
        return torch.from_numpy(np.stack(cols, axis=1)).to(self.device)


def has_head(s: Settings, tables: Mapping[str, TableModel], e: EdgeModel) -> bool:
    """Whether the parent's label column of edge `e` is drawn by a label head (not by its diffusion)."""
    tm = tables[e.parent]
    return (s.label_head and e.codec is not None and e.n_labels >= 2 and tm.enc_dim > 0 and tm.n_rows > 0
            and tm.fixed_rows is None)


def default_columns(schema: Schema, key: str) -> list[str]:
    """The columns modeled when the caller names none: all supported ones except keys and computed ones."""
    table = schema.tables[key]
    skip = set(table.primary_key) | table.fk_columns()
    return [c.name for c in table.columns if c.name not in skip and supported(c) and not c.generated]


def check_columns(schema: Schema, key: str, df: pd.DataFrame, cols: list[str]) -> None:
    table = schema.tables[key]
    for c in cols:
        if c not in table.column_names:
            raise ClavaError(f"modeled column {key}.{c} is not in the schema")
        if c not in df.columns:
            raise ClavaError(f"the rows of {key} lack column {c}")
        if not supported(table.column(c)):
            raise ClavaError(f"column {key}.{c} of type {table.column(c).type} cannot be modeled",
                             "leave it out of the modeled columns; it is generated separately")


def categorical_bounds(encoder: TableEncoder | None) -> dict[int, np.ndarray]:
    """Category boundaries (in the encoded N(0,1) space) of the encoder's categorical value dims, and 0 for
    each NULL-indicator dim."""
    from scipy.special import ndtri

    out: dict[int, np.ndarray] = {}
    if encoder is None:
        return out
    at = 0
    for c in encoder.codecs:
        if c.codec == "categorical" and c.probs is not None:
            out[at] = ndtri(np.clip(np.cumsum(c.probs)[:-1], 1e-12, 1 - 1e-12))
        if c.has_null:
            out[at + c.value_dims] = np.zeros(1)
        at += c.dims
    return out
