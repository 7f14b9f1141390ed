"""Gaussian diffusion over a table's unified (encoded) space: TabDDPM-style MLP denoiser, epsilon prediction,
and strided sampling (generalised DDIM: ddim_eta=1 is ancestral-like, 0 deterministic) with optional
classifier guidance (paper §4.3.2)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from clavadb.model.infer import strided_steps


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (float) timesteps, as in DDPM / TabDDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb


class TimeMLP(nn.Module):
    """x -> proj(x) + embed(t) [+ embed(c_j) per conditioning label] [+ ctx(z)] -> MLP -> out.
    Used for the denoiser (out = d_in) and the classifier (out = k). n_cond[j] is the number of labels of the
    j-th conditioning column; index n_cond[j] is its "no label" token. d_ctx > 0: a context vector z per row
    (a child's parent rows, `fit.parent_context`) enters through one linear map."""

    def __init__(self, d_in: int, d_out: int, layers: list[int], dim_t: int = 128, dropout: float = 0.0,
                 n_cond: list[int] | None = None, d_ctx: int = 0):
        super().__init__()
        # the arguments that rebuild this network (the model file stores them next to its weights)
        self.args = {"d_in": d_in, "d_out": d_out, "layers": list(layers), "dim_t": dim_t, "dropout": dropout,
                     "n_cond": list(n_cond) if n_cond else None}
        if d_ctx:
            self.args["d_ctx"] = int(d_ctx)
        self.dim_t = dim_t
        self.n_cond = list(n_cond or [])
        self.cond = nn.ModuleList(nn.Embedding(n + 1, dim_t) for n in self.n_cond)
        self.ctx = nn.Linear(d_ctx, dim_t) if d_ctx else None
        self.proj = nn.Linear(d_in, dim_t)
        self.time_embed = nn.Sequential(nn.Linear(dim_t, dim_t), nn.SiLU(), nn.Linear(dim_t, dim_t))
        blocks: list[nn.Module] = []
        d = dim_t
        for w in layers:
            blocks += [nn.Linear(d, w), nn.SiLU()]
            if dropout:
                blocks.append(nn.Dropout(dropout))
            d = w
        blocks.append(nn.Linear(d, d_out))
        self.mlp = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """t: (n,) per-row timesteps, or (1,) shared by every row (sampling: the embedding is computed once).
        c: (n, len(n_cond)) label indices, or None (no label anywhere). z: (n, d_ctx) context, or None (none
        known: the zero vector, as in the rows trained without it)."""
        h = self.proj(x) + self.time_embed(timestep_embedding(t, self.dim_t))
        if c is not None:
            for j, emb in enumerate(self.cond):
                h = h + emb(c[:, j])
        elif self.cond:
            h = h + sum(emb.weight[-1] for emb in self.cond)
        if self.ctx is not None:
            h = h + (self.ctx(z) if z is not None else self.ctx.bias)
        return self.mlp(h)


def alphas_cumprod(timesteps: int, schedule: str) -> torch.Tensor:
    if schedule == "linear":
        scale = 1000.0 / timesteps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    else:  # cosine (Nichol & Dhariwal)
        s = 0.008
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


class Diffusion:
    """Noise schedule and the forward process q(x_t | x_0)."""

    def __init__(self, timesteps: int, schedule: str):
        self.T = timesteps
        self.ab = alphas_cumprod(timesteps, schedule)

    def to(self, device: torch.device) -> Diffusion:
        self.ab = self.ab.to(device)
        return self

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        ab = self.ab[t][:, None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def sample_t(self, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.T, (n,), generator=gen, device=device)


def train_loop(model: nn.Module, loss_fn: Callable[[torch.Tensor], torch.Tensor], n_rows: int, steps: int,
               batch_size: int, lr: float, weight_decay: float, gen: torch.Generator, device: torch.device,
               progress: Callable[[float], None] | None = None) -> float:
    """AdamW with linear decay; loss_fn gets a batch of row indices. Returns the mean loss of the last 10%."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.05, 1 - i / max(1, steps)))
    model.train()
    tail: list[float] = []
    bs = min(batch_size, n_rows)
    perm = torch.randperm(n_rows, generator=gen, device=device)
    pos = 0
    for i in range(steps):
        if pos + bs > n_rows:  # epochs of shuffled batches
            perm = torch.randperm(n_rows, generator=gen, device=device)
            pos = 0
        idx = perm[pos:pos + bs]
        pos += bs
        loss = loss_fn(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if i >= steps * 0.9:
            tail.append(float(loss.detach()))
        if progress and (i % 50 == 0 or i == steps - 1):
            progress((i + 1) / steps)
    model.eval()
    return float(np.mean(tail)) if tail else float("nan")


def train_denoiser(x0: torch.Tensor, diffusion: Diffusion, layers: list[int], dim_t: int, dropout: float,
                   steps: int, batch_size: int, lr: float, weight_decay: float, gen: torch.Generator,
                   progress: Callable[[float], None] | None = None, cond: torch.Tensor | None = None,
                   n_cond: list[int] | None = None, p_uncond: float = 0.1, ctx: torch.Tensor | None = None,
                   ctx_blocks: list[slice] | None = None) -> tuple[TimeMLP, float]:
    """cond: (n, len(n_cond)) parent-edge labels per row (the "no label" index where a row has no parent);
    each label is hidden with probability p_uncond so the model also learns the unconditional rows.
    ctx: (n, d_ctx) context per row, in blocks (`ctx_blocks`, one per parent edge). As at sampling, where a
    child is drawn under one parent edge at a time (its other parents are matched afterwards), each training
    row keeps one block, drawn uniformly, and zeros the others; with probability p_uncond it keeps none."""
    device = x0.device
    d = x0.shape[1]
    model = TimeMLP(d, d, layers, dim_t, dropout, n_cond if cond is not None else None,
                    ctx.shape[1] if ctx is not None else 0).to(device)
    null = torch.tensor(n_cond or [], dtype=torch.long, device=device)
    if ctx is not None:  # which context column belongs to which block
        block_of = torch.empty(ctx.shape[1], dtype=torch.long, device=device)
        for j, b in enumerate(ctx_blocks or [slice(0, ctx.shape[1])]):
            block_of[b] = j
        n_blocks = len(ctx_blocks or [None])

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        x = x0[idx]
        t = diffusion.sample_t(len(idx), gen, device)
        noise = torch.randn(x.shape, generator=gen, device=device)
        c = None
        if cond is not None:
            c = cond[idx]
            hide = torch.rand(c.shape, generator=gen, device=device) < p_uncond
            c = torch.where(hide, null[None, :], c)
        z = None
        if ctx is not None:
            one = torch.randint(0, n_blocks, (len(idx),), generator=gen, device=device)
            keep = torch.rand(len(idx), generator=gen, device=device) >= p_uncond
            z = ctx[idx] * ((block_of[None, :] == one[:, None]) & keep[:, None])
        return nn.functional.mse_loss(model(diffusion.noisy(x, t, noise), t, c, z), noise)

    loss = train_loop(model, loss_fn, len(x0), steps, batch_size, lr, weight_decay, gen, device, progress)
    return model, loss


GuideFn = Callable[[torch.Tensor, torch.Tensor, slice], torch.Tensor]


@torch.no_grad()
def sample(model: TimeMLP, diffusion: Diffusion, n: int, d: int, sample_steps: int, gen: torch.Generator,
           device: torch.device, lo: torch.Tensor, hi: torch.Tensor, ddim_eta: float = 1.0,
           guide: GuideFn | None = None, batch: int = 32_768, cond: torch.Tensor | None = None,
           clip_last: bool = True, ctx: torch.Tensor | None = None) -> torch.Tensor:
    """Draw n rows. guide(x_t, t, rows) returns η ∇ log p(c | x_t) for those rows (classifier guidance,
    applied to the noise prediction: eps - sqrt(1 - ab_t) η ∇). cond: (n, ·) labels for a conditional
    denoiser. x_0 predictions are clipped to [lo, hi]; the last one too unless clip_last is False (the scores
    then stay apart for a calibration that ranks them)."""
    out = torch.empty((n, d), device=device)
    seq = strided_steps(diffusion.T, sample_steps)
    ab = diffusion.ab
    for start in range(0, n, batch):
        rows = slice(start, min(n, start + batch))
        m = rows.stop - rows.start
        x = torch.randn((m, d), generator=gen, device=device)
        c = cond[rows] if cond is not None else None
        z = ctx[rows] if ctx is not None else None
        for i, t in enumerate(seq):
            tt = torch.full((1,), int(t), device=device, dtype=torch.long)
            a_t = ab[t]
            a_prev = ab[seq[i + 1]] if i + 1 < len(seq) else torch.tensor(1.0, device=device)
            eps = model(x, tt, c, z)
            if guide is not None:
                with torch.enable_grad():
                    eps = eps - (1 - a_t).sqrt() * guide(x, tt, rows)
            x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
            if i + 1 == len(seq) and not clip_last:
                x = x0
                break
            x0 = x0.clamp(lo, hi)
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            sigma = ddim_eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).clamp(min=0).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
            if ddim_eta > 0 and i + 1 < len(seq):
                x = x + sigma * torch.randn(x.shape, generator=gen, device=device)
        out[rows] = x
    return out
