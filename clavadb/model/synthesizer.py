"""The ClavaDDPM engine: fit on real tables, sample a synthetic database of row positions, save and load.

fit:    encode -> FK positions (DuckDB) -> relation-aware clustering bottom-up (Alg. 1) -> per table a
        diffusion model on (encoded columns; labels of its child edges), per edge a classifier p(c | x_t)
        and p(s | c) (Alg. 2). Deferred edges (self-references, one edge per cycle) get only a null share
        and a size distribution.
        Four CPU-budget refinements, on in "fast"/"test", off in "paper" (settings in presets.py):
        one-hot blocks for small categoricals in the diffusion space (space.py); generated rows calibrated
        onto the training marginals (space.py); child denoisers that also take their parent edges' labels
        as input (classifier guidance still applies on top); label heads p(c | parent row) that draw a
        parent's labels after its row (the same joint p(y) p(c | y)).
        On MovieLens each measurably improves fidelity at equal time (bench/model_bench.py).
sample: top-down (Alg. 3): roots unconditioned, children by group sizes and classifier-guided diffusion,
        one version per parent then matching for multi-parent children, FK-only unique keys repaired,
        deferred FKs assigned last. Output positions, not key values: the pipeline makes the keys.
method "independent" is the paper's Single-T baseline: the same backbone per table, no clustering or
guidance, FKs from real group sizes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import torch

from clavadb.encoding import TableEncoder, supported
from clavadb.errors import ClavaError, ConfigError, ConstraintUnsatisfiable
from clavadb.model.classifier import guidance, train_classifier
from clavadb.model.clustering import LabelCodec, cluster_edge, cluster_features
from clavadb.model.diffusion import Diffusion, TimeMLP, sample, train_denoiser, train_loop
from clavadb.model.groups import SizeDist, assign_by_sizes, assign_forest, group_sizes
from clavadb.model.matching import match_unique, repair_unique
from clavadb.model.presets import Settings, resolve
from clavadb.model.relations import fk_positions
from clavadb.model.space import DiffusionSpace, shifted_argmax
from clavadb.schema import FKGraph, ForeignKey, Schema

Progress = Callable[[str, str, float], None]
FORMAT = "clavadb-model/1"
METHODS = ("clava", "independent")


def fk_col(fk: ForeignKey) -> str:
    return f"__fk__{fk.name}"


@dataclass
class EdgeModel:
    """What is learned for one FK (parent -> child)."""

    parent: str
    child: str
    fk: str
    deferred: bool
    nullable: bool
    null_share: float = 0.0
    sizes: SizeDist | None = None
    n_labels: int = 1
    codec: LabelCodec | None = None  # label column on the parent (clava, non-deferred edges)
    label_dim: int | None = None  # index of that column in the parent's augmented space
    classifier: TimeMLP | None = None
    head: TimeMLP | None = None  # label head p(c | parent row) on the parent (settings.label_head)
    agree_rate: float | None = None
    label_shares: list[float] | None = None  # share of each label among the real parent rows
    fixed_sizes: list[int] | None = None  # children of each real row, when the parent is copied as is

    @property
    def name(self) -> str:
        return f"{self.parent}->{self.child}.{self.fk}"

    def meta(self) -> dict[str, Any]:
        return {
            "parent": self.parent, "child": self.child, "fk": self.fk, "deferred": self.deferred,
            "nullable": self.nullable, "null_share": self.null_share,
            "sizes": self.sizes.state() if self.sizes else None, "n_labels": self.n_labels,
            "codec": self.codec.state() if self.codec else None, "label_dim": self.label_dim,
            "classifier": self.classifier is not None, "head": self.head is not None,
            "agree_rate": self.agree_rate, "label_shares": self.label_shares, "fixed_sizes": self.fixed_sizes,
        }


@dataclass
class TableModel:
    key: str
    columns: list[str]  # modeled columns, in order
    n_rows: int
    encoder: TableEncoder | None = None
    enc_dim: int = 0
    label_edges: list[int] = field(default_factory=list)  # edge indices whose label columns follow the encoding
    cond_edges: list[int] = field(default_factory=list)  # parent edges whose labels condition the denoiser
    space: DiffusionSpace | None = None  # unified row <-> diffusion space (one-hot blocks)
    denoiser: TimeMLP | None = None
    lo: torch.Tensor | None = None
    hi: torch.Tensor | None = None
    # a root table copied as is (a kept lookup table): its real augmented rows, label columns included, stand
    # for its synthetic rows, so each real row keeps the cluster (and so the group sizes) it has
    fixed_rows: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.enc_dim + len(self.label_edges)


class Synthesizer:
    def __init__(self, schema: Schema, preset: str = "fast", method: str = "clava", device: str | None = None,
                 **overrides: Any):
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}", f"choose one of {', '.join(METHODS)}")
        self.schema = schema
        self.preset = preset
        self.method = method
        self.overrides = dict(overrides)
        self.settings: Settings = resolve(preset, overrides)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.graph = FKGraph(schema)
        self.tables: dict[str, TableModel] = {}
        self.edges: list[EdgeModel] = []
        self.extra: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}
        self.fitted = False

    @contextmanager
    def _threads(self, sampling: bool) -> Iterator[None]:
        """torch CPU threads for a fit (half the cores) or a sampling run (all of them, at most 8); the
        caller's count is restored after. Training steps are batches of ~1,000 rows, too small to split;
        sampling pushes batches of thousands of rows through each step and runs 2x faster on 2 cores."""
        if self.device.type != "cpu":
            yield
            return
        before = torch.get_num_threads()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, self.settings.threads or min(cores if sampling else cores // 2, 8)))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # ------------------------------------------------------------------------------------------------- fit
    def fit(self, tables: Mapping[str, pd.DataFrame], modeled: Mapping[str, list[str]] | None = None,
            progress: Progress | None = None, fixed: Collection[str] = ()) -> Synthesizer:
        """fixed: tables whose rows are copied as is (kept lookup tables); a root among them is not generated
        but sampled as its real rows, with the clusters they have."""
        # Weight initialisation and dropout draw from torch's global generator: seed it, and leave the
        # caller's generator as it was, so the same data and seed give the same model.
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self._threads(sampling=False):
            torch.manual_seed(self.settings.seed)
            return self._fit(tables, modeled, progress, set(fixed))

    def _fit(self, tables: Mapping[str, pd.DataFrame], modeled: Mapping[str, list[str]] | None,
             progress: Progress | None, fixed: set[str]) -> Synthesizer:
        s = self.settings
        prog = progress or (lambda stage, table, frac: None)
        missing = [k for k in self.schema.tables if k not in tables]
        if missing:
            raise ClavaError(f"no rows given for table(s) {', '.join(missing)}",
                             "pass a DataFrame for every table of the schema")
        self.tables, self.edges, self.fitted = {}, [], False
        timing: dict[str, dict[str, float]] = {k: {} for k in self.schema.tables}
        self.stats = {"fit_seconds": timing, "agree_rate": {}, "loss": {}, "fit_threads": torch.get_num_threads()}
        t_all = time.perf_counter()
        order = list(self.schema.tables)

        # 1. encoders and encoded matrices
        enc: dict[str, np.ndarray] = {}
        for ti, key in enumerate(order):
            t0 = time.perf_counter()
            table = self.schema.tables[key]
            df = tables[key]
            cols = list(modeled[key]) if modeled and key in modeled else self._default_columns(key)
            for c in cols:
                if c not in table.column_names:
                    raise ClavaError(f"modeled column {key}.{c} is not in the schema")
                if c not in df.columns:
                    raise ClavaError(f"the rows of {key} lack column {c}")
                if not supported(table.column(c)):
                    col = table.column(c)
                    raise ClavaError(f"column {key}.{c} of type {col.type} cannot be modeled",
                                     "leave it out of the modeled columns; it is generated separately")
            tm = TableModel(key, cols, len(df))
            if cols and len(df):
                tm.encoder = TableEncoder([table.column(c) for c in cols], max_categories=s.max_categories,
                                          seed=ti).fit(df[cols])
                enc[key] = tm.encoder.transform(df[cols])
                tm.enc_dim = tm.encoder.dim
            else:
                enc[key] = np.zeros((len(df), 0), np.float32)
            self.tables[key] = tm
            timing[key]["encode"] = time.perf_counter() - t0
            prog("encode", key, 1.0)

        # 2. FK positions, null shares, group sizes (every FK, deferred ones too)
        pos: dict[int, np.ndarray] = {}
        con = duckdb.connect()
        try:
            for child, fk in self.schema.foreign_keys():
                if fk.ref_table not in self.schema.tables:
                    continue
                t0 = time.perf_counter()
                ctab = self.schema.tables[child]
                e = EdgeModel(fk.ref_table, child, fk.name, self.graph.is_deferred(child, fk.name),
                              any(ctab.column(c).nullable for c in fk.columns))
                p = fk_positions(tables[child], tables[fk.ref_table], fk, con)
                pos[len(self.edges)] = p
                e.null_share = float((p < 0).mean()) if len(p) and e.nullable else 0.0
                self.edges.append(e)
                timing[child]["fk_positions"] = timing[child].get("fk_positions", 0.0) + time.perf_counter() - t0
        finally:
            con.close()

        # 3. relation-aware clustering, bottom-up (clava); label columns appended to the parent
        aug = dict(enc)
        labels: dict[int, np.ndarray] = {}
        cat_bounds = {k: self._categorical_bounds(self.tables[k]) for k in order}
        for key in self.graph.bottom_up():
            for ei in self._child_edges(key):
                e = self.edges[ei]
                t0 = time.perf_counter()
                p = pos[ei]
                n_parent = self.tables[key].n_rows
                sizes = group_sizes(p, n_parent)
                if self.method == "clava":
                    valid = p >= 0
                    ch = cluster_features(aug[e.child][valid], cat_bounds[e.child])
                    pa = cluster_features(enc[key], cat_bounds[key])  # the parent as is (Alg. 1: T_i with R_j)
                    k = s.k_for(int((sizes > 0).sum()))
                    cl = cluster_edge(ch, pa, p[valid], n_parent, k, s.lam, s.gmm_iters, s.gmm_max_rows,
                                      seed=ei)
                    labels[ei] = cl.parent_labels
                    e.n_labels, e.agree_rate = cl.n_labels, cl.agree_rate
                    e.label_shares = (np.bincount(cl.parent_labels, minlength=cl.n_labels)
                                      / max(len(cl.parent_labels), 1)).tolist()
                    e.codec = LabelCodec.fit(cl.parent_labels, cl.n_labels)
                    e.label_dim = aug[key].shape[1]
                    aug[key] = np.concatenate([aug[key], e.codec.encode(cl.parent_labels)[:, None]], axis=1)
                    cat_bounds[key][e.label_dim] = e.codec.bounds
                    self.tables[key].label_edges.append(ei)
                    e.sizes = SizeDist.fit(sizes, cl.parent_labels, cl.n_labels)
                    self.stats["agree_rate"][e.name] = cl.agree_rate
                else:
                    e.sizes = SizeDist.fit(sizes)
                timing[key]["cluster"] = timing[key].get("cluster", 0.0) + time.perf_counter() - t0
                prog("cluster", key, 1.0)
        for ei, e in enumerate(self.edges):
            if e.deferred:
                e.sizes = SizeDist.fit(group_sizes(pos[ei], self.tables[e.parent].n_rows))

        for key in fixed:
            if key in self.tables and not self._parent_edges(key):
                self.tables[key].fixed_rows = np.ascontiguousarray(aug[key], dtype=np.float32)
                # its rows are shipped, so are their children counts (how many tracks are MPEG audio): a
                # few clusters over five rows could not tell them apart
                for ei in self._child_edges(key):
                    self.edges[ei].fixed_sizes = group_sizes(pos[ei], self.tables[key].n_rows).tolist()

        # 4. diffusion per table, classifier per clustered edge
        diffusion = Diffusion(s.timesteps, s.schedule).to(self.device)
        for ti, key in enumerate(order):
            tm = self.tables[key]
            if tm.n_rows == 0 or aug[key].shape[1] == 0 or tm.fixed_rows is not None:
                continue
            t0 = time.perf_counter()
            # label columns drawn by label heads are not the diffusion's job
            headed = [self.edges[ei].label_dim for ei in tm.label_edges if self._has_head(ei)]
            tm.space = DiffusionSpace.build(aug[key].shape[1], cat_bounds[key], s.onehot_max, headed)
            x = tm.space.to_space(aug[key])
            tm.space.fit_marginals(x)
            xt = torch.from_numpy(x).to(self.device)
            gen = self._gen(1, ti)
            cond = None
            if s.conditional and self.method == "clava":
                tm.cond_edges = [ei for ei in self._parent_edges(key) if self.edges[ei].codec is not None]
            if tm.cond_edges:
                cond = self._cond_matrix(tm, pos, labels)
            tm.denoiser, loss = train_denoiser(
                xt, diffusion, s.layers, s.dim_t, s.dropout, s.steps_for(len(x)), s.batch_size, s.lr,
                s.weight_decay, gen, lambda f, key=key: prog("train", key, f), cond,
                [self.edges[ei].n_labels for ei in tm.cond_edges], s.p_uncond)
            tm.lo, tm.hi = xt.min(dim=0).values, xt.max(dim=0).values
            self.stats["loss"][key] = loss
            timing[key]["train"] = time.perf_counter() - t0
        for ei, e in enumerate(self.edges):
            if (e.deferred or e.codec is None or e.n_labels < 2 or self.tables[e.child].space is None
                    or s.eta <= 0):
                continue
            valid = pos[ei] >= 0
            if not valid.any():
                continue
            t0 = time.perf_counter()
            x = torch.from_numpy(self.tables[e.child].space.to_space(aug[e.child][valid])).to(self.device)
            y = torch.from_numpy(labels[ei][pos[ei][valid]]).to(self.device)
            e.classifier, loss = train_classifier(
                x, y, e.n_labels, diffusion, s.classifier_layers, s.dim_t, s.steps_for(len(x), classifier=True),
                s.classifier_batch_size, s.classifier_lr, self._gen(2, ei),
                lambda f, key=e.child: prog("classifier", key, f))
            self.stats["loss"][e.name] = loss
            timing[e.child]["classifier"] = timing[e.child].get("classifier", 0.0) + time.perf_counter() - t0
        if s.label_head:
            self._fit_heads(enc, pos, labels, prog)
        self.stats["fit_total_seconds"] = time.perf_counter() - t_all
        self.fitted = True
        return self

    def _has_head(self, ei: int) -> bool:
        e = self.edges[ei]
        tm = self.tables[e.parent]
        return (self.settings.label_head and e.codec is not None and e.n_labels >= 2 and tm.enc_dim > 0
                and tm.n_rows > 0 and tm.fixed_rows is None)

    def _cond_matrix(self, tm: TableModel, pos: dict[int, np.ndarray], labels: dict[int, np.ndarray]
                     ) -> torch.Tensor:
        """Per row of tm, the label of its parent row for each conditioning edge ("no label" without parent)."""
        cols = []
        for ei in tm.cond_edges:
            p = pos[ei]
            lab = np.full(len(p), self.edges[ei].n_labels, np.int64)
            lab[p >= 0] = labels[ei][p[p >= 0]]
            cols.append(lab)
        return torch.from_numpy(np.stack(cols, axis=1)).to(self.device)

    def _fit_heads(self, enc: dict[str, np.ndarray], pos: dict[int, np.ndarray], labels: dict[int, np.ndarray],
                   prog: Progress) -> None:
        """Per clustered edge, p(c | parent row): a classifier on the parent's encoded columns (and the labels
        conditioning the parent). Sampling draws the parent's label columns from it, a sharper p(c | y) than
        a small diffusion learns for a categorical column in a CPU budget."""
        s = self.settings
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        for ei, e in enumerate(self.edges):
            tm = self.tables[e.parent]
            if not self._has_head(ei):
                continue
            t0 = time.perf_counter()
            x = torch.from_numpy(np.ascontiguousarray(enc[e.parent], dtype=np.float32)).to(self.device)
            y = torch.from_numpy(labels[ei]).to(self.device)
            cond = self._cond_matrix(tm, pos, labels) if tm.cond_edges else None
            e.head = TimeMLP(tm.enc_dim, e.n_labels, s.classifier_layers, s.dim_t,
                             n_cond=[self.edges[j].n_labels for j in tm.cond_edges] or None).to(self.device)
            gen = self._gen(3, ei)

            def loss_fn(idx: torch.Tensor, head=e.head, x=x, y=y, cond=cond) -> torch.Tensor:
                c = cond[idx] if cond is not None else None
                return torch.nn.functional.cross_entropy(head(x[idx], zero, c), y[idx])

            loss = train_loop(e.head, loss_fn, len(x), s.steps_for(len(x), classifier=True),
                              s.classifier_batch_size, s.classifier_lr, 0.0, gen, self.device,
                              lambda f, key=e.parent: prog("label_head", key, f))
            self.stats["loss"][f"{e.name}:head"] = loss
            timing = self.stats["fit_seconds"][e.parent]
            timing["label_head"] = timing.get("label_head", 0.0) + time.perf_counter() - t0

    def _default_columns(self, key: str) -> list[str]:
        table = self.schema.tables[key]
        skip = set(table.primary_key) | table.fk_columns()
        return [c.name for c in table.columns if c.name not in skip and supported(c) and not c.generated]

    @staticmethod
    def _categorical_bounds(tm: TableModel) -> dict[int, np.ndarray]:
        """Category boundaries (in the encoded N(0,1) space) of the encoder's categorical value dims."""
        from scipy.special import ndtri

        out: dict[int, np.ndarray] = {}
        if tm.encoder is None:
            return out
        at = 0
        for c in tm.encoder.codecs:
            if c.codec == "categorical" and c.probs is not None:
                out[at] = ndtri(np.clip(np.cumsum(c.probs)[:-1], 1e-12, 1 - 1e-12))
            if c.has_null:
                out[at + c.value_dims] = np.zeros(1)
            at += c.dims
        return out

    def _child_edges(self, key: str) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e.parent == key and not e.deferred]

    def _parent_edges(self, key: str) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e.child == key and not e.deferred]

    def _seed(self, *parts: int) -> int:
        return int(np.random.SeedSequence([self._sample_seed, *parts]).generate_state(1)[0])

    def _gen(self, *parts: int) -> torch.Generator:
        """Training generator: fixed by the settings' seed, so a refit gives the same model."""
        g = torch.Generator(device=self.device)
        g.manual_seed(int(np.random.SeedSequence([self.settings.seed, *parts]).generate_state(1)[0]))
        return g

    # ---------------------------------------------------------------------------------------------- sample
    def sample(self, scale: float = 1.0, seed: int = 0) -> dict[str, pd.DataFrame]:
        if not self.fitted:
            raise ClavaError("the model is not fitted", "call fit() or load a model file")
        if not 0.01 <= scale <= 10:
            raise ConfigError(f"scale {scale} is out of range", "use a scale between 0.01 and 10")
        with self._threads(sampling=True):
            return self._sample(scale, seed)

    def _sample(self, scale: float, seed: int) -> dict[str, pd.DataFrame]:
        self._sample_seed = int(seed)
        t0 = time.perf_counter()
        order = list(self.schema.tables)
        rows: dict[str, np.ndarray] = {}  # augmented synthetic rows per table
        fks: dict[str, dict[str, np.ndarray]] = {k: {} for k in order}
        per_table: dict[str, dict[str, float]] = {}  # seconds per table: draw (versions, matching), decode
        for key in self.graph.top_down():
            t1 = time.perf_counter()
            ti = order.index(key)
            parents = self._parent_edges(key)
            tm = self.tables[key]
            if tm.fixed_rows is not None:
                rows[key] = tm.fixed_rows  # copied as is, at any scale
            elif not parents:
                n = round(scale * tm.n_rows)
                rows[key] = self._draw(tm, n, ti, 0)
            else:
                # Single-T generates under the first parent only; the other FKs come from group sizes
                gen_edges = parents if self.method == "clava" else parents[:1]
                versions = [self._version(ei, v, ti, rows, scale) for v, ei in enumerate(gen_edges)]
                x, pos = self._reconcile(key, parents, versions, ti, rows)
                rows[key] = x
                fks[key].update(pos)
            per_table[key] = {"draw": time.perf_counter() - t1}
        rng = np.random.default_rng(self._seed(99))
        for e in self.edges:
            if e.deferred:
                fks[e.child][e.fk] = self._assign_deferred(e, len(rows[e.child]), len(rows[e.parent]), rng)
        out = {}
        n_total = 0
        for key in order:
            t1 = time.perf_counter()
            out[key] = self._decode(key, rows[key], fks[key])
            per_table[key]["decode"] = time.perf_counter() - t1
            n_total += len(out[key])
        secs = time.perf_counter() - t0
        self.stats["sample_table_seconds"] = per_table
        self.stats["sample_threads"] = torch.get_num_threads()
        self.stats["sample_seconds"] = secs
        self.stats["sample_rows"] = n_total
        self.stats["sample_rows_per_s"] = n_total / secs if secs > 0 else float("inf")
        return out

    def _draw(self, tm: TableModel, n: int, ti: int, version: int, labels: np.ndarray | None = None,
              ei: int | None = None) -> np.ndarray:
        """n augmented rows of a table; conditioned / guided towards the parent labels of edge `ei` when given."""
        if n == 0 or tm.dim == 0 or tm.denoiser is None:
            return np.zeros((n, tm.dim), np.float32)
        s = self.settings
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self._seed(ti, version))
        guide = None
        edge = self.edges[ei] if ei is not None and labels is not None else None
        if edge is not None and edge.classifier is not None and s.eta > 0:
            guide = guidance(edge.classifier, torch.from_numpy(labels).to(self.device), s.eta)
        cond = None
        if edge is not None and ei in tm.cond_edges:
            c = np.tile(np.asarray([self.edges[j].n_labels for j in tm.cond_edges], np.int64), (n, 1))
            c[:, tm.cond_edges.index(ei)] = labels
            cond = torch.from_numpy(c).to(self.device)
        diffusion = Diffusion(s.timesteps, s.schedule).to(self.device)
        calibrate = s.calibrate and tm.space.grid is not None
        y = sample(tm.denoiser, diffusion, n, tm.space.dim, s.sample_steps, gen, self.device, tm.lo, tm.hi,
                   s.ddim_eta, guide, s.sample_batch, cond, clip_last=not calibrate)
        y = y.cpu().numpy()
        x = tm.space.from_space(tm.space.calibrate(y) if calibrate else y)
        heads = [j for j in tm.label_edges if self.edges[j].head is not None]
        if heads:  # labels of the child edges drawn from p(c | row) (label heads)
            with torch.no_grad():
                t0 = torch.zeros(1, dtype=torch.long, device=self.device)
                feats = torch.from_numpy(np.ascontiguousarray(x[:, :tm.enc_dim])).to(self.device)
                for j in heads:
                    e = self.edges[j]
                    logits = e.head(feats, t0, cond)
                    if calibrate and e.label_shares is not None:
                        # Gumbel-max draws from p(c | row), shifted so the labels keep their real shares
                        g = -torch.log(-torch.log(torch.rand(logits.shape, generator=gen, device=self.device)
                                                  .clamp(1e-12, 1 - 1e-12)))
                        scores = (torch.log_softmax(logits, dim=1) + g).cpu().numpy()
                        lab = shifted_argmax(scores, np.asarray(e.label_shares))
                    else:
                        p = torch.softmax(logits, dim=1)
                        lab = torch.multinomial(p, 1, generator=gen)[:, 0].cpu().numpy()
                    x[:, e.label_dim] = e.codec.encode(lab)
        return x

    def _version(self, ei: int, v: int, ti: int, rows: dict[str, np.ndarray], scale: float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The child rows generated under one parent edge: (augmented rows, parent positions, -1 = NULL)."""
        e = self.edges[ei]
        tm = self.tables[e.child]
        rng = np.random.default_rng(self._seed(ti, v, 1))
        prow = rows[e.parent]
        n_parent = len(prow)
        if e.codec is not None and e.label_dim is not None:
            plabels = e.codec.decode(prow[:, e.label_dim])
        else:
            plabels = np.zeros(n_parent, np.int64)
        sizes = e.sizes.sample(plabels, rng) if n_parent else np.zeros(0, np.int64)
        if e.fixed_sizes is not None and len(e.fixed_sizes) == n_parent:
            sizes = np.asarray(e.fixed_sizes, np.int64)
        if self.tables[e.parent].fixed_rows is not None and scale != 1.0:
            # a parent copied as is does not scale: its children do, each real row keeping its share
            sizes = np.floor(sizes * scale + rng.random(len(sizes))).astype(np.int64)
        if n_parent and tm.n_rows and sizes.sum() == 0 and (e.null_share < 1.0 or not e.nullable):
            # a small scale can leave every parent childless; a table the source fills stays non-empty
            drawn = np.concatenate(e.sizes.sizes)
            sizes[rng.integers(n_parent)] = max(1, int(round(scale * rng.choice(drawn[drawn > 0])))
                                                if (drawn > 0).any() else 1)
        pos = np.repeat(np.arange(n_parent), sizes)
        clabels = np.repeat(plabels, sizes)
        q = e.null_share if e.nullable else 0.0
        if q >= 1.0:
            n_null = round(scale * tm.n_rows)
        else:
            n_null = int(round(len(pos) * q / (1 - q))) if q > 0 else 0
        if n_parent == 0 and not e.nullable and tm.n_rows:
            raise ConstraintUnsatisfiable(
                f"{e.child}.{e.fk} is NOT NULL but the synthetic {e.parent} has no rows",
                "use a larger scale, give the parent table rows, or make the foreign key nullable")
        guided = self._draw(tm, len(pos), ti, 2 * v + 1, clabels, ei if self.method == "clava" else None)
        free = self._draw(tm, n_null, ti, 2 * v + 2)
        return np.concatenate([guided, free]), np.concatenate([pos, np.full(n_null, -1, np.int64)])

    def _reconcile(self, key: str, parents: list[int], versions: list[tuple[np.ndarray, np.ndarray]],
                   ti: int, rows: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One table from its versions. The largest version is the base (its rows are the output), cut to
        the versions' mean size weighted by their parents' row counts; each other version's rows are matched to
        base rows without reuse; when a version is short, the base rows left over copy the FK of a random
        row of it (an extra member of an existing group, so its group sizes keep their shape). Then FK-only
        unique keys are repaired and the rows shuffled."""
        rng = np.random.default_rng(self._seed(ti, 7))
        d = self.tables[key].enc_dim
        b = int(np.argmax([len(x) for x, _ in versions]))
        # Each version's size is a sum of group sizes drawn per parent row; its noise shrinks with the number
        # of parent rows, so a tiny parent (five media types) must not outvote a large one (350 albums).
        n_par = np.array([max(len(rows[self.edges[ei].parent]), 1) for ei in parents[:len(versions)]], float)
        n = int(round(np.average([len(x) for x, _ in versions], weights=n_par)))
        base_x, base_pos = versions[b]
        keep = np.sort(rng.permutation(len(base_x))[:n])
        base_x, base_pos = base_x[keep], base_pos[keep]
        out_pos = {self.edges[parents[b]].fk: base_pos}
        for v, (x, p) in enumerate(versions):
            if v == b:
                continue
            m = min(len(x), n)
            sub = np.sort(rng.permutation(len(x))[:m])
            rows_b = np.sort(rng.permutation(n)[:m])  # base rows that get a partner
            pos_v = np.full(n, -1, np.int64)
            pos_v[rows_b] = p[sub][match_unique(base_x[rows_b][:, :d], x[sub][:, :d], rng)]
            rest = np.setdiff1d(np.arange(n), rows_b)
            if len(rest) and len(p):
                pos_v[rest] = p[rng.integers(0, len(p), len(rest))]
            elif len(rest):  # that version drew no rows at all: fall back to group sizes alone
                e = self.edges[parents[v]]
                pos_v[rest] = self._assign_random(e, len(rest), len(rows[e.parent]), rng)
            out_pos[self.edges[parents[v]].fk] = pos_v
        for ei in parents[len(versions):]:  # Single-T: the other FKs from real group sizes, at random
            e = self.edges[ei]
            out_pos[e.fk] = self._assign_random(e, n, len(rows[e.parent]), rng)
        x = base_x
        # FK-only unique keys (PK or UNIQUE made of FK columns) must stay unique
        table = self.schema.tables[key]
        for cols in self._fk_only_keys(key):
            fks = [fk for fk in table.foreign_keys if set(fk.columns) <= cols and fk.name in out_pos]
            if not fks:
                continue
            mat = np.stack([out_pos[fk.name] for fk in fks], axis=1)
            fixed, ok = repair_unique(mat, [len(rows[fk.ref_table]) for fk in fks], rng)
            for j, fk in enumerate(fks):
                out_pos[fk.name] = fixed[:, j]
            x = x[ok]
            out_pos = {k: v[ok] for k, v in out_pos.items()}
        perm = rng.permutation(len(x))
        return x[perm], {k: v[perm] for k, v in out_pos.items()}

    def _fk_only_keys(self, key: str) -> list[set[str]]:
        table = self.schema.tables[key]
        fkcols = table.fk_columns()
        keys = [table.primary_key] + [u.columns for u in table.uniques if u.predicate is None]
        return [set(k) for k in keys if k and set(k) <= fkcols]

    def _assign_random(self, e: EdgeModel, n: int, n_parent: int, rng: np.random.Generator) -> np.ndarray:
        q = e.null_share if e.nullable else 0.0
        has = rng.random(n) >= q
        out = np.full(n, -1, np.int64)
        out[has] = assign_by_sizes(int(has.sum()), n_parent, e.sizes, rng)
        return out

    def _assign_deferred(self, e: EdgeModel, n: int, n_parent: int, rng: np.random.Generator) -> np.ndarray:
        if n and n_parent == 0 and not e.nullable:
            raise ConstraintUnsatisfiable(
                f"{e.child}.{e.fk} is NOT NULL but the synthetic {e.parent} has no rows",
                "give the parent table rows or make the foreign key nullable")
        if e.parent == e.child:
            return assign_forest(n, e.sizes, e.null_share, e.nullable, rng)
        return self._assign_random(e, n, n_parent, rng)

    def _decode(self, key: str, x: np.ndarray, fks: dict[str, np.ndarray]) -> pd.DataFrame:
        tm = self.tables[key]
        if tm.encoder is not None:
            df = tm.encoder.inverse_transform(x[:, :tm.enc_dim])
        else:
            df = pd.DataFrame(index=pd.RangeIndex(len(x)), columns=tm.columns)
        for fk in self.schema.tables[key].foreign_keys:
            if fk.ref_table not in self.schema.tables:
                continue
            p = fks.get(fk.name, np.full(len(x), -1, np.int64))
            arr = pd.array(p, dtype="Int64")
            arr[p < 0] = pd.NA
            df[fk_col(fk)] = arr
        return df

    # ------------------------------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> None:
        if not self.fitted:
            raise ClavaError("the model is not fitted", "call fit() before save()")
        tensors: dict[str, torch.Tensor] = {}
        tables_meta = {}
        for ti, (key, tm) in enumerate(self.tables.items()):
            m: dict[str, Any] = {"columns": tm.columns, "n_rows": tm.n_rows, "enc_dim": tm.enc_dim,
                                 "label_edges": tm.label_edges, "cond_edges": tm.cond_edges, "encoder": None,
                                 "denoiser": False, "space": tm.space.state() if tm.space else None,
                                 "fixed": tm.fixed_rows is not None}
            if tm.fixed_rows is not None:
                tensors[f"fixed.{ti}"] = torch.from_numpy(tm.fixed_rows)
            if tm.encoder is not None:
                emeta, arrays = tm.encoder.state()
                m["encoder"] = emeta
                m["encoder_arrays"] = sorted(arrays)
                for name, a in arrays.items():
                    tensors[f"enc.{ti}.{name}"] = torch.from_numpy(np.ascontiguousarray(a))
            if tm.denoiser is not None:
                m["denoiser"] = True
                for name, t in tm.denoiser.state_dict().items():
                    tensors[f"den.{ti}.{name}"] = t.detach().cpu()
                tensors[f"lo.{ti}"] = tm.lo.cpu()
                tensors[f"hi.{ti}"] = tm.hi.cpu()
            tables_meta[key] = m
        for ei, e in enumerate(self.edges):
            if e.classifier is not None:
                for name, t in e.classifier.state_dict().items():
                    tensors[f"clf.{ei}.{name}"] = t.detach().cpu()
            if e.head is not None:
                for name, t in e.head.state_dict().items():
                    tensors[f"head.{ei}.{name}"] = t.detach().cpu()
        meta = {
            "format": FORMAT, "schema": self.schema.to_json(indent=None), "preset": self.preset,
            "method": self.method, "settings": self.settings.to_dict(), "overrides": self.overrides,
            "tables": tables_meta, "edges": [e.meta() for e in self.edges], "extra": self.extra,
            "stats": self.stats,
        }
        torch.save({"meta": json.dumps(meta, default=_json_default), "tensors": tensors}, str(path))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> Synthesizer:
        try:
            blob = torch.load(str(path), map_location="cpu", weights_only=True)
            meta = json.loads(blob["meta"])
            tensors: dict[str, torch.Tensor] = blob["tensors"]
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ClavaError(f"cannot read model file {path}: {exc}", "train a model with `clavadb train`") from exc
        if meta.get("format") != FORMAT:
            raise ClavaError(f"{path} is not a clavadb model file ({meta.get('format')!r})")
        syn = cls(Schema.from_json(meta["schema"]), meta["preset"], meta["method"], device)
        syn.settings = Settings.from_dict(meta["settings"])
        syn.overrides = meta["overrides"]
        syn.extra = meta["extra"]
        syn.stats = meta["stats"]
        s = syn.settings
        for ei, em in enumerate(meta["edges"]):
            e = EdgeModel(em["parent"], em["child"], em["fk"], em["deferred"], em["nullable"], em["null_share"],
                          SizeDist.from_state(em["sizes"]) if em["sizes"] else None, em["n_labels"],
                          LabelCodec.from_state(em["codec"]) if em["codec"] else None, em["label_dim"],
                          agree_rate=em["agree_rate"], label_shares=em.get("label_shares"),
                          fixed_sizes=em.get("fixed_sizes"))
            if em["classifier"]:
                e.classifier = _load_module(TimeMLP(syn._child_dim(meta, em), e.n_labels, s.classifier_layers,
                                                    s.dim_t), tensors, f"clf.{ei}.", syn.device)
            syn.edges.append(e)
        for ti, (key, m) in enumerate(meta["tables"].items()):
            for ei in m["label_edges"]:
                if meta["edges"][ei].get("head"):
                    n_cond = [syn.edges[j].n_labels for j in m["cond_edges"]] or None
                    syn.edges[ei].head = _load_module(
                        TimeMLP(m["enc_dim"], syn.edges[ei].n_labels, s.classifier_layers, s.dim_t, n_cond=n_cond),
                        tensors, f"head.{ei}.", syn.device)
            tm = TableModel(key, m["columns"], m["n_rows"], enc_dim=m["enc_dim"], label_edges=m["label_edges"],
                            cond_edges=m["cond_edges"])
            if m.get("fixed"):
                tm.fixed_rows = tensors[f"fixed.{ti}"].numpy()
            if m["encoder"] is not None:
                arrays = {name: tensors[f"enc.{ti}.{name}"].numpy() for name in m["encoder_arrays"]}
                tm.encoder = TableEncoder.from_state(m["encoder"], arrays)
            if m["denoiser"]:
                n_cond = [syn.edges[ei].n_labels for ei in tm.cond_edges]
                tm.space = DiffusionSpace.from_state(m["space"])
                d = tm.space.dim
                tm.denoiser = _load_module(TimeMLP(d, d, s.layers, s.dim_t, s.dropout, n_cond), tensors,
                                           f"den.{ti}.", syn.device)
                tm.lo, tm.hi = tensors[f"lo.{ti}"].to(syn.device), tensors[f"hi.{ti}"].to(syn.device)
            syn.tables[key] = tm
        syn.fitted = True
        return syn

    @staticmethod
    def _child_dim(meta: dict, em: dict) -> int:
        return DiffusionSpace.from_state(meta["tables"][em["child"]]["space"]).dim


def _load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str,
                 device: torch.device) -> torch.nn.Module:
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    module.load_state_dict(state)
    return module.to(device).eval()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")
