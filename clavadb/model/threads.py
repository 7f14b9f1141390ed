"""How many CPU threads a fit (torch) and a sampling run (NumPy batches, or torch on a GPU) use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_THREADS = 8  # beyond this the batches of either phase gain nothing measurable from more threads


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def torch_threads(device: torch.device, sampling: bool, setting: int | None) -> Iterator[None]:
    """Set torch's CPU threads for a fit (half the cores) or a sampling run (all of them), at most
    MAX_THREADS, or `setting` when given; the caller's count is restored after. Training steps are batches of
    ~1,000 rows, too small to split; sampling pushes batches of thousands of rows through each step and runs
    2x faster on 2 cores. On a GPU nothing changes."""
    if device.type != "cpu":
        yield
        return
    import torch

    before = torch.get_num_threads()
    cores = available_cores()
    torch.set_num_threads(max(1, setting or min(cores if sampling else cores // 2, MAX_THREADS)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sampling_threads(setting: int | None) -> int:
    """Threads for the batches of a sampling run: all the cores up to MAX_THREADS, or `setting`."""
    return max(1, setting or min(available_cores(), MAX_THREADS))
