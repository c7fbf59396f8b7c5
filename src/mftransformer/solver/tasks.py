r"""Initialisations of the head measure ν and supervised tasks (Model: risk).

Targets whose initial loss can be dialled (chapter 5): ``small_loss_targets`` puts the labels
:math:`y_i = Y_i(\nu_0) + \varepsilon \zeta_i` next to the initial outputs
(:math:`R_0 = \varepsilon^2 |\zeta|^2 / 2N`), and ``teacher_student`` draws a smooth teacher with at
most a few heads, whose outputs are the labels, and a student initialised at distance :math:`\delta`
from it (:math:`R_0 = O(\delta^2)`, zero loss reachable).

Generic initialisation: i.i.d. entries :math:`A \sim \mathcal N(0, \sigma_A^2/d)`,
:math:`V \sim \mathcal N(0, \sigma_V^2/d)`. Silent initialisation: each layer holds :math:`M/2`
heads and their mirrors :math:`(A, -V)`, stored as halves (:math:`A_{:, M/2 + m} = A_{:, m}`,
:math:`V_{:, M/2 + m} = -V_{:, m}`), so that :math:`F \equiv 0`, the flow is the identity and
:math:`Y_i(\nu_0) = W \xi_0`.
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
    r"""I.i.d. Gaussian heads float64 array (L, M, d, d), :math:`A \sim \mathcal N(0, \sigma_A^2/d)`
    and :math:`V \sim \mathcal N(0, \sigma_V^2/d)`."""
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
    r"""Mirrored heads, stored as halves: :math:`F \equiv 0` to round-off, so
    :math:`X_s = \mathrm{id}`.

    Raises:
        ParameterError: odd :math:`M` (heads come in mirrored pairs).
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
    r"""Depth-smooth heads :math:`\theta_m(s) = \theta^0_m + \sin(\pi s)\, \theta^1_m` with i.i.d.
    :math:`\mathcal N(0, \mathrm{scale}^2)` entries."""
    _check_sizes("smooth_heads", M=M, d=d)
    _check_scale("smooth_heads", "scale", scale)
    keys = jax.random.split(key, 4)
    A0, A1, V0, V1 = (scale * jax.random.normal(k, (M, d, d)) for k in keys)
    return SmoothHeads(A0, A1, V0, V1)


class HeadMixture(eqx.Module):
    r"""A head measure whose mean field is exact:
    :math:`\nu_s = \frac1K \sum_a \delta_{\bar A_a} \otimes \mathcal N(\bar V_a, \sigma^2 I)`.

    :math:`\Gamma_\theta` is linear in :math:`V`, so the field of :math:`\nu_s` is the field of the
    :math:`K` mean heads (Model: flow, "Width"):

    .. math::

        F(x, \mu) = \frac1K \sum_{a=1}^K \bar V_a\, m_\mu(\bar A_a x).

    Args:
        A_bar: float64 array (K, d, d), attention matrices :math:`\bar A_a`.
        V_bar: float64 array (K, d, d), mean value matrices :math:`\bar V_a`.
        sigma: standard deviation :math:`\sigma` of every entry of :math:`V` around
            :math:`\bar V_a`.
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
        """The ``L``-layer network with the exact field: :math:`K` mean heads in every layer."""
        _check_sizes("HeadMixture.exact", L=L)
        tile = lambda v: jnp.broadcast_to(v, (L, *v.shape))  # noqa: E731
        return Heads(tile(self.A_bar), tile(self.V_bar))

    def sample(self, L: int, M: int, *, key, tied: bool = False) -> Heads:
        r""":math:`M` heads per layer drawn from :math:`\nu_s`: a uniform label :math:`a`, then
        :math:`A = \bar A_a` and :math:`V \sim \mathcal N(\bar V_a, \sigma^2 I)`; i.i.d. across
        layers, or one draw repeated in every layer (``tied=True``)."""
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
    r"""A :class:`HeadMixture` with :math:`K` components: entries
    :math:`\bar A \sim \mathcal N(0, \sigma_A^2/d)`,
    :math:`\bar V \sim \mathcal N(0, \sigma_V^2/d)`, noise :math:`\sigma`.

    Raises:
        ParameterError: :math:`K` or ``d`` not a positive integer, ``sigma < 0``.
    """
    _check_sizes("width_reference", K=K, d=d)
    if not sigma >= 0:
        raise ParameterError(f"width_reference: sigma = {sigma!r}; allowed sigma >= 0.")
    means = generic_init(1, K, d, key=key, sigma_A=sigma_A, sigma_V=sigma_V)
    return HeadMixture(means.A[0], means.V[0], float(sigma))


def readout(theta: Heads, mu: EmpiricalMeasure, xi, W) -> jax.Array:
    r"""The task-C outputs :math:`Y_i = W X^i_1(\xi^i_0)`, float64 array (N, d_out) (Model: eq.
    (readout)).

    Args:
        theta: heads float64 array (L, M, d, d); mu: :math:`N` contexts; xi: queries :math:`\xi_0`
            float64 array (N, d);
        W: readout float64 array (d_out, d).
    """
    W = _readout_inputs("readout", theta, mu, W)
    return forward(theta, mu, xi).queries[:, 0] @ W.T


def small_loss_targets(
    theta: Heads, mu: EmpiricalMeasure, xi, W, *, eps: float, key=None, zeta=None
) -> Targets:
    r"""Labels next to the initial outputs: a task C with a dialled initial loss.

    .. math::

        y_i = Y_i(\nu_0) + \varepsilon\,\zeta_i,\qquad
        \zeta_i \sim \mathcal N(0, I_{d_{\rm out}}),\qquad
        R(\nu_0) = \frac{\varepsilon^2}{2N} |\zeta|^2 .

    Model: "Readouts, targets" (Model: risk, small loss).

    Args:
        theta: the initial heads :math:`\nu_0`, float64 array (L, M, d, d).
        mu, xi: :math:`N` contexts and their queries float64 array (N, d).
        W: the fixed readout float64 array (d_out, d).
        eps: :math:`\varepsilon \ge 0`, the distance of the labels from the initial outputs.
        key: draws :math:`\zeta` (exactly one of ``key`` and ``zeta``).
        zeta: a given direction :math:`\zeta` float64 array (N, d_out) instead (e.g. (1, 1) for the
            stall).

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
    r"""A realisable task: a teacher network, its outputs as labels, and a student near it.

    Attributes:
        teacher: the teacher's layer-wise heads float64 array (L, M_star, d, d).
        theta0: the student's initial heads float64 array (L, M, d, d).
        targets: labels :math:`y = Y(\mathrm{teacher})` (and token targets :math:`T = X^\star_1` if
            requested).
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
    r"""A smooth teacher with ``M_star`` heads and a student initialised at distance :math:`\delta`.

    .. math::

        \theta^\star_m(s) = \theta^0_m + \sin(\pi s)\,\theta^1_m\ (m \le M_\star),\qquad
        \theta_{\ell,m}(0) = \theta^\star_{m \bmod M_\star}(\ell/L) + \delta\,Z_{\ell m},

    with :math:`Z` i.i.d. :math:`\mathcal N(0, 1/d)` entries. Each teacher head is copied
    :math:`M/M_\star` times, so the student at :math:`\delta = 0` *is* the teacher's Euler network
    (zero loss is reachable) and :math:`R(\nu_0) = O(\delta^2)`. Model: "Readouts, targets"
    (Model: risk, teacher).

    Args:
        mu, xi: :math:`N` contexts and queries float64 array (N, d); W: readout float64 array
            (d_out, d).
        L, M: the student's depth and heads per layer (:math:`M` a multiple of ``M_star``).
        key: draws the teacher (:math:`\mathcal N(0, \mathrm{scale}^2)` entries) and the student's
            offset :math:`Z`.
        delta: :math:`\delta \ge 0`, the student's distance from the teacher.
        M_star: the teacher's heads (at most 4).
        tokens: also return token targets :math:`T = X^\star_1` (task T+C).

    Raises:
        ParameterError: bad sizes, :math:`M` not a multiple of ``M_star``, negative ``delta``.
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
