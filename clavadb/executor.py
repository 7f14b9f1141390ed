"""Where sampling work runs: threads of this process, or the workers of a Ray cluster.

Sampling is split into batches whose random streams are fixed by (seed, batch index), so the output does not
depend on which executor ran them or on how many workers it has. An executor only maps a function over
batch indices and returns the results in order. Every batch runs with one BLAS thread: a matrix product
split over several threads sums in another order, and its last bits would then depend on the worker count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from clavadb.errors import ConfigError


class Executor(Protocol):
    """Runs fn over items, in parallel where it can; results in the order of items."""

    workers: int

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]: ...


class LocalExecutor:
    """Threads of this process: NumPy releases the GIL in its kernels, so batches overlap on the cores."""

    def __init__(self, threads: int = 1):
        self.workers = max(1, int(threads))

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        with one_blas_thread():
            if self.workers == 1 or len(items) < 2:
                return [fn(i) for i in items]
            with ThreadPoolExecutor(self.workers) as pool:
                return list(pool.map(fn, items))


class RayExecutor:
    """Tasks on a Ray cluster: `ray` starts (or joins, if this process already initialised Ray) a local
    cluster; `ray://host:port` connects to a running one. Each task gets one batch; the function, with the
    network weights it closes over, goes into the object store once per call of map."""

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is an optional dependency
            raise ConfigError("--executor ray needs the ray package", "pip install 'clavadb[ray]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        ray = self._ray
        task = ray.remote(num_cpus=1)(_in_one_blas_thread)
        shipped = ray.put(fn)
        return ray.get([task.remote(shipped, i) for i in items])


@functools.cache
def _controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once: `threadpool_limits` looks them up again on
    every call (a few ms each, paid per sampled table and version otherwise)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread (see the module docstring for why)."""
    return _controller().limit(limits=1, user_api="blas")


def _in_one_blas_thread(fn: Callable[[Any], Any], item: Any) -> Any:
    with one_blas_thread():
        return fn(item)


def executor_from(spec: str | None, threads: int) -> Executor:
    """`local` (default) or None: threads; `ray`: a local Ray cluster; `ray://HOST:PORT`: that cluster."""
    if spec in (None, "", "local"):
        return LocalExecutor(threads)
    if spec == "ray":
        return RayExecutor()
    if spec.startswith("ray://"):
        return RayExecutor(spec)
    raise ConfigError(f"unknown executor {spec!r}", "use local, ray or ray://HOST:PORT")
