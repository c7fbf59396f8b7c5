r"""Chapter 2: the first variation away from the particles (Model: risk).

- :func:`probe`: a head of vanishing mass added at :math:`\theta`; ``probe_identity``,
  ``probe_depth_order``.
- :func:`landscape`: the first variation on a slice of head space; ``first_variation_grad``.
- :func:`reversal`: the flat-memory adjoint by exact Euler reversal; ``flat_memory_grad``,
  ``reversal_flat_memory``.

The setting (:func:`~.run.instance`) and the role tags are those of :mod:`.run`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver.adjoint import discrete_adjoint, risk
from ...solver.attention import Heads
from ...solver.first_variation import first_variation, probe_derivative
from ...solver.reversal import adjoint_flat_memory
from ..checks import Checks, Result, experiment, fit_loglog, result_type
from .claims import CLAIMS
from .params import LandscapeParams, ProbeParams, ReversalParams
from .run import PROBES, compiled_bytes, instance, relative_error

__all__ = [
    "probe",
    "ProbeResult",
    "landscape",
    "LandscapeResult",
    "reversal",
    "ReversalResult",
    "mixed_heads",
    "slice_heads",
    "project_on_slice",
]


@result_type
class ProbeResult(Result):
    identity: np.ndarray  # per key: ‖FD − h(G − Ḡ)‖ / ‖h(G − Ḡ)‖ over the probes
    L: np.ndarray  # depths of the depth order
    first_variation: np.ndarray  # (keys, |L|, probes): G − Ḡ at s = 1/2
    differences: np.ndarray  # (keys, |L| − 1): ‖q_{2L} − q_L‖ / ‖q_{L_max}‖
    orders: np.ndarray  # per key: −slope of the differences against L


@result_type
class LandscapeResult(Result):
    grad_error: float  # ∇_θ G at the particles against L M ∇R
    a: np.ndarray  # grid of A = a I
    v: np.ndarray  # grid of V = v e1 e1ᵀ
    heat: np.ndarray  # (|v|, |a|): δR/δν(1/2, θ(a, v)) − mean over the particles
    particles: np.ndarray  # (M, 2): projected (a, v) of layer ℓ's heads


@result_type
class ReversalResult(Result):
    L: np.ndarray
    errors: np.ndarray  # (keys, |L|): reversal adjoint against the stored-state adjoint
    residual: float  # largest relative residual of the reversals
    iterations: int  # most fixed-point iterations in one layer
    temp: np.ndarray  # compiled working bytes per L


def mixed_heads(theta: Heads, layer, A, V, eps) -> Heads:
    r"""The network whose layer ``layer`` has measure
    :math:`(1 - \varepsilon) \nu_\ell + \varepsilon \delta_\theta`, :math:`\theta = (A, V)`.

    Every layer gets an :math:`(M + 1)`-th head: at ``layer`` the probe, elsewhere a head with
    :math:`V = 0`; the field is linear in :math:`V`, so scaling the values by
    :math:`(M + 1)(1 - \varepsilon)/M` (the particles of ``layer``), :math:`(M + 1)\varepsilon`
    (the probe) and :math:`(M + 1)/M` (other layers) gives exactly those measures under the
    network's :math:`1/(M + 1)`."""
    L, M, d = theta.L, theta.M, theta.d
    extra = jnp.zeros((L, 1, d, d))
    A_all = jnp.concatenate([theta.A, extra], axis=1).at[layer, M].set(A)
    V_all = jnp.concatenate([theta.V, extra], axis=1).at[layer, M].set(V)
    w = jnp.full((L, M + 1), (M + 1) / M).at[:, M].set(0.0)
    w = w.at[layer].set(jnp.full(M + 1, (M + 1) * (1 - eps) / M).at[M].set((M + 1) * eps))
    return Heads(A_all, V_all * w[..., None, None])


@jax.jit
def _probe_fd(theta, layer, A, V, eps, mu, xi, targets):
    r"""Central differences :math:`(R(\varepsilon) - R(-\varepsilon))/2\varepsilon` of the mixed
    network, one per probe."""

    def one(A1, V1):
        plus = risk(mixed_heads(theta, layer, A1, V1, eps), mu, xi, targets)
        minus = risk(mixed_heads(theta, layer, A1, V1, -eps), mu, xi, targets)
        return (plus - minus) / (2 * eps)

    return jax.vmap(one)(A, V)


def _probes(key, count, d, scale):
    kA, kV = jax.random.split(jax.random.fold_in(key, PROBES))
    return scale * jax.random.normal(kA, (count, d, d)), scale * jax.random.normal(
        kV, (count, d, d)
    )


@experiment
def probe(p: ProbeParams, *, key) -> ProbeResult:
    r"""A head of vanishing mass added at :math:`\theta` in the layer at :math:`s = 1/2`, on
    ``p.keys`` instances with heads smooth in depth
    (:math:`\theta_m(s) = \theta^0_m + \sin(\pi s)\, \theta^1_m`, sampled at :math:`s_\ell`).

    The identity: a central difference in the probe's mass :math:`\varepsilon` against the
    adjoint's :math:`h(G_\ell(\theta) - \bar G_\ell)` at ``p.probes`` random heads (network of
    depth ``L_identity``). The depth order: :math:`q_L = G_\ell - \bar G_\ell` at the same heads,
    :math:`\ell = L/2`, for :math:`L` doubling; the order is minus the log-log slope of the
    successive differences :math:`\|q_{2L} - q_L\|`."""
    Ls = np.asarray(p.Ls)
    identity, q_all = [], []
    for k in jax.random.split(key, p.keys):
        smooth, mu, xi, targets = instance(p.d, p.n, p.N, 1, p.M, p.scale, key=k, smooth=True)
        A, V = _probes(k, p.probes, p.d, p.scale)
        theta, layer = smooth.discretise(p.L_identity), p.L_identity // 2
        pred = probe_derivative(theta, mu, xi, targets, layer=int(layer), A=A, V=V)
        fd = _probe_fd(theta, layer, A, V, p.eps, mu, xi, targets)
        identity.append(float(jnp.linalg.norm(fd - pred) / jnp.linalg.norm(pred)))
        q = [
            L
            * probe_derivative(
                smooth.discretise(int(L)), mu, xi, targets, layer=int(L // 2), A=A, V=V
            )
            for L in Ls
        ]
        q_all.append(np.asarray(q))
    q_all = np.asarray(q_all)  # (keys, |L|, probes)
    diffs = np.linalg.norm(np.diff(q_all, axis=1), axis=-1)
    diffs = diffs / np.linalg.norm(q_all[:, -1], axis=-1)[:, None]
    orders = np.array([-fit_loglog(Ls[:-1], row).slope for row in diffs])
    identity = np.asarray(identity)
    check = Checks(
        (
            CLAIMS["probe_identity"].check_keys(identity),
            CLAIMS["probe_depth_order"].check_keys(orders),
        )
    )
    data = {"L": Ls[:-1], "differences": diffs, "identity": identity, "orders": orders}
    return ProbeResult(
        identity=identity,
        L=Ls,
        first_variation=q_all,
        differences=diffs,
        orders=orders,
        data=data,
        check=check,
    )


def slice_heads(a, v, d):
    r"""Heads on the slice :math:`A = a I`, :math:`V = v e_1 e_1^\top` for arrays ``a, v`` of one
    shape ``S``: ``(A, V)``, each float64 array (S..., d, d)."""
    a, v = jnp.asarray(a), jnp.asarray(v)
    e11 = jnp.zeros((d, d)).at[0, 0].set(1.0)
    eye = jnp.broadcast_to(jnp.eye(d), (*a.shape, d, d))
    return a[..., None, None] * eye, v[..., None, None] * jnp.broadcast_to(e11, eye.shape)


def project_on_slice(A, V):
    r"""The slice coordinates :math:`(a, v) = (\mathrm{tr}\, A / d, V_{11})` of heads, float64
    arrays (..., d, d): the orthogonal projection of :math:`A` on :math:`\mathrm{span}(I)` and of
    :math:`V` on :math:`\mathrm{span}(e_1 e_1^\top)`."""
    d = A.shape[-1]
    return jnp.trace(A, axis1=-2, axis2=-1) / d, V[..., 0, 0]


@experiment
def landscape(p: LandscapeParams, *, key) -> LandscapeResult:
    r"""The first variation :math:`\frac{\delta R}{\delta\nu}(1/2, \theta)`
    (:math:`G_\ell - \bar G_\ell` at :math:`\ell = L/2`) on the slice :math:`A = a I`,
    :math:`V = v e_1 e_1^\top` of head space, with layer :math:`\ell`'s particles projected on it
    and the arrows :math:`-\nabla_{(a, v)}` of the map on a coarser grid (task T + C). The slice
    spans the particles' projections with a 25 % margin. Checks that
    :math:`\nabla_\theta G_\ell` at the particles is the exact adjoint's COT gradient, so that the
    map is the function whose gradient trains the heads."""
    theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=key)
    layer = p.L // 2
    out = discrete_adjoint(theta, mu, xi, targets, trace=True)
    z, lam, loga = out.states[layer], out.lams[layer + 1], mu.loga
    A_l, V_l = theta.A[layer], theta.V[layer]
    G_mean = jnp.mean(first_variation(A_l, V_l, z, lam, loga))

    def G(A, V):  # heads (P, d, d) -> G − Ḡ (P,)
        return first_variation(A, V, z, lam, loga) - G_mean

    gA, gV = jax.grad(lambda A, V: jnp.sum(G(A, V)), (0, 1))(A_l, V_l)
    grad_error = relative_error((gA, gV), (out.grad.A[layer], out.grad.V[layer]))
    pa, pv = map(np.asarray, project_on_slice(A_l, V_l))
    a_half = 1.25 * max(float(np.abs(pa).max()), 0.05)
    v_half = 1.25 * max(float(np.abs(pv).max()), 0.05)
    a, v = np.linspace(-a_half, a_half, p.grid), np.linspace(-v_half, v_half, p.grid)
    aa, vv = np.meshgrid(a, v)
    values = np.asarray(G(*slice_heads(aa.ravel(), vv.ravel(), p.d))).reshape(aa.shape)
    qa, qv = np.linspace(-a_half, a_half, p.arrows), np.linspace(-v_half, v_half, p.arrows)
    qaa, qvv = np.meshgrid(qa, qv)

    def G_slice(a_, v_):
        return jnp.sum(G(*slice_heads(a_, v_, p.d)))

    da, dv = jax.grad(G_slice, (0, 1))(jnp.asarray(qaa.ravel()), jnp.asarray(qvv.ravel()))
    check = CLAIMS["first_variation_grad"].check(grad_error)
    data = {
        "a": a,
        "v": v,
        "values": values,
        "particles": np.stack([pa, pv], axis=1),
        "arrows_at": np.stack([qaa.ravel(), qvv.ravel()], axis=1),
        "arrows": -np.stack([np.asarray(da), np.asarray(dv)], axis=1),
        "s": np.asarray(layer / p.L),
    }
    return LandscapeResult(
        grad_error=grad_error,
        a=a,
        v=v,
        heat=values,
        particles=data["particles"],
        data=data,
        check=check,
    )


@experiment
def reversal(p: ReversalParams, *, key) -> ReversalResult:
    """The flat-memory adjoint (states rebuilt backwards by exact Euler reversal) against the
    stored-state exact adjoint on ``p.keys`` instances at each depth, and the compiled working
    memory of the reversal program at the depths (XLA's ``temp_size_in_bytes``)."""
    Ls = np.asarray(p.Ls)
    errors = np.zeros((p.keys, Ls.size))
    temp, residual, iterations = [], 0.0, 0
    keys = jax.random.split(key, p.keys)
    for j, L in enumerate(Ls):
        args = instance(p.d, p.n, p.N, int(L), p.M, p.scale, key=keys[0])
        program = jax.jit(lambda th, mu, xi, tg: adjoint_flat_memory(th, mu, xi, tg))
        compiled = program.lower(*args).compile()
        temp.append(compiled_bytes(compiled))
        for i, k in enumerate(keys):
            args = instance(p.d, p.n, p.N, int(L), p.M, p.scale, key=k)
            flat = compiled(*args)
            stored = discrete_adjoint(*args, trace=True)  # the program the probe compiled
            errors[i, j] = relative_error(flat.grad, stored.grad)
            residual = max(residual, float(flat.reversal[0]))
            iterations = max(iterations, int(flat.reversal[1]))
    temp = np.asarray(temp, float)
    check = Checks(
        (
            CLAIMS["flat_memory_grad"].check(float(errors.max())),
            CLAIMS["reversal_flat_memory"].check(float(temp[-1] / temp[0])),
        )
    )
    data = {"L": Ls, "errors": errors, "temp": temp}
    return ReversalResult(
        L=Ls,
        errors=errors,
        residual=residual,
        iterations=iterations,
        temp=temp,
        data=data,
        check=check,
    )
