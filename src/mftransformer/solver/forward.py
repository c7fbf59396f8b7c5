r"""The forward flow map over depth: the network, reference ODE solves and the Gaussian closed form.

Model page, "Forward flow". The state of one input is
:math:`z = (z_1, \dots, z_n, \xi_1, \dots, \xi_k)`: the :math:`n` context atoms (the keys,
weighted by :math:`a`) followed by :math:`k` query points that attend but are never attended to
(the CLS query, or grid points of a flow map). One Euler layer is

.. math::

    z^{\ell+1}_k = z^\ell_k
        + \frac{h}{M} \sum_m \Gamma_{\theta_{\ell m}}(\mu^\ell, z^\ell_k),
    \qquad \mu^\ell = \sum_j a_j \delta_{z^\ell_j},\quad h = 1/L .

Layers are a ``lax.scan`` axis with the body under ``jax.checkpoint`` (backprop memory flat in L).
The scan carries the first layer whose states became non-finite (−1 while finite); one check after
the scan names it.
"""

from functools import partial

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from .attention import Heads, SmoothHeads, state_field
from .errors import ParameterError, first_nonfinite, nonfinite_guard, suggest
from .measures import EmpiricalMeasure
from .schemes import SCHEMES
from .sharding import place, resolve_mesh
from .streaming import resolve_chunk
from .types import Array, Float, Int
from .validate import check_forward_inputs

__all__ = [
    "SCHEMES",
    "ForwardResult",
    "forward",
    "forward_ode",
    "flow_map",
    "gaussian_recursion",
    "gaussian_ode",
    "support_bound",
    "forward_depth",
    "initial_state",
    "layer_step",
]


_ODE_SOLVERS = {"euler": diffrax.Euler, "heun": diffrax.Heun, "tsit5": diffrax.Tsit5}


class ForwardResult(eqx.Module):
    """Output of :func:`forward`.

    Attributes:
        z: final states, float64 array (B, n + k, d): atoms then queries.
        trajectory: states at every layer, float64 array (L + 1, B, n + k, d), if ``trace=True``,
            else None.
        first_bad_layer: first layer whose states were non-finite, −1 if none.
        n: number of context atoms (static).
    """

    z: Float[Array, "B nk d"]
    trajectory: Float[Array, "L1 B nk d"] | None
    first_bad_layer: Int[Array, ""]
    n: int = eqx.field(static=True)

    @property
    def tokens(self) -> Float[Array, "B n d"]:
        """Final atom positions :math:`X_1(x_j)`."""
        return self.z[:, : self.n]

    @property
    def queries(self) -> Float[Array, "B k d"]:
        r"""Final query positions :math:`X_1(\xi)`."""
        return self.z[:, self.n :]


def forward(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B k d"] | Float[Array, "B d"] | None = None,
    *,
    L: int | None = None,
    scheme: str = "euler",
    trace: bool = False,
    checkpoint: bool = True,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> ForwardResult:
    r"""Push contexts and queries through the depth-:math:`L` network (or scheme on a smooth
    :math:`\nu`).

    .. math::

        z^{\ell+1} = z^\ell + h \sum_i b_i\, \Phi_{s_\ell + c_i h}(y_i),\qquad
        \Phi_s(z)_k = F_s(z_k, \mu^\ell)

    Model: eq. (forward-flow), discretised as on the model page.

    Args:
        theta: layer-wise :class:`Heads`, float64 arrays (L, M, d, d), or :class:`SmoothHeads`,
            float64 arrays (M, d, d).
        mu: contexts :math:`\mu_0` (B of them, n atoms in d dimensions).
        xi: queries :math:`\xi_0`, float64 array (B, d) or (B, k, d), or None (atoms only).
        L: number of layers; required for ``SmoothHeads``, must equal ``theta.L`` otherwise.
        scheme: ``"euler"`` (the network), ``"heun"`` or ``"rk4"``.
        trace: also return the states after every layer.
        checkpoint: put the layer under ``jax.checkpoint``, so that ``jax.grad`` keeps only the
            states :math:`z^\ell` and recomputes each layer's attention (memory flat in the
            attention, Model: risk); False stores every layer's residuals (what plain autodiff
            does).
        throw: raise :class:`SolveFailed` if states become non-finite (else only report it).
        chunk: attention kernel: None (automatic: streamed from ``STREAM_MIN_N`` atoms on), 0
            (dense) or a block size (streamed, memory linear in n; :mod:`.streaming`).
        mesh: devices: None (automatic: the heads and batch sharded when several devices are
            visible), ``"off"`` or a ``Mesh`` with axes ``("batch", "heads")`` (:mod:`.sharding`).

    Returns:
        :class:`ForwardResult`.

    Raises:
        ParameterError: unknown scheme, bad ``L``, inconsistent shapes (all shapes named), a bad
            ``chunk``, a mesh that does not divide B or M.
        SolveFailed: non-finite states (names the first such layer).

    >>> mu = empirical(jnp.array([[0.0, 0.0], [1.0, 0.0]]))
    >>> theta = Heads(jnp.zeros((2, 1, 2, 2)), jnp.zeros((2, 1, 2, 2)))
    >>> forward(theta, mu).tokens.shape
    (1, 2, 2)
    """
    xi = check_forward_inputs("forward", theta, mu, xi)
    L = forward_depth(theta, mu, L, scheme)
    chunk = resolve_chunk(chunk, mu.n, "forward")
    mesh = resolve_mesh(mesh, mu.B, theta.M, "forward")
    theta, (mu, xi) = place(mesh, theta, (mu, xi))
    z0 = initial_state(mu, xi)
    options = {"trace": trace, "checkpoint": checkpoint, "chunk": chunk, "mesh": mesh}
    z, first_bad, traj = _forward_scan(theta, z0, mu.loga, L=L, n=mu.n, scheme=scheme, **options)
    z = nonfinite_guard(z, first_bad, "forward: token states", "layer", throw)
    return ForwardResult(z=z, trajectory=traj, first_bad_layer=first_bad, n=mu.n)


def flow_map(theta: Heads | SmoothHeads, mu: EmpiricalMeasure, y: Float[Array, "B k d"], **kwargs):
    """The flow maps :math:`X_s(y)` at arbitrary points :math:`y` (they move with the tokens,
    attend to them, and are never keys): returns the trajectory, float64 array (L + 1, B, k, d)."""
    result = forward(theta, mu, y, trace=True, **kwargs)
    return result.trajectory[:, :, mu.n :]


def forward_ode(
    theta: SmoothHeads,
    mu: EmpiricalMeasure,
    xi=None,
    *,
    solver: str = "tsit5",
    L: int | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 100_000,
) -> Float[Array, "B nk d"]:
    r"""Reference solve of :math:`\partial_s X = F_s(X, X_\sharp\mu_0)` on :math:`[0, 1]` with
    diffrax.

    Args:
        theta: a smooth :math:`\nu_s` (:class:`SmoothHeads`); layer-wise heads are piecewise
            constant in depth and are what :func:`forward` with Euler solves exactly.
        solver: ``"euler"``, ``"heun"`` or ``"tsit5"``.
        L: constant step :math:`1/L`; if None, an adaptive PID controller with ``rtol``, ``atol``.

    Returns:
        final states, float64 array (B, n + k, d).
    """
    if not isinstance(theta, SmoothHeads):
        raise ParameterError(
            f"forward_ode: theta is {type(theta).__name__}; allowed SmoothHeads (use forward for "
            "layer-wise heads)."
        )
    if solver not in _ODE_SOLVERS:
        raise ParameterError(
            f"forward_ode: solver = {solver!r}; allowed {sorted(_ODE_SOLVERS)}."
            f"{suggest(solver, _ODE_SOLVERS)}"
        )
    z0 = initial_state(mu, xi)
    return _forward_ode(theta, z0, mu.loga, solver, L, rtol, atol, max_steps, mu.n)


def gaussian_recursion(theta: Heads, m, Sigma, xi):
    r"""Exact Euler network on a Gaussian context :math:`N(m, \Sigma)` (continuous tokens,
    :math:`n = \infty`).

    An Euler layer is affine on Gaussians (Model: flow): with
    :math:`B_\ell = \frac1M \sum V`, :math:`C_\ell = \frac1M \sum V \Sigma A` taken before the
    update,

    .. math::

        m \leftarrow (I + hC_\ell)m + hB_\ell m,\quad
        \Sigma \leftarrow (I + hC_\ell)\Sigma(I + hC_\ell)^\top,\quad
        \xi \leftarrow \xi + h(B_\ell m + C_\ell \xi).

    Args: ``theta`` layer-wise heads; ``m`` float64 array (d,); ``Sigma`` float64 array (d, d);
    ``xi`` float64 array (d,).
    Returns: ``(m, Sigma, xi)`` after ``L`` layers.
    """
    h = 1.0 / theta.L
    eye = jnp.eye(theta.d)

    def layer(carry, heads):
        m, S, x = carry
        A, V = heads
        Bl = V.mean(0)
        Cl = jnp.einsum("mij,jk,mkl->il", V, S, A) / A.shape[0]
        P = eye + h * Cl
        return (P @ m + h * Bl @ m, P @ S @ P.T, x + h * (Bl @ m + Cl @ x)), None

    (m, S, x), _ = jax.lax.scan(layer, (m, Sigma, xi), (theta.A, theta.V))
    return m, S, x


def gaussian_ode(theta: SmoothHeads, m, Sigma, xi, *, rtol: float = 1e-12, atol: float = 1e-12):
    r"""The continuous-depth Gaussian flow :math:`\dot m = (B_s + C_s)m`,
    :math:`\dot\Sigma = C_s\Sigma + \Sigma C_s^\top`, :math:`\dot\xi = B_s m + C_s \xi` (Model:
    flow), solved with diffrax Tsit5."""

    def rhs(s, y, args):
        m, S, x = y
        A, V = theta.at(s)
        Bs = V.mean(0)
        Cs = jnp.einsum("mij,jk,mkl->il", V, S, A) / A.shape[0]
        return (Bs @ m + Cs @ m, Cs @ S + S @ Cs.T, Bs @ m + Cs @ x)

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        diffrax.Tsit5(),
        0.0,
        1.0,
        1e-2,
        (m, Sigma, xi),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=100_000,
    )
    return jax.tree_util.tree_map(lambda v: v[-1], sol.ys)


def support_bound(theta: Heads, R0) -> Float[Array, " L1"]:
    r"""Support bound of Result 1 for the Euler network:
    :math:`R_{\ell+1} \le (1 + h v_\ell) R_\ell`,
    :math:`v_\ell = \frac1M \sum_m |V_{\ell m}|_{\rm op}`. Returns :math:`(R_0, \dots, R_L)`."""
    v = jnp.linalg.norm(theta.V, ord=2, axis=(-2, -1)).mean(axis=1)
    return R0 * jnp.concatenate([jnp.ones(1), jnp.cumprod(1.0 + v / theta.L)])


def forward_depth(theta: Heads | SmoothHeads, mu: EmpiricalMeasure, L: int | None, scheme: str):
    """The number of depth steps ``L`` of :func:`forward`, after checking its static arguments.

    Raises:
        ParameterError: unknown scheme, shapes whose d disagree, ``L`` not ``theta.L`` for
            layer-wise heads, missing for smooth heads, or not an integer >= 1.
    """
    if scheme not in SCHEMES:
        raise ParameterError(
            f"forward: scheme = {scheme!r}; allowed {sorted(SCHEMES)}.{suggest(scheme, SCHEMES)}"
        )
    if theta.d != mu.d:
        shape = theta.A.shape if isinstance(theta, Heads) else theta.A0.shape
        raise ParameterError(
            f"forward: heads have shape {tuple(shape)} but mu.x has shape {tuple(mu.x.shape)}; "
            "the last axis d must agree."
        )
    if isinstance(theta, Heads):
        if L is not None and L != theta.L:
            raise ParameterError(
                f"forward: L = {L} but theta has {theta.L} layers; allowed L = None or {theta.L}."
            )
        L = theta.L
    elif L is None:
        raise ParameterError(
            "forward: L = None with SmoothHeads; allowed integer L >= 1 (h = 1/L)."
        )
    if not isinstance(L, int) or L < 1:
        raise ParameterError(f"forward: L = {L!r}; allowed integer >= 1 (depth step h = 1/L).")
    return L


def initial_state(mu: EmpiricalMeasure, xi) -> Float[Array, "B nk d"]:
    r"""The state :math:`z^0 = (x_1, \dots, x_n, \xi_1, \dots, \xi_k)` of every input: atoms, then
    queries.

    Args: ``mu`` the contexts; ``xi`` queries, float64 array (B, d) or (B, k, d), or None (atoms
    only).

    Raises:
        ParameterError: queries whose batch or d disagree with ``mu`` (both shapes named).
    """
    if xi is None:
        return mu.x
    xi = jnp.asarray(xi, mu.x.dtype)
    given = tuple(xi.shape)  # name the caller's shape, not the reshaped one
    if xi.ndim == 2:
        xi = xi[:, None, :]
    if xi.ndim != 3 or xi.shape[0] != mu.B or xi.shape[-1] != mu.d:
        raise ParameterError(
            f"forward: xi has shape {given} but mu.x has shape {tuple(mu.x.shape)}; "
            f"allowed xi ({mu.B}, {mu.d}) or ({mu.B}, k, {mu.d})."
        )
    return jnp.concatenate([mu.x, xi], axis=1)


def layer_step(
    theta: Heads | SmoothHeads, l, z, loga, L, n: int, scheme: str, *, chunk=None, mesh=None
):
    r"""One step of the explicit scheme (:mod:`.schemes`) of size :math:`h = 1/L` from depth
    :math:`l/L`.

    .. math::

        z^{\ell+1} = z^\ell + h \sum_i b_i\, \Phi_{s_\ell + c_i h}(y_i)

    Args: heads ``theta``; layer index ``l``; states ``z``, float64 array (B, n + k, d); the atoms'
    log-weights ``loga``, float64 array (B, n); depth ``L`` (an int, or a traced integer where
    the depth is an argument of a compiled program); number of atoms ``n``; ``scheme`` a name of
    ``SCHEMES``; ``chunk`` and ``mesh`` (resolved) as in :func:`forward`. Layer-wise heads
    use layer ``l``'s heads in every stage (Model: flow).
    """

    def phi(c, y):
        A, V = theta.layer(l, c, L)
        return state_field(A, V, y, loga, n, chunk=chunk, mesh=mesh)

    return SCHEMES[scheme].step(phi, z, 1.0 / L)


# ---------------------------------------------------------------- private
@partial(jax.jit, static_argnames=("L", "n", "scheme", "trace", "checkpoint", "chunk", "mesh"))
def _forward_scan(theta, z0, loga, *, L, n, scheme, trace, checkpoint, chunk=None, mesh=None):
    def body(carry, l):
        z, first_bad = carry
        z_next = layer_step(theta, l, z, loga, L, n, scheme, chunk=chunk, mesh=mesh)
        first_bad = first_nonfinite(first_bad, l + 1, z_next)
        # the state before the layer: the trajectory's first L entries are then one operand, so
        # the exact adjoint's slice trajectory[:-1] is free (no copy of the states)
        return (z_next, first_bad), (z if trace else None)

    body = jax.checkpoint(body) if checkpoint else body
    (z, first_bad), traj = jax.lax.scan(body, (z0, jnp.array(-1)), jnp.arange(L))
    if trace:
        traj = jnp.concatenate([traj, z[None]], axis=0)
    return z, first_bad, traj


@partial(jax.jit, static_argnames=("solver", "L", "rtol", "atol", "max_steps", "n"))
def _forward_ode(theta, z0, loga, solver, L, rtol, atol, max_steps, n):
    def rhs(s, z, args):
        A, V = theta.at(s)
        return state_field(A, V, z, loga, n)

    if L is None:
        controller, dt0 = diffrax.PIDController(rtol=rtol, atol=atol), 1e-2
    else:
        controller, dt0 = diffrax.ConstantStepSize(), 1.0 / L
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        _ODE_SOLVERS[solver](),
        0.0,
        1.0,
        dt0,
        z0,
        stepsize_controller=controller,
        max_steps=max_steps,
    )
    return sol.ys[-1]
