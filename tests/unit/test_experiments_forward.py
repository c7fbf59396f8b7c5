"""Chapter 1 at small size: the checks of MATH.md §7 asserted by calling the chapter's own
experiment functions (the rates are in tests/rates/test_forward_rates.py), plus the
width-reference helpers and the figures."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import PADDED_HEADS_ATOL

import mftransformer as mft
from mftransformer import tasks
from mftransformer.experiments import forward as ch
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("forward", "ci", {section: overrides}), section)


def test_trajectories_support_bound():
    p = ci("trajectories", n=6, N=2, L=8, M=4, sigma_V=1.5, spread=1.0)
    r = ch.trajectories(p, key=KEY)
    assert r.data["z"].shape == (9, 2, 6, 2)
    assert r.ratio <= ch.CLAIMS["support_bound"].band, r.check
    r.check.require()
    assert str(r.check).startswith("support_bound = ")


def test_flow_is_a_diffeomorphism_and_the_euler_map_folds():
    p = ci("flow", n=5, L=8, grid=7, s=(0.0, 1.0), Ls=(1, 2, 8), L_flow=32)
    r = ch.flow(p, key=KEY)
    assert r.data["grid"].shape == (2, 7, 7, 2) and r.data["det"].shape == (7, 7)
    np.testing.assert_allclose(r.data["grid"][0, 0, :, 0], np.linspace(-2, 2, 7), atol=1e-15)
    assert r.min_det > ch.CLAIMS["diffeo"].band, r.check
    assert [c.name for c in r.check] == ["diffeo", "euler_fold"]
    assert r.data["min_det_euler"].shape == (3,)


def test_fold_step_interpolates_and_fails_when_nothing_folds():
    h = np.array([1.0, 0.5, 0.25])
    assert ch.run._fold_step(h, np.array([-1.0, -1.0, 1.0])) == pytest.approx(0.375)
    assert np.isnan(ch.run._fold_step(h, np.array([1.0, 1.0, 1.0])))  # no fold: FAIL
    assert np.isnan(ch.run._fold_step(h, np.array([-1.0, -1.0, -1.0])))  # finest folds: FAIL
    assert not ch.CLAIMS["euler_fold"].check(0.0).passed  # what flow() checks for a nan h*


def test_dynamic_depth_network_is_the_forward_pass():
    theta = tasks.smooth_heads(3, 2, key=KEY)
    mu = mft.sample_gaussian(jax.random.key(1), 1, 5, 2)
    xi = jnp.array([[1.0, 0.0]])
    for scheme in ("euler", "rk4"):
        z = ch.run._network(theta, mu, xi, jnp.asarray(6), scheme)
        np.testing.assert_allclose(z, mft.forward(theta, mu, xi, L=6, scheme=scheme).z, atol=1e-14)


def test_flow_determinant_matches_finite_differences():
    p = ci("flow", n=5, L=4, grid=3, extent=1.0, s=(1.0,), Ls=(1, 4), L_flow=8)
    r = ch.flow(p, key=KEY)
    g = tasks.generic_init(2, p.M, 2, key=jax.random.fold_in(KEY, ch.HEADS), sigma_V=p.sigma_V)
    theta = mft.SmoothHeads(g.A[0], g.A[1], g.V[0], g.V[1]).discretise(4)
    mu = mft.sample_gaussian(jax.random.fold_in(KEY, ch.DATA), 1, 5, 2)
    y, eps = jnp.array([1.0, -1.0]), 1e-6
    x1 = lambda y: mft.forward(theta, mu, y[None, None]).queries[0, 0]  # noqa: E731
    J = jnp.stack([(x1(y + eps * e) - x1(y - eps * e)) / (2 * eps) for e in jnp.eye(2)], axis=1)
    np.testing.assert_allclose(r.data["det"][0, 2], jnp.linalg.det(J), rtol=1e-7)


def test_stability_worst_case_and_bounds():
    p = ci("stability", n=6, L=8, M=4, iterations=60)
    r = ch.stability(p, key=KEY)
    assert r.data["ratio_theta"].shape == (5, 5) and r.data["ratio_tokens"].shape == (5, 5)
    for kind in ("theta", "tokens"):
        sigma = r.data[f"sigma_{kind}"]
        assert np.all(np.diff(sigma, axis=1) >= -1e-12 * sigma[:, 1:]), "power iteration rises"
        # the finite ratios along the worst direction approach the Jacobian's norm
        np.testing.assert_allclose(r.data[f"ratio_{kind}"][:, -1], sigma[:, -1], rtol=1e-2)
    r.check.require()


def test_power_iteration_finds_the_largest_singular_value():
    K = jax.random.normal(KEY, (6, 4))
    sigma, _ = ch.bounds.power_iteration(lambda x: K @ x, jnp.zeros(4), jnp.ones(4), 60)
    np.testing.assert_allclose(sigma[-1], jnp.linalg.norm(K, 2), rtol=1e-8)


def test_check_lines_are_named_as_in_math():
    p = ci("stability", n=4, L=2, M=2, deltas=(0.001, 0.0001), iterations=3)
    names = [c.name for c in ch.stability(p, key=KEY).check]
    assert names == [
        "stability_theta",
        "stability_tokens",
        "lipschitz_theta",
        "lipschitz_tokens",
        "stability_w1",
    ]


def test_padded_heads_give_the_same_network():
    mix = tasks.width_reference(3, 2, key=KEY)
    mu = mft.sample_gaussian(jax.random.key(1), 1, 4, 2)
    xi = jnp.array([[1.0, 0.0]])
    theta = mix.sample(4, 5, key=jax.random.key(2))
    padded = mft.Heads(
        jnp.concatenate([theta.A, jnp.ones((4, 3, 2, 2))], axis=1),
        jnp.concatenate([theta.V * 8 / 5, jnp.zeros((4, 3, 2, 2))], axis=1),
    )
    np.testing.assert_allclose(
        mft.forward(padded, mu, xi).z, mft.forward(theta, mu, xi).z, atol=PADDED_HEADS_ATOL
    )


def test_head_mixture_exact_field_is_the_mean_field():
    mix = tasks.width_reference(2, 2, key=KEY, sigma=0.5)
    mu = mft.sample_gaussian(jax.random.key(1), 1, 4, 2)
    z = jax.random.normal(jax.random.key(3), (1, 3, 2))
    exact = mix.exact(1)
    assert exact.A.shape == (1, 2, 2, 2)
    many = mix.sample(1, 40_000, key=jax.random.key(4))
    err = float(
        jnp.max(
            jnp.abs(
                mft.field(many.A[0], many.V[0], mu, z) - mft.field(exact.A[0], exact.V[0], mu, z)
            )
        )
    )
    assert err < 3e-2, f"40000 sampled heads vs exact field: {err:.3e}"  # ~ 0.5·|m|/sqrt(M)


def test_head_mixture_tied_repeats_layers():
    theta = tasks.width_reference(2, 2, key=KEY).sample(3, 4, key=jax.random.key(5), tied=True)
    np.testing.assert_array_equal(theta.A[0], theta.A[2])
    np.testing.assert_array_equal(theta.V[0], theta.V[1])


def test_head_mixture_errors(without_shape_hints):
    with pytest.raises(ParameterError, match="width_reference: sigma = -1.0; allowed sigma >= 0"):
        tasks.width_reference(2, 2, key=KEY, sigma=-1.0)
    with pytest.raises(ParameterError, match="width_reference: K = 0; allowed integer >= 1"):
        tasks.width_reference(0, 2, key=KEY)
    with pytest.raises(ParameterError, match=r"HeadMixture: A_bar has shape \(2, 2, 2\) and V_bar"):
        tasks.HeadMixture(jnp.zeros((2, 2, 2)), jnp.zeros((3, 2, 2)), 1.0)
    mix = tasks.width_reference(2, 2, key=KEY)
    with pytest.raises(ParameterError, match="HeadMixture.sample: M = 0"):
        mix.sample(2, 0, key=KEY)
    with pytest.raises(ParameterError, match="HeadMixture.exact: L = 0"):
        mix.exact(0)


def test_ci_parameters_load_and_plots_draw(tmp_path, monkeypatch):
    cfg = mft.params.load("forward", "ci")
    assert cfg.width.Ls == (16, 64) and cfg.depth.fit_from == 16
    full = mft.params.load("forward", "full")
    assert full.depth.d >= cfg.depth.d
    small = dataclasses.replace(cfg.stability, n=4, L=2, M=2, iterations=3)
    r = ch.stability(small, key=cfg.key("stability"))
    fig = ch.plot_stability(r)
    assert len(fig.axes) == 3
    monkeypatch.setenv("MFT_FIGURE_DIR", str(tmp_path))
    mft.save_figure(fig, "ch1-stability-test", result=r, params=cfg)
    assert (tmp_path / "ch1-stability-test.json").is_file()
