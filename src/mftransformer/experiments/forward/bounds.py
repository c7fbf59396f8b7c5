r"""Chapter 1: the Lipschitz bounds of Result 1 for the Euler network, and the measured worst case.

The bounds (informal restatement of Result 1, our reconstruction; the chapter's "Stability"
section) are a priori: they use only the heads and the support radii :math:`R_\ell` of the
support bound. With :math:`|\cdot|` the operator norm of a head's matrices,

.. math::

    \Lambda_\ell = \frac1M\sum_m |V_{\ell m}|\Big(|A_{\ell m}|R_\ell^2
        + e^{2|A_{\ell m}|R_\ell^2}\big(1 + 2|A_{\ell m}|R_\ell^2\big)\Big)

bounds the Lipschitz constant of one layer's field in the tokens, through the query
(:math:`\partial_x F`) and through the measure (:math:`D_\mu F`). Then

* tokens, in :math:`L^2(\mu)` and in :math:`W_1`:
  :math:`C_{\rm tok} = \prod_\ell (1 + h\Lambda_\ell) \le e^{\int_0^1\Lambda}`;
* heads, from the synchronous distance to :math:`L^2(\mu)`:
  :math:`C_\theta = \big(\frac1L\sum_\ell c_\ell^2 P_\ell^2\big)^{1/2}` with
  :math:`c_\ell^2 = \frac1M\sum_m (R_\ell^6|V_{\ell m}|^2 + R_\ell^2)` (the size of
  :math:`\partial_\theta\Gamma`) and :math:`P_\ell = \prod_{\ell' > \ell}(1 + h\Lambda_{\ell'})`.

Both are returned as :math:`\log_{10}`: they are far beyond float64 for strong heads.

The measured constant is the norm of the network's Jacobian, found by power iteration on
:math:`K^\top K` with ``jax.jvp`` and ``jax.vjp`` (:func:`power_iteration`).
"""

import jax
import jax.numpy as jnp

from ...solver.forward import support_bound

__all__ = [
    "field_lipschitz",
    "log10_token_bound",
    "log10_head_bound",
    "power_iteration",
]


def _norms(theta):
    r"""Operator norms :math:`|A_{\ell m}|`, :math:`|V_{\ell m}|`, each float64 array (L, M)."""
    op = lambda X: jnp.linalg.norm(X, ord=2, axis=(-2, -1))  # noqa: E731
    return op(theta.A), op(theta.V)


def field_lipschitz(theta, R0):
    r""":math:`\Lambda_\ell` (module docstring) with :math:`R_\ell` the support bound from
    :math:`R_0`; float64 array (L,)."""
    a, v = _norms(theta)
    R2 = support_bound(theta, R0)[:-1, None] ** 2  # (L, 1)
    t = a * R2
    return jnp.mean(v * (t + jnp.exp(2 * t) * (1 + 2 * t)), axis=1)


def log10_token_bound(theta, R0):
    r""":math:`\log_{10} C_{\rm tok} = \log_{10}\prod_\ell(1 + h\Lambda_\ell)`."""
    lam = field_lipschitz(theta, R0)
    return jnp.sum(jnp.log1p(lam / theta.L)) / jnp.log(10.0)


def log10_head_bound(theta, R0):
    r""":math:`\log_{10} C_\theta` (module docstring), in logs throughout."""
    _, v = _norms(theta)
    R = support_bound(theta, R0)[:-1]
    log_c = 0.5 * jnp.log(jnp.mean(R[:, None] ** 6 * v**2 + R[:, None] ** 2, axis=1))
    steps = jnp.log1p(field_lipschitz(theta, R0) / theta.L)
    log_P = jnp.cumsum(steps[::-1])[::-1] - steps  # Σ over ℓ' > ℓ
    log_mean = jax.scipy.special.logsumexp(2 * (log_c + log_P)) - jnp.log(theta.L)
    return 0.5 * log_mean / jnp.log(10.0)


def power_iteration(f, x, u0, iterations: int):
    r"""Largest singular value of the Jacobian of ``f`` at ``x``: ``iterations`` steps of
    :math:`u \leftarrow K^\top K u / |K^\top K u|`, :math:`K = Df(x)`.

    Args:
        f: a map between float64 arrays (norms already built into ``f``: Euclidean in and out).
        x: the point; u0: the first direction, same shape as ``x``.

    Returns:
        ``(sigma, u)``: float64 array (iterations,) of :math:`|K u|` at each step (the
        Rayleigh quotient's root, increasing to :math:`|K|`) and the last unit direction.
    """
    _, vjp = jax.vjp(f, x)

    def step(u, _):
        _, Ku = jax.jvp(f, (x,), (u,))
        (KtKu,) = vjp(Ku)
        return KtKu / jnp.linalg.norm(KtKu), jnp.linalg.norm(Ku)

    u, sigma = jax.lax.scan(step, u0 / jnp.linalg.norm(u0), None, length=iterations)
    return sigma, u
