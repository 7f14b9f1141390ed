"""Cluster classifier p(c | x_t, t) on a child's augmented rows, and its guidance gradient (paper §4.3.2)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from clavadb.model.diffusion import Diffusion, TimeMLP, train_loop


def train_classifier(x0: torch.Tensor, labels: torch.Tensor, n_classes: int, diffusion: Diffusion,
                     layers: list[int], dim_t: int, steps: int, batch_size: int, lr: float,
                     gen: torch.Generator, progress: Callable[[float], None] | None = None
                     ) -> tuple[TimeMLP, float]:
    """Cross-entropy on noised rows x_t (t uniform), so the gradient is meaningful at every sampling step."""
    device = x0.device
    model = TimeMLP(x0.shape[1], n_classes, layers, dim_t).to(device)

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        x = x0[idx]
        t = diffusion.sample_t(len(idx), gen, device)
        noise = torch.randn(x.shape, generator=gen, device=device)
        return nn.functional.cross_entropy(model(diffusion.noisy(x, t, noise), t), labels[idx])

    loss = train_loop(model, loss_fn, len(x0), steps, batch_size, lr, 0.0, gen, device, progress)
    return model, loss


def guidance(model: TimeMLP, labels: torch.Tensor, eta: float):
    """η ∇_x log p(c | x_t, t) for the target label of each row."""

    def fn(x: torch.Tensor, t: torch.Tensor, rows: slice) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        logp = torch.log_softmax(model(x, t), dim=1)
        sel = logp.gather(1, labels[rows][:, None]).sum()
        (grad,) = torch.autograd.grad(sel, x)
        return eta * grad

    return fn
