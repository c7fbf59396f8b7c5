r"""The first variation :math:`\frac{\delta R}{\delta\nu}` away from the head particles.

Model page, "Risk" (the dictionary between the discrete and continuous adjoints). The adjoint of
:mod:`.adjoint` gives the gradient at the particles; :func:`first_variation` evaluates
:math:`G_\ell(\theta)`, the discrete first variation :math:`\frac{\delta R}{\delta\nu}(s_\ell,
\theta)`, at any head, and :func:`probe_derivative` the derivative of the risk when a head of
vanishing mass is added, which it must equal up to its constant (chapter 2).
"""

from functools import partial

import jax
import jax.numpy as jnp

from .adjoint import discrete_adjoint
from .attention import Heads, LayerField
from .errors import ParameterError
from .measures import EmpiricalMeasure
from .risk import Targets
from .types import Array, Float

__all__ = ["first_variation", "probe_derivative"]


def first_variation(
    A: Float[Array, "P d d"],
    V: Float[Array, "P d d"],
    z: Float[Array, "B nk d"],
    lam: Float[Array, "B nk d"],
    loga: Float[Array, "B n"],
) -> Float[Array, " P"]:
    r"""The discrete first variation :math:`G_\ell(\theta)` at ``P`` arbitrary heads.

    .. math::

        G_\ell(\theta) = \sum_i \sum_k
            \big\langle \lambda^{\ell+1}_{ik}, \Gamma_\theta(\mu^\ell_i, z^\ell_{ik})\big\rangle
        \;\longleftrightarrow\; \frac{\delta R}{\delta\nu}(s_\ell, \theta),\qquad
        \nabla_\theta G_\ell(\theta_{\ell m}) = LM\,\nabla_{\theta_{\ell m}} R ,

    with :math:`k` over the atoms and the queries and
    :math:`\mu^\ell_i = \sum_j a_{ij}\delta_{z^\ell_{ij}}`; the heads need not be particles of
    the network (Model: risk, the dictionary between the discrete and continuous adjoints).
    Evaluated head by head (``vmap`` over the ``P`` heads).

    Args:
        A, V: the heads :math:`\theta_p = (A_p, V_p)`, float64 arrays (P, d, d).
        z: the states :math:`z^\ell` before layer :math:`\ell`, float64 array (B, n + k, d)
            (atoms then queries; ``AdjointResult.states[l]``).
        lam: the adjoint :math:`\lambda^{\ell+1}` after it, same shape
            (``AdjointResult.lams[l + 1]``).
        loga: the atoms' log-weights, float64 array (B, n); the keys are the first n points.

    Returns:
        :math:`G_\ell(\theta_p)`, float64 array (P,).
    """
    n = loga.shape[-1]
    if A.ndim != 3 or A.shape != V.shape or z.shape != lam.shape or z.shape[-1] != A.shape[-1]:
        raise ParameterError(
            f"first_variation: A {tuple(A.shape)}, V {tuple(V.shape)}, z {tuple(z.shape)}, lam "
            f"{tuple(lam.shape)}; allowed A, V (P, d, d) and z, lam (B, n + k, d) alike."
        )
    return _first_variation(A, V, z, lam, loga, n)


@partial(jax.jit, static_argnames=("n",))
def _first_variation(A, V, z, lam, loga, n):
    def G(A1, V1):  # Σ_i Σ_k ⟨λ_ik, V m_{μ_i}(A z_ik)⟩ for one head
        tilted_mean = jax.vmap(lambda x, la, y: LayerField(A1[None]).tilt(x, la, y)[2][0])
        m = tilted_mean(z[:, :n], loga, z)
        return jnp.sum(lam * jnp.einsum("ij,bkj->bki", V1, m))

    return jax.vmap(G)(A, V)


def probe_derivative(
    theta: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    layer: int,
    A: Float[Array, "P d d"],
    V: Float[Array, "P d d"],
    chunk: int | None = None,
    mesh=None,
) -> Float[Array, " P"]:
    r"""The derivative of the risk when a head of vanishing mass is added at :math:`\theta_p`.

    Layer :math:`\ell`'s measure becomes :math:`(1-\varepsilon)\nu_\ell+\varepsilon\delta_\theta`;
    by the discrete adjoint of the Euler network (Model: risk)

    .. math::

        \frac{dR}{d\varepsilon}\Big|_{\varepsilon=0}
          = h\Big(G_\ell(\theta) - \frac1M\sum_m G_\ell(\theta_{\ell m})\Big),

    the first variation without its constant (:func:`first_variation`).

    Args:
        theta: layer-wise heads, float64 arrays (L, M, d, d); Euler network.
        mu, xi, targets: as in :func:`~mftransformer.solver.risk.risk`.
        layer: :math:`\ell`, in :math:`0, \dots, L - 1`.
        A, V: the probe heads, float64 arrays (P, d, d).
        chunk, mesh: as in :func:`~mftransformer.solver.forward.forward`.

    Returns:
        :math:`dR/d\varepsilon` for each probe, float64 array (P,).

    Raises:
        ParameterError: a layer outside the network, bad shapes.
    """
    if not 0 <= layer < theta.L:
        raise ParameterError(
            f"probe_derivative: layer = {layer}; allowed 0 .. {theta.L - 1} (L = {theta.L})."
        )
    out = discrete_adjoint(theta, mu, xi, targets, trace=True, chunk=chunk, mesh=mesh)
    z, lam = out.states[layer], out.lams[layer + 1]
    P = A.shape[0]  # one call for the probes and the particles: one compiled program
    G = first_variation(
        jnp.concatenate([A, theta.A[layer]]), jnp.concatenate([V, theta.V[layer]]), z, lam, mu.loga
    )
    return (G[:P] - jnp.mean(G[P:])) / theta.L
