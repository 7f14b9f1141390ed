"""Sampling (paper Alg. 3), top-down: a synthetic database of row positions.

Roots are drawn unconditioned (or are their given rows). A child gets one version per parent edge: a group
size per synthetic parent row from p(s | c), then that many rows drawn from the child's diffusion, guided
(classifier) and conditioned towards the parent row's cluster label; rows without a parent (a nullable FK)
are drawn unconditioned. A child with several parents is reconciled from its versions (matching.py).
Deferred FKs (self-references, one edge per cycle) are assigned last from their group sizes. The output is
each table's decoded columns plus, per FK, the parent's row position (`fk_column`): the pipeline makes keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from clavadb.errors import ConstraintUnsatisfiable
from clavadb.executor import Executor, LocalExecutor
from clavadb.keys import fk_column
from clavadb.model import infer
from clavadb.model.artifact import EdgeModel, TableModel, parent_context, parent_edges
from clavadb.model.groups import assign_forest
from clavadb.model.matching import Version, assign_random, reconcile
from clavadb.model.net import Net
from clavadb.model.presets import Settings
from clavadb.model.space import shifted_argmax
from clavadb.schema import FKGraph, Schema


class Sampler:
    """One sampling run of a fitted model; `run` returns the frames and fills `stats`."""

    def __init__(self, schema: Schema, settings: Settings, method: str, device: str,
                 tables: Mapping[str, TableModel], edges: list[EdgeModel], seed: int,
                 executor: Executor | None = None, backend: str | None = None,
                 progress: Callable[[str, str, float], None] | None = None):
        """device: "cpu" or a torch device name. backend: "numpy" (default on the CPU: no torch needed) or
        "torch" (default elsewhere). executor: where the NumPy batches run (default: this thread).
        progress: called as ("sample", table, fraction) when a table starts (0.0) and when it is drawn (1.0)."""
        self.schema, self.s, self.method, self.device = schema, settings, method, device
        self.tables, self.edges, self.seed = tables, edges, int(seed)
        self.backend = backend or ("numpy" if device == "cpu" else "torch")
        self.executor = executor or LocalExecutor()
        self.progress = progress or (lambda stage, table, fraction: None)
        self.graph = FKGraph(schema)
        self.ab = infer.alphas_cumprod(settings.timesteps, settings.schedule)
        self.stats: dict[str, object] = {}

    def _seed(self, *parts: int) -> int:
        return int(np.random.SeedSequence([self.seed, *parts]).generate_state(1)[0])

    def run(self, scale: float) -> dict[str, pd.DataFrame]:
        t0 = time.perf_counter()
        order = list(self.schema.tables)
        rows: dict[str, np.ndarray] = {}  # augmented synthetic rows per table
        fks: dict[str, dict[str, np.ndarray]] = {k: {} for k in order}
        per_table: dict[str, dict[str, float]] = {}  # seconds per table: draw (versions, matching), decode
        for key in self.graph.top_down():
            t1 = time.perf_counter()
            self.progress("sample", key, 0.0)
            rows[key] = self._table_rows(key, order.index(key), rows, fks[key], scale)
            per_table[key] = {"draw": time.perf_counter() - t1}
            self.progress("sample", key, 1.0)
        self._assign_deferred(rows, fks)
        out = {}
        for key in order:
            t1 = time.perf_counter()
            out[key] = self._decode(key, rows[key], fks[key])
            per_table[key]["decode"] = time.perf_counter() - t1
        secs = time.perf_counter() - t0
        n_total = sum(len(f) for f in out.values())
        self.stats.update(sample_table_seconds=per_table, sample_threads=self.executor.workers,
                          sample_seconds=secs, sample_rows=n_total,
                          sample_rows_per_s=n_total / secs if secs > 0 else float("inf"))
        return out

    def _table_rows(self, key: str, ti: int, rows: dict[str, np.ndarray], fks: dict[str, np.ndarray],
                    scale: float) -> np.ndarray:
        """A table's augmented rows; its FK positions (parent edges) go into `fks`."""
        tm = self.tables[key]
        parents = parent_edges(self.edges, key)
        if tm.fixed_rows is not None:
            return tm.fixed_rows  # given, at any scale
        if not parents:
            return self._draw(tm, round(scale * tm.n_rows), ti, 0)
        # Single-T generates under the first parent only; the other FKs come from group sizes
        gen_edges = parents if self.method == "clava" else parents[:1]
        versions = [self._version(ei, v, ti, rows, scale) for v, ei in enumerate(gen_edges)]
        n_parents = [len(rows[self.edges[ei].parent]) for ei in parents]
        x, pos = reconcile(self.schema.tables[key], [self.edges[ei] for ei in parents], n_parents, versions,
                           tm.enc_dim, np.random.default_rng(self._seed(ti, 7)))
        fks.update(pos)
        return x

    def _version(self, ei: int, v: int, ti: int, rows: dict[str, np.ndarray], scale: float) -> Version:
        """The child rows generated under one parent edge: (augmented rows, parent positions, -1 = NULL)."""
        e = self.edges[ei]
        tm = self.tables[e.child]
        rng = np.random.default_rng(self._seed(ti, v, 1))
        prow = rows[e.parent]
        n_parent = len(prow)
        if n_parent == 0 and not e.nullable and tm.n_rows:
            raise ConstraintUnsatisfiable(
                f"{e.child}.{e.fk} is NOT NULL but the synthetic {e.parent} has no rows",
                "use a larger scale, give the parent table rows, or make the foreign key nullable")
        if e.codec is not None and e.label_dim is not None:
            plabels = e.codec.decode(prow[:, e.label_dim])
        else:
            plabels = np.zeros(n_parent, np.int64)
        sizes = self._sizes(e, plabels, scale, rng)
        pos = np.repeat(np.arange(n_parent), sizes)
        clabels = np.repeat(plabels, sizes)
        q = e.null_share if e.nullable else 0.0
        if q >= 1.0:
            n_null = round(scale * tm.n_rows)
        else:
            n_null = int(round(len(pos) * q / (1 - q))) if q > 0 else 0
        ctx = (parent_context(tm, self.tables, self.edges, ei, prow, pos) if ei in tm.ctx_edges else None)
        guided = self._draw(tm, len(pos), ti, 2 * v + 1, clabels, ei if self.method == "clava" else None, ctx)
        free = self._draw(tm, n_null, ti, 2 * v + 2)
        return np.concatenate([guided, free]), np.concatenate([pos, np.full(n_null, -1, np.int64)])

    def _sizes(self, e: EdgeModel, plabels: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
        """Children per synthetic parent row of edge `e`, drawn from p(s | c)."""
        n_parent = len(plabels)
        sizes = e.sizes.sample(plabels, rng) if n_parent else np.zeros(0, np.int64)
        if e.fixed_sizes is not None and len(e.fixed_sizes) == n_parent:
            sizes = np.asarray(e.fixed_sizes, np.int64)
        if self.tables[e.parent].fixed_rows is not None and scale != 1.0:
            # a parent whose rows are given does not scale: its children do, each given row keeping its share
            sizes = np.floor(sizes * scale + rng.random(len(sizes))).astype(np.int64)
        if n_parent and self.tables[e.child].n_rows and sizes.sum() == 0 and (e.null_share < 1.0 or not e.nullable):
            # a small scale can leave every parent childless; a table the source fills stays non-empty
            drawn = np.concatenate(e.sizes.sizes)
            sizes[rng.integers(n_parent)] = max(1, int(round(scale * rng.choice(drawn[drawn > 0])))
                                                if (drawn > 0).any() else 1)
        return sizes

    def _draw(self, tm: TableModel, n: int, ti: int, version: int, labels: np.ndarray | None = None,
              ei: int | None = None, ctx: np.ndarray | None = None) -> np.ndarray:
        """n augmented rows of a table; conditioned / guided towards the parent labels of edge `ei` when given,
        and on the parent rows' context `ctx` (artifact.parent_context) when the denoiser takes one."""
        if n == 0 or tm.dim == 0 or tm.denoiser is None:
            return np.zeros((n, tm.dim), np.float32)
        s = self.s
        edge = self.edges[ei] if ei is not None and labels is not None else None
        guide = edge.classifier if edge is not None and edge.classifier is not None and s.eta > 0 else None
        cond = None
        if edge is not None and ei in tm.cond_edges:
            cond = np.tile(np.asarray([self.edges[j].n_labels for j in tm.cond_edges], np.int64), (n, 1))
            cond[:, tm.cond_edges.index(ei)] = labels
        calibrate = s.calibrate and tm.space.grid is not None
        seed = self._seed(ti, version)
        if self.backend == "numpy":
            y = infer.sample(tm.denoiser.numpy(), self.ab, n, tm.space.dim, s.sample_steps, seed, tm.lo, tm.hi,
                             s.ddim_eta, infer.guidance(guide.numpy(), labels, s.eta) if guide else None, cond,
                             clip_last=not calibrate, executor=self.executor, ctx=ctx)
        else:
            y = self._torch_sample(tm, n, seed, guide, labels, cond, clip_last=not calibrate, ctx=ctx)
        x = tm.space.from_space(tm.space.calibrate(y) if calibrate else y)
        self._draw_labels(tm, x, cond, np.random.default_rng(self._seed(ti, version, 3)), calibrate)
        return x

    def _torch_sample(self, tm: TableModel, n: int, seed: int, guide: Net | None, labels: np.ndarray | None,
                      cond: np.ndarray | None, clip_last: bool, ctx: np.ndarray | None = None) -> np.ndarray:
        """The same draw with torch, for a GPU: there the networks of the paper's preset pay off."""
        import torch

        from clavadb.model.classifier import guidance
        from clavadb.model.diffusion import Diffusion, sample

        dev = torch.device(self.device)
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        fn = guidance(guide.torch(dev), torch.from_numpy(labels).to(dev), self.s.eta) if guide else None
        c = torch.from_numpy(cond).to(dev) if cond is not None else None
        diffusion = Diffusion(self.s.timesteps, self.s.schedule).to(dev)
        y = sample(tm.denoiser.torch(dev), diffusion, n, tm.space.dim, self.s.sample_steps, gen, dev,
                   torch.from_numpy(tm.lo).to(dev), torch.from_numpy(tm.hi).to(dev), self.s.ddim_eta, fn,
                   self.s.sample_batch, c, clip_last=clip_last,
                   ctx=torch.from_numpy(ctx).to(dev) if ctx is not None else None)
        return y.cpu().numpy()

    def _draw_labels(self, tm: TableModel, x: np.ndarray, cond: np.ndarray | None, rng: np.random.Generator,
                     calibrate: bool) -> None:
        """The label columns of child edges with a label head, drawn from p(c | row) into x (one forward
        pass of a small network: NumPy on every device)."""
        heads = [j for j in tm.label_edges if self.edges[j].head is not None]
        if not heads:
            return
        feats = np.ascontiguousarray(x[:, :tm.enc_dim], dtype=np.float32)
        for j in heads:
            e = self.edges[j]
            head = e.head.numpy()
            logits = head.forward(feats, head.time_features(0), cond)
            logp = logits - logits.max(axis=1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
            if calibrate and e.label_shares is not None:
                # Gumbel-max draws from p(c | row), shifted so the labels keep their real shares
                lab = shifted_argmax(logp + rng.gumbel(size=logp.shape), np.asarray(e.label_shares))
            else:
                u = rng.random((len(logp), 1))
                lab = np.minimum((np.cumsum(np.exp(logp), axis=1) < u).sum(axis=1), logp.shape[1] - 1)
            x[:, e.label_dim] = e.codec.encode(lab)

    def _assign_deferred(self, rows: Mapping[str, np.ndarray], fks: dict[str, dict[str, np.ndarray]]) -> None:
        """Deferred FKs, once every table has its rows: a forest for a self-reference, group sizes otherwise."""
        rng = np.random.default_rng(self._seed(99))
        for e in self.edges:
            if not e.deferred:
                continue
            n, n_parent = len(rows[e.child]), len(rows[e.parent])
            if n and n_parent == 0 and not e.nullable:
                raise ConstraintUnsatisfiable(
                    f"{e.child}.{e.fk} is NOT NULL but the synthetic {e.parent} has no rows",
                    "give the parent table rows or make the foreign key nullable")
            if e.parent == e.child:
                fks[e.child][e.fk] = assign_forest(n, e.sizes, e.null_share, e.nullable, rng)
            else:
                fks[e.child][e.fk] = assign_random(e, n, n_parent, rng)

    def _decode(self, key: str, x: np.ndarray, fks: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Decoded columns plus one nullable Int64 position column per FK inside the schema."""
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
            df[fk_column(fk)] = arr
        return df
