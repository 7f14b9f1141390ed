"""The torch-free sampler evaluates the same networks as torch, and draws the same rows on any thread count."""

from __future__ import annotations

import numpy as np
import torch

from clavadb.executor import LocalExecutor
from clavadb.model import infer
from clavadb.model.classifier import guidance as torch_guidance
from clavadb.model.diffusion import Diffusion, TimeMLP


def _nets(d: int = 12, k: int = 5) -> tuple[TimeMLP, TimeMLP]:
    torch.manual_seed(0)
    return TimeMLP(d, d, [32, 32], 16, 0.1, [4, 2]).eval(), TimeMLP(d, k, [16, 16], 16).eval()


def _numpy(net: TimeMLP) -> infer.MLP:
    return infer.MLP.from_state({k: v.numpy() for k, v in net.state_dict().items()})


def test_forward_and_guidance_gradient_match_torch():
    den, clf = _nets()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    cond = np.stack([rng.integers(0, 5, 300), rng.integers(0, 3, 300)], axis=1)  # index n: "no label"
    labels = rng.integers(0, 5, 300)
    for t in (0, 37, 999):
        with torch.no_grad():
            want = den(torch.from_numpy(x), torch.tensor([t]), torch.from_numpy(cond)).numpy()
            want_free = den(torch.from_numpy(x), torch.tensor([t])).numpy()
        m = _numpy(den)
        np.testing.assert_allclose(m.forward(x, m.time_features(t), cond), want, atol=1e-5)
        np.testing.assert_allclose(m.forward(x, m.time_features(t)), want_free, atol=1e-5)
        grad = torch_guidance(clf, torch.from_numpy(labels), 2.0)(torch.from_numpy(x), torch.tensor([t]),
                                                                   slice(0, 300)).numpy()
        np.testing.assert_allclose(infer.guidance(_numpy(clf), labels, 2.0)(x, t, slice(0, 300)), grad,
                                   atol=1e-6, rtol=1e-4)


def test_parent_context_matches_torch():
    """A denoiser with a parent-row context: NumPy and torch agree with a context, and without one (unknown:
    the zero context) both add the map's bias only."""
    torch.manual_seed(1)
    den = TimeMLP(6, 6, [16], 8, 0.0, None, d_ctx=4).eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 6)).astype(np.float32)
    z = rng.standard_normal((50, 4)).astype(np.float32)
    m = _numpy(den)
    with torch.no_grad():
        want = den(torch.from_numpy(x), torch.tensor([5]), None, torch.from_numpy(z)).numpy()
        want_free = den(torch.from_numpy(x), torch.tensor([5]), None, torch.zeros(50, 4)).numpy()
    np.testing.assert_allclose(m.forward(x, m.time_features(5), None, z), want, atol=1e-5)
    np.testing.assert_allclose(m.forward(x, m.time_features(5)), want_free, atol=1e-5)
    assert not np.allclose(want, want_free)


def test_activations_at_extreme_inputs_are_exact_and_silent():
    """Very negative pre-activations overflow exp(-z) to inf: the results are the exact limits (silu 0,
    sigmoid 0) and no RuntimeWarning reaches the user's console."""
    import warnings

    z = np.array([-1000.0, -100.0, 0.0, 100.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = infer._sigmoid(z.copy())
        silu = infer._silu(z.copy())
    np.testing.assert_allclose(sig, [0.0, 0.0, 0.5, 1.0], atol=1e-30)
    np.testing.assert_allclose(silu, [0.0, 0.0, 0.0, 100.0], atol=1e-30)


def test_schedule_matches_torch():
    for schedule in ("cosine", "linear"):
        np.testing.assert_allclose(infer.alphas_cumprod(1000, schedule),
                                   Diffusion(1000, schedule).ab.numpy(), rtol=1e-6)


def _sample_args(n: int) -> tuple:
    """Arguments of infer.sample for n guided rows of the test networks: 10 steps, seed 7, range ±1.5."""
    den, clf = _nets()
    labels = np.random.default_rng(1).integers(0, 5, n)
    lo, hi = np.full(12, -1.5, np.float32), np.full(12, 1.5, np.float32)
    return (_numpy(den), infer.alphas_cumprod(100, "cosine"), n, 12, 10, 7, lo, hi, 1.0,
            infer.guidance(_numpy(clf), labels, 1.0))


def test_sample_is_the_same_on_any_thread_count_and_clipped():
    args = _sample_args(5000)
    one = infer.sample(*args, batch=1024)
    two = infer.sample(*args, executor=LocalExecutor(2), batch=1024)
    np.testing.assert_array_equal(one, two)
    assert one.min() >= -1.5 and one.max() <= 1.5
    other = infer.sample(*args[:5], 8, *args[6:], batch=1024)
    assert not np.array_equal(one, other)  # another seed, other rows


def test_ray_workers_draw_the_same_rows_as_local_threads():
    """A local Ray cluster (two workers) and this process give identical rows for one seed."""
    import ray

    from clavadb.executor import RayExecutor

    args = _sample_args(3000)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor()
        assert executor.workers == 2
        np.testing.assert_array_equal(infer.sample(*args, executor=executor, batch=512),
                                      infer.sample(*args, executor=LocalExecutor(1), batch=512))
    finally:
        ray.shutdown()


class _Recording:
    """An executor that runs each item here and keeps the items it was given."""

    workers = 2

    def __init__(self):
        self.items: list = []

    def map(self, fn, items):
        self.items += list(items)
        return [fn(i) for i in items]


def test_a_table_of_a_few_thousand_rows_spreads_over_the_workers():
    """The default batch is small enough that a small table's draw is several batches (else one core does
    all of it), and the rows are those of one worker."""
    executor = _Recording()
    rows = infer.sample(*_sample_args(1500), executor=executor)
    assert len(executor.items) >= 2
    np.testing.assert_array_equal(rows, infer.sample(*_sample_args(1500), executor=LocalExecutor(2)))


def test_strided_steps_run_from_the_noisiest_down_to_zero():
    for steps in (1, 2, 5, 10, 30, 1000, 5000):
        seq = infer.strided_steps(1000, steps)
        assert len(seq) == min(steps, 1000)
        assert seq[0] == 999 and (steps == 1 or seq[-1] == 0)
        assert (np.diff(seq) < 0).all()
    np.testing.assert_array_equal(infer.strided_steps(1000, 30),
                                  np.unique(np.linspace(0, 999, 30).round().astype(np.int64))[::-1])


def test_fewer_steps_keep_shape_range_and_determinism_and_change_the_rows():
    args = list(_sample_args(2000))
    for steps in (3, 10):
        args[4] = steps
        one = infer.sample(*args)
        assert one.shape == (2000, 12) and one.min() >= -1.5 and one.max() <= 1.5
        np.testing.assert_array_equal(one, infer.sample(*args, executor=LocalExecutor(2)))
    args[4] = 3
    assert not np.array_equal(infer.sample(*args), one)  # the step count is used, not ignored


def test_no_overflow_warning_for_large_pre_activations():
    """SiLU and sigmoid of very negative inputs (exp(-z) past float32's range) stay finite and quiet."""
    z = np.array([[-200.0, -90.0, 0.0, 90.0, 200.0]], np.float32)
    with np.errstate(all="raise"):
        silu = infer._silu(z.copy())
        sig = infer._sigmoid(z)
    np.testing.assert_allclose(silu, torch.nn.functional.silu(torch.from_numpy(z)).numpy(), atol=1e-6)
    np.testing.assert_allclose(sig, torch.sigmoid(torch.from_numpy(z)).numpy(), atol=1e-6)


def _plain_shifted_argmax(scores: np.ndarray, share: np.ndarray, sweeps: int) -> np.ndarray:
    """The coordinate ascent of space.shifted_argmax written out directly, O(n m^2) per sweep."""
    n, m = scores.shape
    target = np.round(share * n).astype(np.int64)
    target[np.argmax(target)] += n - target.sum()
    scores = scores.astype(np.float64)
    b = np.zeros(m)
    for _ in range(sweeps):
        for j in range(m):
            s = scores + b
            s_j = s[:, j].copy()
            s[:, j] = -np.inf
            d = s_j - s.max(axis=1)
            t = int(target[j])
            if t <= 0:
                b[j] -= max(float(d.max()), 0.0) + 1e-6
            elif t >= n:
                b[j] -= min(float(d.min()), 0.0) - 1e-6
            else:
                part = np.partition(d, [n - t - 1, n - t])
                b[j] -= (part[n - t - 1] + part[n - t]) / 2
        counts = np.bincount((scores + b).argmax(axis=1), minlength=m)
        if np.abs(counts - target).max() <= max(1, n // 1000):
            break
    return (scores + b).argmax(axis=1)


def test_shifted_argmax_equals_the_plain_coordinate_ascent_and_meets_the_shares():
    from clavadb.model import space

    rng = np.random.default_rng(3)
    for n, m in ((1, 1), (7, 9), (1000, 2), (3000, 21)):
        scores = (rng.standard_normal((n, m)) + rng.standard_normal(m)).astype(np.float32)
        share = rng.dirichlet(np.ones(m))
        if m > 2:
            share[1] = 0.0
            share /= share.sum()
        got = space.shifted_argmax(scores, share)
        np.testing.assert_array_equal(got, _plain_shifted_argmax(scores, share, space._SWEEPS))
        if n >= 1000:
            np.testing.assert_allclose(np.bincount(got, minlength=m) / n, share, atol=2e-3)
