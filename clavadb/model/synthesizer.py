"""The ClavaDDPM engine's public face: fit on real tables, sample a synthetic database of row positions,
save and load.

The work is done in fit.py (encode, cluster, train), sample.py (top-down generation), matching.py
(multi-parent reconciliation, FK-only keys) and artifact.py (the model file). Method "independent" is the
paper's Single-T baseline: the same backbone per table, no clustering or guidance, FKs from real group sizes.
Four CPU-budget refinements are on in the "fast" and "test" presets and off in "paper" (presets.py):
one-hot blocks for small categoricals and marginal calibration (space.py), child denoisers conditioned on
their parent edges' labels, and label heads p(c | parent row). On MovieLens each measurably improves
fidelity at equal time (bench/model_bench.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from clavadb.errors import ClavaError, ConfigError
from clavadb.executor import Executor, LocalExecutor
from clavadb.model import artifact
from clavadb.model.artifact import EdgeModel, TableModel
from clavadb.model.presets import Settings, resolve
from clavadb.model.relations import frame_positions
from clavadb.model.sample import Sampler
from clavadb.model.threads import sampling_threads, torch_threads
from clavadb.schema import Schema

Progress = Callable[[str, str, float], None]
METHODS = ("clava", "independent")


class Synthesizer:
    """A generative model of a whole relational schema (ClavaDDPM).

    Parameters
    ----------
    schema : Schema
        Tables, columns and foreign keys to model.
    preset : str, default "fast"
        Named settings: "fast" (a 2-core CPU), "paper" (the paper's settings, for a GPU) or "test" (seconds).
    method : str, default "clava"
        "clava" (clustering, guidance, matching) or "independent" (the paper's Single-T baseline).
    device : str, optional
        "cpu" or a torch device; default "cuda" when a GPU is there, else "cpu". On the CPU, sampling runs
        without torch (NumPy), so a loaded model samples without importing it.
    **overrides
        Settings fields to change (see presets.Settings), e.g. ``steps=500``.

    Attributes
    ----------
    tables : dict[str, TableModel]
        What was learned per table (after fit or load).
    edges : list[EdgeModel]
        What was learned per foreign key.
    stats : dict
        Fit and sampling statistics: seconds per stage and table, losses, cluster agreement, threads.
    attachment : dict
        JSON-able state of the caller, saved with the model and given back by load; the model never reads it.

    Examples
    --------
    >>> syn = Synthesizer(schema, preset="test").fit(frames)         # doctest: +SKIP
    >>> synthetic = syn.sample(scale=0.5, seed=1)                    # doctest: +SKIP
    >>> syn.save("m.clava"); again = Synthesizer.load("m.clava")     # doctest: +SKIP
    """

    def __init__(self, schema: Schema, preset: str = "fast", method: str = "clava", device: str | None = None,
                 **overrides: Any):
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}", f"choose one of {', '.join(METHODS)}")
        self.schema = schema
        self.preset = preset
        self.method = method
        self.overrides = dict(overrides)
        self.settings: Settings = resolve(preset, overrides)
        self.device = _device(device)
        self.tables: dict[str, TableModel] = {}
        self.edges: list[EdgeModel] = []
        self.attachment: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}
        self.fitted = False

    def fit(self, tables: Mapping[str, pd.DataFrame], modeled: Mapping[str, list[str]] | None = None,
            progress: Progress | None = None, fixed: Collection[str] = (),
            positions: Mapping[tuple[str, str], np.ndarray] | None = None) -> Synthesizer:
        """Learn the schema's tables.

        Parameters
        ----------
        tables : mapping of str to DataFrame
            The real rows of every table of the schema, by table key.
        modeled : mapping of str to list of str, optional
            Columns to model per table; a table not named models all its supported non-key columns.
        progress : callable, optional
            Called as ``progress(stage, table, fraction)`` while fitting.
        fixed : collection of str
            Tables whose rows are given, not generated. A root table among them is sampled as its real rows
            (its modeled columns and its cluster labels) at every scale; its children's counts per row are kept.
        positions : mapping of (child, FK name) to array, optional
            For each foreign key, the row in the parent's frame that each child row references (-1: NULL or
            orphan), e.g. from ``relations.fk_positions`` on a workspace. Default: joined from `tables`.

        Returns
        -------
        Synthesizer
            self, fitted. The same data and settings give the same model.
        """
        missing = [k for k in self.schema.tables if k not in tables]
        if missing:
            raise ClavaError(f"no rows given for table(s) {', '.join(missing)}",
                             "pass a DataFrame for every table of the schema")
        self.tables, self.edges, self.fitted = {}, [], False
        # Weight initialisation and dropout draw from torch's global generator: seed it, and leave the
        # caller's generator as it was, so the same data and seed give the same model.
        import torch

        from clavadb.model.fit import Fitter

        device = torch.device(self.device)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch_threads(device, False, self.settings.threads):
            torch.manual_seed(self.settings.seed)
            fitter = Fitter(self.schema, self.settings, self.method, device, progress)
            if positions is None:
                positions = frame_positions(self.schema, tables, fitter.timing)
            self.tables, self.edges, self.stats = fitter.run(tables, modeled, fixed, positions)
        self.fitted = True
        return self

    def sample(self, scale: float = 1.0, seed: int = 0, executor: Executor | None = None,
               progress: Progress | None = None) -> dict[str, pd.DataFrame]:
        """Draw a synthetic database.

        Parameters
        ----------
        scale : float, default 1.0
            Rows relative to the real tables (0.01 to 10); tables whose rows are given keep theirs.
        seed : int, default 0
            The same model and seed give the same frames, whatever the executor.
        executor : Executor, optional
            Where the sampling batches run (clavadb.executor: threads here, or a Ray cluster); default: the
            threads of the `threads` setting.
        progress : callable, optional
            Called as ``progress("sample", table, fraction)`` as each table starts (0.0) and is drawn (1.0).

        Returns
        -------
        dict of str to DataFrame
            Per table, its modeled columns and, per foreign key inside the schema, a nullable Int64 column
            ``keys.fk_column(fk)`` with the row position of the referenced synthetic parent (NA: NULL).
        """
        if not self.fitted:
            raise ClavaError("the model is not fitted", "call fit() or load a model file")
        if not 0.01 <= scale <= 10:
            raise ConfigError(f"scale {scale} is out of range", "use a scale between 0.01 and 10")
        executor = executor or LocalExecutor(sampling_threads(self.settings.threads))
        sampler = Sampler(self.schema, self.settings, self.method, self.device, self.tables, self.edges, seed,
                          executor, progress=progress)
        if sampler.backend == "torch":
            import torch

            with torch_threads(torch.device(self.device), True, self.settings.threads):
                out = sampler.run(scale)
        else:
            out = sampler.run(scale)
        self.stats.update(sampler.stats)
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model and `attachment` to one file (read back with `load`).

        Parameters
        ----------
        path : str or PathLike
            The file to write.
        """
        if not self.fitted:
            raise ClavaError("the model is not fitted", "call fit() before save()")
        artifact.save(artifact.Artifact(self.schema, self.preset, self.method, self.settings, self.overrides,
                                        self.tables, self.edges, self.stats, self.attachment), path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> Synthesizer:
        """Read a model file written by `save`.

        Parameters
        ----------
        path : str or PathLike
            The model file.
        device : str, optional
            Where to sample; default as in the constructor.

        Returns
        -------
        Synthesizer
            Fitted, ready to sample. A file that is not a model file of this format version is a ClavaError.
        """
        art = artifact.load(path)
        syn = cls(art.schema, art.preset, art.method, device)
        syn.settings, syn.overrides, syn.stats, syn.attachment = art.settings, art.overrides, art.stats, art.attachment
        syn.tables, syn.edges, syn.fitted = art.tables, art.edges, True
        return syn


def _device(name: str | None) -> str:
    """The device to use: the one named, else "cuda" where an NVIDIA driver and a CUDA torch are there, else
    "cpu". The driver is looked for first, so a machine without a GPU does not import torch to find out."""
    if name:
        return name
    if not os.path.exists("/proc/driver/nvidia/version"):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
