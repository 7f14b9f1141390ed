"""Sampling without torch: the trained MLPs evaluated with NumPy, and the strided (DDIM-style) sampler.

Why not torch at sampling time: importing torch costs seconds (2.7 s of a 7 s `clavadb sample` of a small
database), more than the sampling itself, and on a CPU the work is a handful of float32 matrix products per
step, which NumPy's BLAS does as fast (bench/RESULTS.md, "Sampling without torch"). Training, and sampling
on a GPU, stay with torch; the network is the same, read from the same weights.

The networks are `diffusion.TimeMLP`: x -> proj(x) + time_embed(t) [+ cond embeddings] -> (Linear, SiLU)*
-> Linear. Classifier guidance needs the gradient of log p(c | x_t) with respect to x_t: written out below
(the chain rule through an MLP), so that no autograd is needed either.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from clavadb.executor import Executor, LocalExecutor

# Rows per batch, each batch with its own random stream. 512 rows keep a layer's activations (512 x 128 float32,
# 256 KB) and their temporaries inside a core's L2 cache: measured 1.7x the row-steps/s of 8,192-row batches on
# one thread (bench/RESULTS.md, "Fast sampling"), and a table of a few thousand rows still splits into enough
# batches to keep every core busy. Below ~256 rows Python's per-step overhead starts to show.
BATCH_ROWS = 512


def alphas_cumprod(timesteps: int, schedule: str) -> np.ndarray:
    """Cumulative products of (1 - beta_t) for a linear or cosine (Nichol & Dhariwal) schedule, float32."""
    if schedule == "linear":
        scale = 1000.0 / timesteps
        betas = np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64)
    else:
        s = 0.008
        steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
        f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas).astype(np.float32)


def strided_steps(timesteps: int, sample_steps: int) -> np.ndarray:
    """The trained steps a sampler visits, from the noisiest (T - 1) down to 0, evenly spaced: at most
    sample_steps of them (the same steps as diffusion.sample)."""
    n = max(1, min(int(sample_steps), timesteps))
    if n == 1:  # one step: from pure noise straight to x_0
        return np.array([timesteps - 1], np.int64)
    return np.unique(np.linspace(0, timesteps - 1, n).round().astype(np.int64))[::-1]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) as (1 + tanh(z / 2)) / 2: as fast, and no overflow for very negative z."""
    s = np.multiply(z, np.float32(0.5))
    np.tanh(s, out=s)
    s += 1.0
    s *= 0.5
    return s


def _silu(z: np.ndarray) -> np.ndarray:
    """z * sigmoid(z) = h (1 + tanh(h)) with h = z / 2, overwriting z (one temporary)."""
    z *= 0.5
    s = np.tanh(z)
    s += 1.0
    return np.multiply(z, s, out=z)


@dataclass(frozen=True)
class MLP:
    """A TimeMLP's weights as NumPy arrays, weight matrices stored transposed (x @ w + b)."""

    proj: tuple[np.ndarray, np.ndarray]
    time: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    out: tuple[np.ndarray, np.ndarray]
    cond: tuple[np.ndarray, ...]  # one embedding table per conditioning column; its last row: "no label"
    ctx: tuple[np.ndarray, np.ndarray] | None = None  # the context map (TimeMLP.ctx), when it has one

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray]) -> MLP:
        """From a TimeMLP state dict (names as torch writes them, values as arrays)."""

        def lin(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            w = np.asarray(state[f"{prefix}.weight"], np.float32)
            return np.ascontiguousarray(w.T), np.asarray(state[f"{prefix}.bias"], np.float32)

        mlp = sorted({int(m.group(1)) for k in state if (m := re.match(r"mlp\.(\d+)\.weight$", k))})
        conds = sorted({int(m.group(1)) for k in state if (m := re.match(r"cond\.(\d+)\.weight$", k))})
        layers = [lin(f"mlp.{i}") for i in mlp]
        return cls(proj=lin("proj"), time=(lin("time_embed.0"), lin("time_embed.2")), hidden=tuple(layers[:-1]),
                   out=layers[-1], cond=tuple(np.asarray(state[f"cond.{j}.weight"], np.float32) for j in conds),
                   ctx=lin("ctx") if "ctx.weight" in state else None)

    @functools.cached_property
    def _offset_free(self) -> np.ndarray:
        return self.offset(None)

    @property
    def dim_t(self) -> int:
        return self.proj[0].shape[1]

    def time_features(self, t: int) -> np.ndarray:
        """time_embed(sinusoidal(t)) for one timestep shared by all rows: (dim_t,)."""
        half = self.dim_t // 2
        freqs = np.exp(-math.log(10_000.0) * np.arange(half, dtype=np.float32) / half)
        args = np.float32(t) * freqs
        emb = np.concatenate([np.cos(args), np.sin(args)] + ([np.zeros(1, np.float32)] if self.dim_t % 2 else []))
        (w1, b1), (w2, b2) = self.time
        return (_silu(emb @ w1 + b1) @ w2 + b2).astype(np.float32)

    def offset(self, c: np.ndarray | None, z: np.ndarray | None = None) -> np.ndarray:
        """What the input layer adds to proj(x) apart from the time features: the bias, the label embeddings
        (labels c) and the context map (context z), (n, dim_t) per row, else (dim_t,). It is the same at every
        step, so a sampler computes it once per batch instead of at each step."""
        h = self.proj[1].copy()
        if c is None:
            for emb in self.cond:
                h += emb[-1]
        if self.ctx is not None:
            h += self.ctx[1]
        per_row = (c is not None and self.cond) or (z is not None and self.ctx is not None)
        if not per_row:
            return h
        n = len(c) if c is not None else len(z)
        h = np.repeat(h[None, :], n, axis=0)
        if c is not None:
            for j, emb in enumerate(self.cond):
                h += emb[c[:, j]]
        if z is not None and self.ctx is not None:
            h += z @ self.ctx[0]
        return h

    def _input(self, x: np.ndarray, te: np.ndarray, c: np.ndarray | None, z: np.ndarray | None = None,
               offset: np.ndarray | None = None) -> np.ndarray:
        h = x @ self.proj[0]
        h += self.offset(c, z) if offset is None else offset
        h += te
        return h

    def forward(self, x: np.ndarray, te: np.ndarray, c: np.ndarray | None = None, z: np.ndarray | None = None,
                offset: np.ndarray | None = None) -> np.ndarray:
        """The network's output for rows x at the step whose time features are te (labels c, context z);
        offset: `offset(c, z)`, when the caller has it already."""
        h = self._input(x, te, c, z, offset)
        for w, b in self.hidden:
            h = h @ w
            h += b
            h = _silu(h)
        h = h @ self.out[0]
        h += self.out[1]
        return h

    def grad_log_prob(self, x: np.ndarray, te: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """d/dx of sum_i log softmax(f(x_i))[labels_i]: classifier guidance without autograd."""
        h = self._input(x, te, None, None, self._offset_free)
        pre, sigs = [], []
        for w, b in self.hidden:
            z = h @ w
            z += b
            sig = _sigmoid(z)
            pre.append(z)
            sigs.append(sig)
            h = np.multiply(z, sig)
        logits = h @ self.out[0] + self.out[1]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = -p
        g[np.arange(len(g)), labels] += 1.0  # d log_softmax[label] / d logits = onehot - softmax
        g = g @ self.out[0].T
        for (w, _), z, sig in zip(reversed(self.hidden), reversed(pre), reversed(sigs), strict=True):
            # silu'(z) = s (1 + z (1 - s)), computed in place over z
            z *= 1.0 - sig
            z += 1.0
            z *= sig
            g *= z
            g = g @ w.T
        return g @ self.proj[0].T


GuideFn = Callable[[np.ndarray, int, slice], np.ndarray]


def guidance(classifier: MLP, labels: np.ndarray, eta: float) -> GuideFn:
    """η ∇_x log p(c | x_t, t) for each row's target label (the paper's §4.3.2); the classifier's time
    features are computed once per timestep."""
    feats: dict[int, np.ndarray] = {}

    def fn(x: np.ndarray, t: int, rows: slice) -> np.ndarray:
        if t not in feats:
            feats[t] = classifier.time_features(t)
        return np.float32(eta) * classifier.grad_log_prob(x, feats[t], labels[rows])

    return fn


def sample(model: MLP, ab: np.ndarray, n: int, d: int, sample_steps: int, seed: int,
           lo: np.ndarray, hi: np.ndarray, ddim_eta: float = 1.0, guide: GuideFn | None = None,
           cond: np.ndarray | None = None, clip_last: bool = True, executor: Executor | None = None,
           batch: int = BATCH_ROWS, ctx: np.ndarray | None = None) -> np.ndarray:
    """Draw n rows of a d-dim space by strided sampling over the schedule ab (the steps of
    diffusion.sample, one for one): eps predicted, guided (eps - sqrt(1 - ab_t) η ∇), x_0 clipped to
    [lo, hi] (the last one too unless clip_last is False), generalised DDIM update with noise ddim_eta.

    Batches run on the executor (default: this thread); each batch draws from its own stream of `seed`, so
    the rows do not depend on where or on how many workers they ran."""
    seq = strided_steps(len(ab), sample_steps)
    te = [model.time_features(int(t)) for t in seq]
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)

    def run(start: int) -> np.ndarray:
        rows = slice(start, min(n, start + batch))
        rng = np.random.default_rng(np.random.SeedSequence([seed, start // batch]))
        x = rng.standard_normal((rows.stop - rows.start, d), dtype=np.float32)
        offset = model.offset(cond[rows] if cond is not None else None, ctx[rows] if ctx is not None else None)
        for i, t in enumerate(seq):
            a_t = float(ab[t])
            a_prev = float(ab[seq[i + 1]]) if i + 1 < len(seq) else 1.0
            eps = model.forward(x, te[i], offset=offset)
            if guide is not None:
                eps -= np.float32(math.sqrt(1 - a_t)) * guide(x, int(t), rows)
            x0 = (x - np.float32(math.sqrt(1 - a_t)) * eps) / np.float32(math.sqrt(a_t))
            if i + 1 == len(seq) and not clip_last:
                x = x0
                break
            np.clip(x0, lo, hi, out=x0)
            eps = (x - np.float32(math.sqrt(a_t)) * x0) / np.float32(math.sqrt(1 - a_t))
            sigma = ddim_eta * math.sqrt(max((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev), 0.0))
            x = np.float32(math.sqrt(a_prev)) * x0 + np.float32(math.sqrt(max(1 - a_prev - sigma**2, 0.0))) * eps
            if ddim_eta > 0 and i + 1 < len(seq):
                x += np.float32(sigma) * rng.standard_normal(x.shape, dtype=np.float32)
        return x

    parts = (executor or LocalExecutor()).map(run, list(range(0, n, batch)))
    return np.concatenate(parts) if parts else np.empty((0, d), np.float32)
