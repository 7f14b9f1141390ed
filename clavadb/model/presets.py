"""Model settings: named presets plus per-run overrides.

"fast" is tuned for a 2-core CPU (minutes for MovieLens), "paper" follows the ClavaDDPM paper
(Appendix C.3, Table 5; meant for a GPU), "test" runs in seconds for end-to-end tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from clavadb.errors import ConfigError


@dataclass
class Settings:
    # relation-aware clustering (paper §4.3.1)
    k: int | None = None  # clusters per edge; None: from the number of parents (k_min..k_max)
    k_min: int = 2
    k_max: int = 20
    parents_per_cluster: int = 50  # auto k = n_parents_with_children / this, clipped to k_min..k_max
    lam: float = 1.0  # parent scale λ
    gmm_iters: int = 50
    gmm_max_rows: int = 50_000  # GMM is fit on a sample of this many joined rows, then predicts all
    # diffusion (TabDDPM-style MLP denoiser, Gaussian diffusion on the unified space)
    timesteps: int = 1000
    sample_steps: int = 30  # strided sampling
    schedule: str = "cosine"  # cosine | linear
    ddim_eta: float = 1.0  # 1: stochastic (ancestral-like) strided sampling, 0: deterministic DDIM
    layers: list[int] = field(default_factory=lambda: [128, 128, 128])
    dim_t: int = 64
    onehot_max: int = 16  # categoricals with fewer categories are one-hot in the diffusion (space.py); 0: off
    dropout: float = 0.0
    steps: int | None = None  # training steps; None: epochs over the table, clipped to min_steps..max_steps
    epochs: float = 30.0
    min_steps: int = 2000  # a step costs the same for any table size: small tables get many epochs cheaply
    max_steps: int = 2500
    batch_size: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-5
    # conditional child denoiser: the labels of the parent edges are an input (hidden with p_uncond while
    # training); a version of the child is drawn with its edge's label given. Off: the paper's unconditional
    # child model, steered only by classifier guidance.
    conditional: bool = True
    p_uncond: float = 0.1
    # parent rows as context (beyond the paper): a child's denoiser also takes the encoded row of its parent
    # on each edge, the real one in training, the synthetic one at sampling (each hidden with p_uncond), so a
    # child column can follow a parent column more finely than k cluster labels carry it.
    parent_context: bool = True
    # label heads: a parent's cluster labels drawn from p(c | parent row) after its row is generated, instead
    # of read from the label column its diffusion generated (same joint p(y, c) = p(y) p(c | y)).
    label_head: bool = True
    # marginal calibration of generated rows onto the training marginals (space.py): per plain dim by rank,
    # per one-hot block by a prior shift of the scores
    calibrate: bool = True
    # cluster classifier p(c | x_t, t) and guidance (eta = 0: no classifier is trained)
    eta: float = 1.0  # classifier scale η
    classifier_layers: list[int] = field(default_factory=lambda: [64, 64])
    classifier_steps: int | None = None  # None: same rule as steps, at most classifier_max_steps
    classifier_max_steps: int = 1000
    classifier_lr: float = 1e-3
    classifier_batch_size: int = 1024
    # encoding
    max_categories: int = 1000
    # no value seen fewer than rare_k times is stored in the model (encoding.k_grid, space.fit_marginals);
    # 1 stores exact quantiles, the library's default; `clavadb train` passes its --rare-k
    rare_k: int = 1
    # runtime
    sample_batch: int = 8192  # rows per denoising batch; activations stay in cache: 1.4x the rows/s of 32,768
    # torch CPU threads; None: half the cores (1 on 2 cores) for training, all cores (at most 8) for sampling.
    # Training batches are small: a second thread gains little, and its spin-waits cost a lot when the cores
    # are shared (measured 2-4x slower under load). Sampling batches are large: 2 threads, 2x the rows/s.
    threads: int | None = None
    seed: int = 0  # training randomness (sampling has its own seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def k_for(self, n_parents: int) -> int:
        """Clusters for an edge whose parent table has n_parents rows with children."""
        if self.k is not None:
            k = self.k
        else:
            k = min(self.k_max, max(self.k_min, n_parents // max(1, self.parents_per_cluster)))
        return max(1, min(k, n_parents))

    def steps_for(self, n_rows: int, classifier: bool = False) -> int:
        fixed = self.classifier_steps if classifier else self.steps
        if fixed is not None:
            return int(fixed)
        batch = self.classifier_batch_size if classifier else self.batch_size
        n = int(self.epochs * n_rows / max(1, batch))
        hi = self.classifier_max_steps if classifier else self.max_steps
        return max(min(self.min_steps, hi), min(hi, n))


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {},
    "paper": {
        "k": 20,  # Table 5 uses 20..50 (50 for MovieLens); override k per dataset
        "conditional": False,
        "parent_context": False,
        "label_head": False,
        "onehot_max": 0,
        "calibrate": False,
        "timesteps": 2000,
        "sample_steps": 2000,
        "dim_t": 128,
        "layers": [512, 1024, 1024, 1024, 1024, 512],
        "steps": 100_000,
        "batch_size": 4096,
        "lr": 6e-4,
        "gmm_iters": 100,
        "gmm_max_rows": 1_000_000,
        "classifier_layers": [128, 256, 512, 1024, 512, 256, 128],
        "classifier_steps": 20_000,
        "classifier_lr": 1e-4,
        "classifier_batch_size": 4096,
    },
    "test": {
        "k_max": 4,
        "parents_per_cluster": 10,
        "gmm_iters": 20,
        "timesteps": 100,
        "sample_steps": 10,
        "layers": [32, 32],
        "dim_t": 16,
        "steps": 60,
        "batch_size": 256,
        "classifier_layers": [32, 32],
        "classifier_steps": 40,
        "classifier_batch_size": 256,
    },
}

ALIASES = {"width": None, "depth": None}  # width/depth build `layers`


def resolve(preset: str, overrides: dict[str, Any]) -> Settings:
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}", f"choose one of {', '.join(PRESETS)}")
    s = Settings.from_dict(PRESETS[preset])
    over = dict(overrides)
    width, depth = over.pop("width", None), over.pop("depth", None)
    if width is not None or depth is not None:
        w = int(width) if width is not None else max(s.layers)
        d = int(depth) if depth is not None else len(s.layers)
        over.setdefault("layers", [w] * d)
    known = {f.name for f in fields(Settings)}
    bad = sorted(set(over) - known)
    if bad:
        raise ConfigError(f"unknown model setting(s): {', '.join(bad)}",
                          f"known: {', '.join(sorted(known | {'width', 'depth'}))}")
    s = replace(s, **over)
    if s.sample_steps > s.timesteps:
        s.sample_steps = s.timesteps
    if s.schedule not in ("cosine", "linear"):
        raise ConfigError(f"unknown diffusion schedule {s.schedule!r}", "use cosine or linear")
    return s
