"""Unit tests of gradflow (scaling, histories, bad input), diagnostics and the checkpointed runs of
companion.store (resume, refusal, divergence)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import GRADFLOW_FLOW_ENERGY_RTOL, SAME_ALGEBRA_RTOL

from mftransformer import tasks
from mftransformer.companion import store
from mftransformer.solver import diagnostics
from mftransformer.solver import gradflow as gf
from mftransformer.solver.adjoint import GRADIENT_METHODS, Targets, cot_gradient, risk
from mftransformer.solver.attention import meanfield_scale
from mftransformer.solver.errors import ParameterError, SolveFailed
from mftransformer.solver.measures import sample_cloud

KEY = jax.random.key(3)


def readout_task(key, d, n, N):
    """Task C: clouds, the common query ``ξ_0 = (1, .5, 0…)``, readout ``W = (1, −.5, 0…)``,
    labels ``y ~ N(0, 1)`` (the chapter-3 energy task)."""
    mu = sample_cloud(jax.random.fold_in(key, 0), N, n, d, scale=0.8)
    e = jnp.zeros(d).at[0].set(1.0)
    xi = jnp.tile(e.at[1].set(0.5), (N, 1))
    y = jax.random.normal(jax.random.fold_in(key, 2), (N, 1))
    return mu, xi, Targets(W=e.at[1].set(-0.5)[None, :], y=y)


@pytest.fixture(scope="module")
def problem():
    mu, xi, targets = readout_task(KEY, 2, 5, 4)
    theta0 = tasks.generic_init(2, 4, 2, key=jax.random.fold_in(KEY, 1))
    return theta0, mu, xi, targets


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_one_meanfield_scale_everywhere(problem, method):
    theta0, mu, xi, targets = problem
    # MATH.md §8.3: cot_gradient (every method), gd_step and ||g||^2 all use meanfield_scale
    plain = jax.grad(lambda th: risk(th, mu, xi, targets))(theta0)
    LM = meanfield_scale(theta0)
    assert LM == theta0.L * theta0.M
    _, g = cot_gradient(theta0, mu, xi, targets, method=method)
    for leaf, ref in ((g.A, plain.A), (g.V, plain.V)):
        rel = float(jnp.linalg.norm(leaf - LM * ref) / jnp.linalg.norm(LM * ref))
        # the continuous adjoint reverses the states by Euler, O(h) off the network's gradient
        # (measured 0.19 and 0.25 at L = 2); a wrong factor, L M = 8 or 1, is off by >= 7/8
        bound = 0.5 if method == "continuous" else SAME_ALGEBRA_RTOL["float64"]
        assert rel < bound, f"{method}: |g - L M grad R| / |L M grad R| = {rel:.2e}"
    new = gf.gd_step(theta0, g, eta=0.1)
    np.testing.assert_allclose((theta0.A - new.A) / 0.1, g.A, rtol=1e-12, atol=1e-14)


def test_gd_step_is_meanfield_scaling(problem):
    theta0, mu, xi, targets = problem
    _, g = cot_gradient(theta0, mu, xi, targets, method="autodiff")
    # one scaling everywhere: the step is eta L M times the plain gradient; ||g||^2 = LM sum|grad|^2
    plain = jax.grad(lambda th: risk(th, mu, xi, targets))(theta0)
    LM = theta0.L * theta0.M
    new = gf.gd_step(theta0, g, eta=0.1)
    np.testing.assert_allclose(
        (theta0.A - new.A) / 0.1, LM * plain.A, rtol=SAME_ALGEBRA_RTOL["float64"], atol=1e-14
    )
    g2 = float(gf.cot_norm2(g))
    ref = LM * float(jnp.sum(plain.A**2) + jnp.sum(plain.V**2))
    assert abs(g2 - ref) <= 1e-12 * ref, f"||g||^2 = {g2} vs L M sum |grad R|^2 = {ref}"


def test_train_history_shapes_and_snapshots(problem):
    theta0, mu, xi, targets = problem
    h = gf.train(theta0, mu, xi, targets, eta=0.05, steps=6, snapshot_every=3, method="autodiff")
    assert h.t.shape == h.R.shape == h.g2.shape == (7,)
    assert h.snapshots.A.shape == (3, 2, 4, 2, 2)
    np.testing.assert_allclose(h.snapshot_t, [0.0, 0.15, 0.3])
    np.testing.assert_array_equal(h.snapshots.A[0], theta0.A)
    np.testing.assert_array_equal(h.snapshots.A[-1], h.theta.A)
    assert int(h.first_bad_step) == -1
    assert np.all(np.diff(np.asarray(h.R)) < 0), "small-step gradient descent decreases R"


def test_train_matches_manual_steps(problem):
    theta0, mu, xi, targets = problem
    h = gf.train(theta0, mu, xi, targets, eta=0.05, steps=3, method="autodiff")
    th = theta0
    for k in range(3):
        R, g = cot_gradient(th, mu, xi, targets, method="autodiff")
        assert abs(float(R) - float(h.R[k])) <= 1e-13
        th = gf.gd_step(th, g, eta=0.05)
    np.testing.assert_allclose(h.theta.A, th.A, rtol=0, atol=1e-13)


def test_train_is_deterministic_and_does_not_recompile(problem):
    theta0, mu, xi, targets = problem
    h1 = gf.train(theta0, mu, xi, targets, eta=0.05, steps=4)
    size = gf.train_scan._cache_size()
    h2 = gf.train(theta0, mu, xi, targets, eta=0.03, steps=4)
    h3 = gf.train(theta0, mu, xi, targets, eta=0.05, steps=4)
    assert gf.train_scan._cache_size() == size, "a new eta must not recompile"
    np.testing.assert_array_equal(h1.theta.A, h3.theta.A)
    assert not np.array_equal(h1.theta.A, h2.theta.A)


def test_diagnostics():
    t = np.linspace(0, 1, 11)
    R = 1 - t**2 / 2  # dR/dt = -t: g2 = t gives a zero trapezoid defect (linear integrand)
    assert abs(diagnostics.energy_defect(t, R, t)) < 1e-12
    assert diagnostics.energy_defect(t, R, t, rule="left") > 0
    assert diagnostics.dissipation_ratio(1.0, 0.9, 1.0, 0.1) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="rule = 'trapz'.*Did you mean 'trapezoid'"):
        diagnostics.energy_defect(t, R, t, rule="trapz")


def test_sync_distance(problem):
    theta0 = problem[0]
    shifted = jax.tree_util.tree_map(lambda v: v + 0.5, theta0)
    # every entry moves by 0.5: |Δθ_lm|² = 2 d² 0.25 per head
    assert float(diagnostics.sync_distance(shifted, theta0)) == pytest.approx(
        math.sqrt(2 * 4 * 0.25)
    )


def test_flow_energy_identity(problem):
    theta0, mu, xi, targets = problem
    h = gf.flow(theta0, mu, xi, targets, T=0.5, n_save=5, method="autodiff")
    drop = float(h.R[0] - h.R[-1])
    assert drop > 0
    resid = abs(drop - float(h.dissipated[-1])) / drop
    assert resid < GRADFLOW_FLOW_ENERGY_RTOL, f"flow energy residual {resid:.2e}"


def test_chunked_resume_is_bit_identical(problem, tmp_path):
    theta0, mu, xi, targets = problem
    kw = dict(eta=0.05, chunk=4, snapshot_every=2, method="autodiff")
    full = store.train_chunked(
        theta0, mu, xi, targets, steps=12, checkpoint=tmp_path / "a.npz", **kw
    )
    # an interrupted run: 8 steps saved, then resumed to 12 from the file
    store.train_chunked(theta0, mu, xi, targets, steps=8, checkpoint=tmp_path / "b.npz", **kw)
    resumed = store.train_chunked(
        theta0, mu, xi, targets, steps=12, checkpoint=tmp_path / "b.npz", **kw
    )
    for a, b in zip(
        jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    one_shot = gf.train(theta0, mu, xi, targets, steps=12, eta=0.05, method="autodiff")
    np.testing.assert_array_equal(full.theta.A, one_shot.theta.A)
    np.testing.assert_array_equal(full.R, one_shot.R)
    assert full.snapshots.A.shape[0] == 7
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"


def test_resume_refuses_other_parameters(problem, tmp_path):
    theta0, mu, xi, targets = problem
    path = tmp_path / "c.npz"
    store.train_chunked(
        theta0, mu, xi, targets, eta=0.05, steps=8, chunk=4, checkpoint=path, method="autodiff"
    )
    with pytest.raises(ParameterError, match="written for other parameters"):
        store.train_chunked(
            theta0, mu, xi, targets, eta=0.04, steps=8, chunk=4, checkpoint=path, method="autodiff"
        )
    with pytest.raises(ParameterError, match="steps = 4; allowed >= 8"):
        store.train_chunked(
            theta0, mu, xi, targets, eta=0.05, steps=4, chunk=4, checkpoint=path, method="autodiff"
        )
    bad = tmp_path / "d.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ParameterError, match="unreadable"):
        store.train_chunked(
            theta0, mu, xi, targets, eta=0.05, steps=4, chunk=4, checkpoint=bad, method="autodiff"
        )


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(problem, eta):
    theta0, mu, xi, targets = problem
    with pytest.raises(ParameterError, match="eta = .*allowed a finite number > 0"):
        gf.train(theta0, mu, xi, targets, eta=eta, steps=2)
    with pytest.raises(ParameterError, match="eta = .*allowed a finite number > 0"):
        store.train_chunked(theta0, mu, xi, targets, eta=eta, steps=2, chunk=2)


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_horizon(problem, T):
    theta0, mu, xi, targets = problem
    with pytest.raises(ParameterError, match="T = .*allowed a finite number > 0"):
        gf.flow(theta0, mu, xi, targets, T=T)


def test_bad_sizes_and_method(problem):
    theta0, mu, xi, targets = problem
    with pytest.raises(ParameterError, match="steps = 0; allowed integer >= 1"):
        gf.train(theta0, mu, xi, targets, eta=0.1, steps=0)
    with pytest.raises(
        ParameterError, match="snapshot_every = 4; allowed an integer >= 1 dividing"
    ):
        gf.train(theta0, mu, xi, targets, eta=0.1, steps=6, snapshot_every=4)
    with pytest.raises(ParameterError, match="chunk = 4; allowed an integer >= 1 dividing"):
        store.train_chunked(theta0, mu, xi, targets, eta=0.1, steps=6, chunk=4)
    with pytest.raises(ParameterError, match="snapshot_every = 3; allowed a divisor or a multiple"):
        store.train_chunked(theta0, mu, xi, targets, eta=0.1, steps=12, chunk=4, snapshot_every=3)
    with pytest.raises(ParameterError, match="method = 'exakt'"):
        gf.train(theta0, mu, xi, targets, eta=0.1, steps=2, method="exakt")
    with pytest.raises(ParameterError, match="n_save = 1; allowed integer >= 2"):
        gf.flow(theta0, mu, xi, targets, T=1.0, n_save=1)
    with pytest.raises(ParameterError, match="rtol = 0.0; allowed a finite number > 0"):
        gf.flow(theta0, mu, xi, targets, T=1.0, rtol=0.0)


def test_divergence_stops_at_the_bad_step(problem):
    theta0, mu, xi, targets = problem
    with pytest.raises(
        SolveFailed, match=r"became non-finite at step \d+ .*Lower the learning rate"
    ):
        gf.train(theta0, mu, xi, targets, eta=1e6, steps=20, method="autodiff")
    h = gf.train(theta0, mu, xi, targets, eta=1e6, steps=20, method="autodiff", throw=False)
    k = int(h.first_bad_step)
    assert 0 < k < 20
    assert np.all(np.isfinite(h.R[:k])) and not np.isfinite(h.R[k])
    with pytest.raises(SolveFailed, match="became non-finite at step"):
        store.train_chunked(theta0, mu, xi, targets, eta=1e6, steps=20, chunk=10, method="autodiff")


@pytest.mark.slow
def test_flow_failure_is_reported(problem):
    theta0, mu, xi, targets = problem
    with pytest.raises(SolveFailed, match="flow: the diffrax solve on"):
        gf.flow(theta0, mu, xi, targets, T=1.0, max_steps=2, method="autodiff")
