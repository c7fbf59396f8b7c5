"""Unit tests of schemes.py: the Butcher tableaux, their orders, and one step on a pytree."""

import jax.numpy as jnp
import numpy as np
import pytest

from mftransformer.solver.schemes import EULER, HEUN, RK4, SCHEMES, ButcherTableau


@pytest.mark.parametrize("tableau", [EULER, HEUN, RK4], ids=lambda t: t.name)
def test_tableaux_are_consistent(tableau):
    # Σ b_i = 1 and c_i = Σ_j a_ij: the scheme integrates constants and time exactly
    assert sum(tableau.b) == pytest.approx(1.0, abs=1e-15)
    for c_i, row in zip(tableau.c, tableau.a, strict=True):
        assert sum(row) == pytest.approx(c_i, abs=1e-15)
    assert SCHEMES[tableau.name] is tableau


@pytest.mark.parametrize("tableau", [EULER, HEUN, RK4], ids=lambda t: t.name)
def test_order_on_a_time_dependent_ode(tableau):
    # ẏ = cos(c) y on [0, 1] in n steps, exact y(1) = e^{sin 1}: the error falls like n^{-order}
    def solve(n):
        h, y = 1.0 / n, jnp.ones(())
        for k in range(n):
            y = tableau.step(lambda c, u, k=k: jnp.cos((k + c) * h) * u, y, h)
        return float(y)

    errors = [abs(solve(n) - np.exp(np.sin(1.0))) for n in (8, 16)]
    slope = np.log2(errors[0] / errors[1])
    assert abs(slope - tableau.order) < 0.2, f"{tableau.name}: observed order {slope:.2f}"


def test_step_on_a_pytree_backwards():
    # the continuous adjoint steps (z, λ) with h < 0; ż = z, λ̇ = −λ: one RK4 step back from 1
    h = -0.01
    z, lam = RK4.step(lambda c, y: (y[0], -y[1]), (jnp.ones(()), jnp.ones(())), h)
    assert float(z) == pytest.approx(np.exp(h), rel=1e-11)
    assert float(lam) == pytest.approx(np.exp(-h), rel=1e-11)


def test_inconsistent_tableau_is_refused():
    with pytest.raises(ValueError, match="c, a, b do not describe one scheme"):
        ButcherTableau(name="bad", order=2, c=(0.0, 1.0), a=((),), b=(0.5, 0.5))
