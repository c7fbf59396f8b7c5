"""Initialisations of the head measure ν and supervised tasks (Model: risk).

Targets whose initial loss can be dialled (chapter 5): ``small_loss_targets`` puts the labels
``y_i = Y_i(ν_0) + ε ζ_i`` next to the initial outputs (``R_0 = ε² |ζ|² / 2N``), and
``teacher_student`` draws a smooth teacher with at most a few heads, whose outputs are the labels,
and a student initialised at distance ``δ`` from it (``R_0 = O(δ²)``, zero loss reachable).

Generic initialisation: i.i.d. entries ``A ~ N(0, σ_A²/d)``, ``V ~ N(0, σ_V²/d)``.
Silent initialisation: each layer holds ``M/2`` heads and their mirrors ``(A, −V)``, stored as
halves (``A[:, M/2 + m] = A[:, m]``, ``V[:, M/2 + m] = −V[:, m]``), so that ``F ≡ 0``, the flow
is the identity and ``Y_i(ν_0) = W ξ_0``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .adjoint import Targets
from .attention import Heads, SmoothHeads
from .errors import ParameterError
from .forward import forward
from .measures import EmpiricalMeasure, require_measure
from .types import Array, Float
from .validate import array_field, as_float, check_finite, check_heads, check_sizes

__all__ = [
    "generic_init",
    "silent_init",
    "smooth_heads",
    "HeadMixture",
    "width_reference",
    "readout",
    "small_loss_targets",
    "TeacherStudent",
    "teacher_student",
]


def generic_init(
    L: int, M: int, d: int, *, key, sigma_A: float = 1.0, sigma_V: float = 1.0
) -> Heads:
    """I.i.d. Gaussian heads ``(L, M, d, d)``, ``A ~ N(0, σ_A²/d)`` and ``V ~ N(0, σ_V²/d)``."""
    _check_sizes("generic_init", L=L, M=M, d=d)
    _check_scale("generic_init", "sigma_A", sigma_A)
    _check_scale("generic_init", "sigma_V", sigma_V)
    k_A, k_V = jax.random.split(key)
    scale = 1.0 / jnp.sqrt(d)
    A = sigma_A * scale * jax.random.normal(k_A, (L, M, d, d))
    V = sigma_V * scale * jax.random.normal(k_V, (L, M, d, d))
    return Heads(A, V)


def silent_init(
    L: int, M: int, d: int, *, key, sigma_A: float = 1.0, sigma_V: float = 1.0
) -> Heads:
    """Mirrored heads, stored as halves: ``F ≡ 0`` to round-off, so ``X_s = id``.

    Raises:
        ParameterError: odd ``M`` (heads come in mirrored pairs).
    """
    _check_sizes("silent_init", L=L, M=M, d=d)
    if M % 2:
        raise ParameterError(
            f"silent_init: M = {M}; allowed even M (heads come in mirrored pairs)."
        )
    half = generic_init(L, M // 2, d, key=key, sigma_A=sigma_A, sigma_V=sigma_V)
    return Heads(
        jnp.concatenate([half.A, half.A], axis=1), jnp.concatenate([half.V, -half.V], axis=1)
    )


def smooth_heads(M: int, d: int, *, key, scale: float = 0.8) -> SmoothHeads:
    """Depth-smooth heads ``θ_m(s) = θ⁰_m + sin(πs) θ¹_m`` with i.i.d. ``N(0, scale²)`` entries."""
    _check_sizes("smooth_heads", M=M, d=d)
    _check_scale("smooth_heads", "scale", scale)
    keys = jax.random.split(key, 4)
    A0, A1, V0, V1 = (scale * jax.random.normal(k, (M, d, d)) for k in keys)
    return SmoothHeads(A0, A1, V0, V1)


class HeadMixture(eqx.Module):
    """A head measure whose mean field is exact: ``ν_s = (1/K) Σ_a δ_{Ā_a} ⊗ N(V̄_a, σ² I)``.

    ``Γ_θ`` is linear in ``V``, so the field of ``ν_s`` is the field of the ``K`` mean heads
    (Model: flow, "Width"):

    .. math::

        F(x, \\mu) = \\frac1K \\sum_{a=1}^K \\bar V_a\\, m_\\mu(\\bar A_a x).

    Args:
        A_bar: ``(K, d, d)`` attention matrices ``Ā_a``.
        V_bar: ``(K, d, d)`` mean value matrices ``V̄_a``.
        sigma: standard deviation ``σ`` of every entry of ``V`` around ``V̄_a``.
    """

    A_bar: Float[Array, "K d d"] = eqx.field(converter=array_field)
    V_bar: Float[Array, "K d d"] = eqx.field(converter=array_field)
    sigma: float = eqx.field(static=True)

    def __check_init__(self):
        if not (hasattr(self.A_bar, "shape") and hasattr(self.V_bar, "shape")):
            return
        check_finite(self.A_bar, "HeadMixture", "A_bar")
        check_finite(self.V_bar, "HeadMixture", "V_bar")
        if self.A_bar.shape != self.V_bar.shape or len(self.A_bar.shape) != 3:
            raise ParameterError(
                f"HeadMixture: A_bar has shape {tuple(self.A_bar.shape)} and V_bar has shape "
                f"{tuple(self.V_bar.shape)}; allowed equal shapes (K, d, d)."
            )

    @property
    def K(self) -> int:
        return self.A_bar.shape[0]

    def exact(self, L: int) -> Heads:
        """The ``L``-layer network with the exact field: ``K`` mean heads in every layer."""
        _check_sizes("HeadMixture.exact", L=L)
        tile = lambda v: jnp.broadcast_to(v, (L, *v.shape))  # noqa: E731
        return Heads(tile(self.A_bar), tile(self.V_bar))

    def sample(self, L: int, M: int, *, key, tied: bool = False) -> Heads:
        """``M`` heads per layer drawn from ``ν_s``: a uniform label ``a``, then ``A = Ā_a`` and
        ``V ~ N(V̄_a, σ² I)``; i.i.d. across layers, or one draw repeated in every layer
        (``tied=True``)."""
        _check_sizes("HeadMixture.sample", L=L, M=M)
        k_label, k_noise = jax.random.split(key)
        rows = 1 if tied else L
        label = jax.random.randint(k_label, (rows, M), 0, self.K)
        noise = jax.random.normal(k_noise, (rows, M, *self.V_bar.shape[1:]))
        A, V = self.A_bar[label], self.V_bar[label] + self.sigma * noise
        if tied:
            A, V = (jnp.broadcast_to(v, (L, *v.shape[1:])) for v in (A, V))
        return Heads(A, V)


def width_reference(
    K: int, d: int, *, key, sigma_A: float = 1.0, sigma_V: float = 1.0, sigma: float = 1.0
) -> HeadMixture:
    """A :class:`HeadMixture` with ``K`` components: entries ``Ā ~ N(0, σ_A²/d)``,
    ``V̄ ~ N(0, σ_V²/d)``, noise ``σ``.

    Raises:
        ParameterError: ``K`` or ``d`` not a positive integer, ``sigma < 0``.
    """
    _check_sizes("width_reference", K=K, d=d)
    if not sigma >= 0:
        raise ParameterError(f"width_reference: sigma = {sigma!r}; allowed sigma >= 0.")
    means = generic_init(1, K, d, key=key, sigma_A=sigma_A, sigma_V=sigma_V)
    return HeadMixture(means.A[0], means.V[0], float(sigma))


def readout(theta: Heads, mu: EmpiricalMeasure, xi, W) -> jax.Array:
    """The task-C outputs ``Y_i = W X^i_1(ξ^i_0)``, ``(N, d_out)`` (Model: eq. (readout)).

    Args:
        theta: heads ``(L, M, d, d)``; mu: ``N`` contexts; xi: queries ``ξ_0`` ``(N, d)``;
        W: readout ``(d_out, d)``.
    """
    W = _readout_inputs("readout", theta, mu, W)
    return forward(theta, mu, xi).queries[:, 0] @ W.T


def small_loss_targets(
    theta: Heads, mu: EmpiricalMeasure, xi, W, *, eps: float, key=None, zeta=None
) -> Targets:
    """Labels next to the initial outputs: a task C with a dialled initial loss.

    .. math::

        y_i = Y_i(\\nu_0) + \\varepsilon\\,\\zeta_i,\\qquad
        \\zeta_i \\sim \\mathcal N(0, I_{d_{\\rm out}}),\\qquad
        R(\\nu_0) = \\frac{\\varepsilon^2}{2N} |\\zeta|^2 .

    Model: "Readouts, targets" (Model: risk, small loss).

    Args:
        theta: the initial heads ``ν_0``, ``(L, M, d, d)``.
        mu, xi: ``N`` contexts and their queries ``(N, d)``.
        W: the fixed readout ``(d_out, d)``.
        eps: ``ε >= 0``, the distance of the labels from the initial outputs.
        key: draws ``ζ`` (exactly one of ``key`` and ``zeta``).
        zeta: a given direction ``ζ`` ``(N, d_out)`` instead (e.g. ``(1, 1)`` for the stall).

    Returns:
        :class:`~mftransformer.solver.adjoint.Targets` with ``W`` and ``y``.

    Raises:
        ParameterError: negative or non-finite ``eps``; both or neither of ``key``, ``zeta``;
            ``zeta`` of the wrong shape.
    """
    _check_scale("small_loss_targets", "eps", eps)
    if (key is None) == (zeta is None):
        raise ParameterError(
            "small_loss_targets: give exactly one of key (draws ζ ~ N(0, I)) and zeta (a fixed "
            f"direction); got key={'set' if key is not None else None}, "
            f"zeta={'set' if zeta is not None else None}."
        )
    W = _readout_inputs("small_loss_targets", theta, mu, W)
    Y0 = readout(theta, mu, xi, W)
    if zeta is None:
        zeta = jax.random.normal(key, Y0.shape, Y0.dtype)
    zeta = jnp.asarray(as_float(zeta, "small_loss_targets", "zeta"), Y0.dtype)
    if zeta.shape != Y0.shape:
        raise ParameterError(
            f"small_loss_targets: zeta has shape {tuple(zeta.shape)}; allowed {tuple(Y0.shape)} "
            "= (N, d_out)."
        )
    return Targets(W=W, y=Y0 + eps * zeta)


class TeacherStudent(eqx.Module):
    """A realisable task: a teacher network, its outputs as labels, and a student near it.

    Attributes:
        teacher: the teacher's layer-wise heads ``(L, M_star, d, d)``.
        theta0: the student's initial heads ``(L, M, d, d)``.
        targets: labels ``y = Y(teacher)`` (and token targets ``T = X^⋆_1`` if requested).
    """

    teacher: Heads
    theta0: Heads
    targets: Targets


def teacher_student(
    mu: EmpiricalMeasure,
    xi,
    W,
    *,
    L: int,
    M: int,
    key,
    delta: float,
    M_star: int = 4,
    scale: float = 0.8,
    tokens: bool = False,
) -> TeacherStudent:
    """A smooth teacher with ``M_star`` heads and a student initialised at distance ``δ``.

    .. math::

        \\theta^\\star_m(s) = \\theta^0_m + \\sin(\\pi s)\\,\\theta^1_m\\ (m \\le M_\\star),\\qquad
        \\theta_{\\ell,m}(0) = \\theta^\\star_{m \\bmod M_\\star}(\\ell/L) + \\delta\\,Z_{\\ell m},

    with ``Z`` i.i.d. ``N(0, 1/d)`` entries. Each teacher head is copied ``M/M_star`` times, so the
    student at ``δ = 0`` *is* the teacher's Euler network (zero loss is reachable) and
    ``R(ν_0) = O(δ²)``. Model: "Readouts, targets" (Model: risk, teacher).

    Args:
        mu, xi: ``N`` contexts and queries ``(N, d)``; W: readout ``(d_out, d)``.
        L, M: the student's depth and heads per layer (``M`` a multiple of ``M_star``).
        key: draws the teacher (``N(0, scale²)`` entries) and the student's offset ``Z``.
        delta: ``δ >= 0``, the student's distance from the teacher.
        M_star: the teacher's heads (at most 4).
        tokens: also return token targets ``T = X^⋆_1`` (task T+C).

    Raises:
        ParameterError: bad sizes, ``M`` not a multiple of ``M_star``, negative ``delta``.
    """
    _check_sizes("teacher_student", L=L, M=M, M_star=M_star)
    if M % M_star:
        raise ParameterError(
            f"teacher_student: M = {M}; allowed a multiple of M_star = {M_star} (each teacher head "
            "is copied M/M_star times)."
        )
    _check_scale("teacher_student", "delta", delta)
    _check_scale("teacher_student", "scale", scale)
    W = _readout_inputs("teacher_student", None, mu, W)
    k_teacher, k_student = jax.random.split(key)
    teacher = smooth_heads(M_star, mu.d, key=k_teacher, scale=scale).discretise(L)
    result = forward(teacher, mu, xi)
    targets = Targets(T=result.tokens if tokens else None, W=W, y=result.queries[:, 0] @ W.T)
    copies = M // M_star
    offset = generic_init(L, M, mu.d, key=k_student)
    theta0 = Heads(
        jnp.tile(teacher.A, (1, copies, 1, 1)) + delta * offset.A,
        jnp.tile(teacher.V, (1, copies, 1, 1)) + delta * offset.V,
    )
    return TeacherStudent(teacher=teacher, theta0=theta0, targets=targets)


def _check_readout(where, mu, W):
    if W.ndim != 2 or W.shape[1] != mu.d:
        raise ParameterError(f"{where}: W has shape {tuple(W.shape)}; allowed (d_out, {mu.d}).")


def _readout_inputs(where, theta, mu, W):
    """Validated ``(theta, mu, W)`` of a task-C function: heads, a measure, a finite readout."""
    if theta is not None:
        check_heads(theta, where, (Heads, SmoothHeads))
    require_measure(mu, where)
    W = as_float(W, where, "W", ndim=(1, 2), allowed=f"(d_out, {mu.d})")
    W = jnp.asarray(W, mu.x.dtype)
    _check_readout(where, mu, W)
    return W


def _check_scale(where, name, value):
    if not (isinstance(value, int | float) and 0 <= value < float("inf")):
        raise ParameterError(f"{where}: {name} = {value!r}; allowed a finite float >= 0.")


_check_sizes = check_sizes
