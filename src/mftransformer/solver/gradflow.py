"""The conditional Wasserstein gradient flow of the head measure ν, as interacting head particles.

Model page, "Gradient flow" (MATH.md §4). Mass moves in θ only, never across layers, so each
layer's measure ``ν_s`` is transported by the COT gradient of chapter 2:

.. math::

    \\partial_t \\nu^t_s = \\mathrm{div}_\\theta\\Big(\\nu^t_s\\, \\nabla_\\theta
        \\frac{\\delta R}{\\delta \\nu}[\\nu^t](s, \\cdot)\\Big),\\qquad
    \\dot\\theta_{\\ell m}
        = -\\nabla_\\theta \\frac{\\delta R}{\\delta\\nu}(s_\\ell, \\theta_{\\ell m})
        = -L M\\, \\nabla_{\\theta_{\\ell m}} R^{L,M} .

Gradient descent with the mean-field learning rate is ``θ ← θ − η L M ∇R`` at time ``t = kη``
(:func:`gd_step`, the one place where ``η L M`` is written): without the factor ``L M``, changing
the width or the depth would rescale training time. Along the flow the energy identity holds,

.. math::

    \\frac{dR}{dt} = -\\|g\\|^2,\\qquad
    \\|g\\|^2 = L M \\sum_{\\ell, m} |\\nabla_{\\theta_{\\ell m}} R|^2
        = \\frac{1}{LM} \\sum_{\\ell m} |\\mathrm{grad}_{\\rm COT} R|^2 .

Contract: :func:`train` (a jitted ``lax.scan`` of :func:`gd_step`, compiled once per shape),
:func:`flow` (adaptive diffrax solve in training time, the dissipated energy integrated alongside),
:func:`train_chunked` (chunks of :func:`train` with an atomic checkpoint after each, resumable
bit-identically, optional tqdm progress). All return a :class:`TrainingHistory`. A run whose risk
or gradient becomes non-finite stops updating at that step; the step is kept in
``first_bad_step`` and named by :class:`SolveFailed` unless ``throw=False``.
"""

import hashlib
import math
import os
from functools import partial
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .adjoint import GRADIENT_METHODS, Targets, cot_gradient
from .attention import Heads
from .errors import ParameterError, SolveFailed, first_nonfinite, is_traced, suggest
from .measures import EmpiricalMeasure
from .types import Array, Float, Int

__all__ = [
    "DEFAULT_METHOD",
    "TrainingHistory",
    "cot_norm2",
    "gd_step",
    "train",
    "flow",
    "train_chunked",
    "run_hash",
    "dissipation_ratio",
    "energy_defect",
    "sync_distance",
]

#: The gradient method used by default, the hand-written discrete adjoint of chapter 2.
DEFAULT_METHOD = "exact"


class TrainingHistory(eqx.Module):
    """A training run: final heads, and the risk and squared gradient norm along it.

    Attributes:
        theta: final :class:`Heads` ``(L, M, d, d)``.
        t: training times ``(K + 1,)`` (``t_k = t_0 + kη`` for gradient descent).
        R: risk ``R(ν^{t_k})`` ``(K + 1,)``.
        g2: squared COT gradient norm ``‖g‖² = L M Σ |∇_θ R|²`` at ``t_k``, ``(K + 1,)``.
        snapshots: heads at ``snapshot_t``: a :class:`Heads` pytree with a leading snapshot axis,
            ``A``, ``V`` of shape ``(S, L, M, d, d)`` (its ``.L`` property does not apply).
        snapshot_t: ``(S,)``.
        first_bad_step: first step whose risk or gradient was non-finite, −1 if none.
        dissipated: ``∫_0^{t_k} ‖g‖² dt`` integrated by the solver (:func:`flow` only), else None.
        num_steps: accepted solver steps (:func:`flow` only), else None.
    """

    theta: Heads
    t: Float[Array, " K1"]
    R: Float[Array, " K1"]
    g2: Float[Array, " K1"]
    snapshots: Heads
    snapshot_t: Float[Array, " S"]
    first_bad_step: Int[Array, ""]
    dissipated: Float[Array, " K1"] | None = None
    num_steps: Int[Array, ""] | None = None


def cot_norm2(grad: Heads) -> Float[Array, ""]:
    """Squared COT norm of a particle gradient (Model: eq. (energy-identity)).

    .. math::

        \\|g\\|^2 = \\frac{1}{LM} \\sum_{\\ell, m} |g_{\\ell m}|^2
            = L M \\sum_{\\ell,m} |\\nabla_{\\theta_{\\ell m}} R|^2,
        \\qquad g = L M \\nabla R .

    Args:
        grad: the COT gradient ``g`` as :class:`Heads` ``(L, M, d, d)`` (from ``cot_gradient``).
    """
    LM = grad.A.shape[0] * grad.A.shape[1]
    return (jnp.sum(grad.A**2) + jnp.sum(grad.V**2)) / LM


def gd_step(theta: Heads, grad: Heads, *, eta) -> Heads:
    """One step of mean-field gradient descent, ``θ ← θ − η L M ∇R`` (the one place of ``η L M``).

    .. math::

        \\theta_{\\ell m} \\leftarrow \\theta_{\\ell m} - \\eta\\, g_{\\ell m},\\qquad
        g_{\\ell m} = L M \\nabla_{\\theta_{\\ell m}} R^{L,M}

    Args:
        theta: heads ``(L, M, d, d)``.
        grad: the COT gradient ``g`` (already scaled by ``L M``), same shape.
        eta: training-time step ``η`` (``t = kη``).
    """
    return jax.tree_util.tree_map(lambda th, g: th - eta * g, theta, grad)


def train(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    t0: float = 0.0,
    throw: bool = True,
) -> TrainingHistory:
    """Mean-field gradient descent for ``steps`` steps: a jitted ``lax.scan`` of :func:`gd_step`.

    .. math::

        \\theta^{k+1} = \\theta^k - \\eta\\, L M \\nabla R(\\theta^k),\\qquad t_k = t_0 + k\\eta

    Compiled once per (shapes, ``steps``, ``snapshot_every``, ``method``, ``scheme``); ``eta`` and
    ``t0`` are traced, so a new step size does not recompile.

    Args:
        theta0: initial heads ``θ⁰`` ``(L, M, d, d)``.
        mu, xi, targets: the data of the risk ``R`` (chapter 2).
        eta: step ``η > 0``, finite.
        steps: number of steps ``K >= 1``.
        snapshot_every: keep the heads every this many steps (must divide ``steps``); None keeps
            the first and last only.
        method: gradient method of ``cot_gradient`` (one of ``adjoint.GRADIENT_METHODS``).
        scheme: forward scheme (``"euler"`` is the network).
        t0: time of ``θ⁰``.
        throw: raise :class:`SolveFailed` if the risk became non-finite.

    Returns:
        :class:`TrainingHistory` with ``K + 1`` entries (the last at the final heads).

    Raises:
        ParameterError: bad ``eta``, ``steps``, ``snapshot_every`` or ``method``.
        SolveFailed: the risk or its gradient became non-finite (names the step; the heads are
            frozen from that step on).
    """
    _check_positive("train", "eta", eta)
    _check_steps("train", steps, snapshot_every)
    _check_method("train", method)
    every = steps if snapshot_every is None else snapshot_every
    args = (
        theta0,
        mu,
        xi,
        targets,
        jnp.asarray(eta, theta0.A.dtype),
        jnp.asarray(t0, theta0.A.dtype),
    )
    kw = {"steps": steps, "every": every, "method": method, "scheme": scheme}
    try:
        hist = _train_scan(*args, **kw)
    except (jax.errors.JaxRuntimeError, SolveFailed, ValueError) as exc:
        _reraise_unless_divergence(exc)
        # the gradient raised inside the scan (its forward or adjoint sweep became non-finite):
        # rerun step by step to find that step, and stop there
        hist = _train_loop(*args, **kw)
    return _guard(hist, "train", eta, throw)


def flow(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    T: float,
    n_save: int = 51,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    max_steps: int = 100_000,
    throw: bool = True,
) -> TrainingHistory:
    """The particle gradient flow ``θ̇ = −L M ∇R(θ)`` on ``[0, T]`` by an adaptive diffrax solve.

    .. math::

        \\dot\\theta_{\\ell m} = -g_{\\ell m}(\\theta),\\qquad \\dot E = \\|g(\\theta)\\|^2,
        \\qquad E(0) = 0

    Tsit5 with a PID controller; the dissipated energy ``E(t)`` is integrated alongside, so
    ``R(0) − R(t) − E(t)`` measures the energy identity to the solver tolerance.

    Args:
        T: horizon ``T > 0``, finite.
        n_save: number of equally spaced save times in ``[0, T]`` (>= 2).
        rtol, atol: tolerances of the step-size controller.
        method, scheme: as in :func:`train`.
        max_steps: solver step budget.

    Returns:
        :class:`TrainingHistory` at the save times, with ``dissipated`` and ``num_steps``.

    Raises:
        ParameterError: bad ``T``, ``n_save``, tolerances or ``method``.
        SolveFailed: the solve failed (non-finite state or step budget), with diffrax's reason.
    """
    _check_positive("flow", "T", T)
    _check_positive("flow", "rtol", rtol)
    _check_positive("flow", "atol", atol)
    _check_method("flow", method)
    if not isinstance(n_save, int) or n_save < 2:
        raise ParameterError(f"flow: n_save = {n_save!r}; allowed integer >= 2.")
    ts = jnp.linspace(0.0, T, n_save, dtype=theta0.A.dtype)
    try:
        hist, result = _flow_solve(
            theta0,
            mu,
            xi,
            targets,
            ts,
            rtol=rtol,
            atol=atol,
            method=method,
            scheme=scheme,
            max_steps=max_steps,
        )
    except (jax.errors.JaxRuntimeError, SolveFailed, ValueError) as exc:
        _reraise_unless_divergence(exc)
        raise SolveFailed(
            f"flow: the forward pass became non-finite during the solve on [0, {T}] "
            f"({str(exc).splitlines()[0][:120]}); the flow diverged: lower T or "
            "check the initial heads."
        ) from None
    if throw and not is_traced(hist.R):
        if result != diffrax.RESULTS.successful:
            raise SolveFailed(
                f"flow: the diffrax solve on [0, {T}] failed: {result}. Lower T, "
                "raise max_steps, or check the learning problem for divergence."
            )
    return hist


def train_chunked(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    chunk: int,
    checkpoint: str | os.PathLike | None = None,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    tag: str = "",
    progress: bool = False,
) -> TrainingHistory:
    """Gradient descent in chunks of :func:`train`, optionally saving the state after each chunk.

    Every chunk reuses one compiled :func:`train` (``steps = chunk``), so runs of different
    lengths compile once. With ``checkpoint``, the state (heads, step, history so far) is
    written to ``checkpoint`` atomically (temporary
    file, then rename), with :func:`run_hash` of everything that determines the trajectory. If
    the file exists it is resumed from; a resumed run ends bit-identical to an uninterrupted one.
    ``steps`` is not hashed, so a finished run can be extended. Progress shows with tqdm when
    ``progress`` is true and ``TQDM_DISABLE`` is unset.

    Args:
        chunk: steps per chunk (divides ``steps``).
        snapshot_every: keep the heads every this many steps: a divisor or a multiple of
            ``chunk`` that divides ``steps``; None keeps the first and last only.
        checkpoint: path of the ``.npz`` state file, or None (no file).
        tag: extra text hashed with the run (e.g. a parameter-set hash).
        theta0, mu, xi, targets, eta, steps, method, scheme: as in :func:`train`.

    Raises:
        ParameterError: bad sizes or step; a checkpoint written for other parameters or
            unreadable; one beyond ``steps``.
        SolveFailed: the risk became non-finite (names the step; the state up to it is saved).
    """
    _check_positive("train_chunked", "eta", eta)
    _check_steps("train_chunked", steps, chunk, name="chunk")
    if snapshot_every is not None:
        _check_steps("train_chunked", steps, snapshot_every)
        if chunk % snapshot_every and snapshot_every % chunk:
            raise ParameterError(
                f"train_chunked: snapshot_every = {snapshot_every}; allowed a divisor or a "
                f"multiple of chunk = {chunk}."
            )
    inner = snapshot_every if snapshot_every is not None and chunk % snapshot_every == 0 else None
    _check_method("train_chunked", method)
    path = None if checkpoint is None else Path(checkpoint)
    digest = (
        ""
        if path is None
        else run_hash(
            theta0,
            mu,
            xi,
            targets,
            eta=eta,
            chunk=chunk,
            snapshot_every=snapshot_every,
            method=method,
            scheme=scheme,
            tag=tag,
        )
    )
    resume = path is not None and path.exists()
    state = _load_state(path, digest, steps) if resume else _initial_state(theta0)
    from tqdm import tqdm  # plain text bars: tqdm.auto warns inside notebooks without ipywidgets

    disable = not progress or bool(os.environ.get("TQDM_DISABLE"))
    with tqdm(total=steps, initial=state["k"], disable=disable, desc="train", unit="step") as bar:
        while state["k"] < steps and state["first_bad"] < 0:
            theta = Heads(jnp.asarray(state["A"]), jnp.asarray(state["V"]))
            part = train(
                theta,
                mu,
                xi,
                targets,
                eta=eta,
                steps=chunk,
                snapshot_every=inner,
                method=method,
                scheme=scheme,
                throw=False,
            )
            state = _extend_state(state, part, chunk, snapshot_every or steps)
            if path is not None:
                _save_state(path, state, digest)
            bar.update(chunk)
    hist = _history_from_state(state, eta)
    return _guard(hist, "train_chunked", eta, True)


def run_hash(theta0, mu, xi, targets, **settings) -> str:
    """SHA-256 of the arrays and settings that determine a training trajectory."""
    h = hashlib.sha256()
    arrays = [theta0.A, theta0.V, mu.x, mu.a, xi, targets.T, targets.W, targets.y]
    for a in arrays:
        if a is None:
            h.update(b"none")
        else:
            a = np.asarray(a)
            h.update(str((a.shape, str(a.dtype))).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(sorted(settings.items())).encode())
    return h.hexdigest()


def dissipation_ratio(R0, R1, g2_0, eta):
    """One-step dissipation ratio ``ρ = (R_0 − R_1)/(η ‖g_0‖²)``; ``1 − ρ = O(η)`` (MATH.md §4)."""
    return (R0 - R1) / (eta * g2_0)


def energy_defect(t, R, g2, rule: str = "trapezoid"):
    """Relative defect of the integrated energy identity along a history.

    .. math::

        d = \\frac{R(0) - R(T) - \\int_0^T \\|g\\|^2 dt}{R(0) - R(T)}

    with the integral by the trapezoid (or left Riemann) rule; ``d = O(η)`` for gradient descent.

    Raises:
        ParameterError: unknown ``rule``.
    """
    t, R, g2 = (np.asarray(v, float) for v in (t, R, g2))
    dt = np.diff(t)
    if rule == "trapezoid":
        integral = np.sum(0.5 * dt * (g2[1:] + g2[:-1]))
    elif rule == "left":
        integral = np.sum(dt * g2[:-1])
    else:
        raise ParameterError(
            f"energy_defect: rule = {rule!r}; allowed 'trapezoid' or 'left'."
            f"{suggest(rule, ('trapezoid', 'left'))}"
        )
    drop = R[0] - R[-1]
    return (drop - integral) / drop


def sync_distance(theta: Heads, theta_ref: Heads):
    """Synchronous distance ``D_sync² = (1/(LM)) Σ |θ_{ℓm} − θ'_{ℓm}|²``, an upper bound on
    ``W_COT`` for matched labels (MATH.md §1.3). Works on leading batch axes too."""
    ref_A = jnp.broadcast_to(theta_ref.A, theta.A.shape)  # explicit: batch axes of snapshots
    ref_V = jnp.broadcast_to(theta_ref.V, theta.V.shape)
    dA, dV = theta.A - ref_A, theta.V - ref_V
    LM = theta.A.shape[-4] * theta.A.shape[-3]
    return jnp.sqrt(
        (jnp.sum(dA**2, axis=(-4, -3, -2, -1)) + jnp.sum(dV**2, axis=(-4, -3, -2, -1))) / LM
    )


# ---------------------------------------------------------------- private
def _reraise_unless_divergence(exc):
    """Let only the package's own non-finite guards count as divergence. Under ``jax.jit`` an
    ``eqx.error_if`` surfaces as a ``JaxRuntimeError`` or, through a host callback, a
    ``ValueError``: both carry our "non-finite" message; any other error is a bug and re-raised."""
    if "non-finite" not in str(exc):
        raise exc


def _check_positive(where, name, value):
    if is_traced(value):
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: {name} = {value!r}; allowed a finite number > 0.") from None
    if not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{where}: {name} = {value!r}; allowed a finite number > 0.")


def _check_steps(where, steps, every, name="snapshot_every"):
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ParameterError(f"{where}: steps = {steps!r}; allowed integer >= 1.")
    if every is None:
        return
    if not isinstance(every, int) or isinstance(every, bool) or every < 1 or steps % every:
        raise ParameterError(
            f"{where}: {name} = {every!r}; allowed an integer >= 1 dividing steps = {steps}."
        )


def _check_method(where, method):
    if method not in GRADIENT_METHODS:
        raise ParameterError(
            f"{where}: method = {method!r}; allowed {list(GRADIENT_METHODS)}."
            f"{suggest(method, GRADIENT_METHODS)}"
        )


def _guard(hist, where, eta, throw):
    if not throw or is_traced(hist.first_bad_step):
        return hist
    k = int(hist.first_bad_step)
    if k >= 0:
        raise SolveFailed(
            f"{where}: the risk or its gradient became non-finite at step {k} "
            f"(t = {float(hist.t[k]):.6g}); the "
            f"run stopped there. Lower the learning rate eta = {eta}."
        )
    return hist


def _risk_grad(theta, mu, xi, targets, method, scheme):
    R, g = cot_gradient(theta, mu, xi, targets, method=method, scheme=scheme)
    return R, g, cot_norm2(g)


@partial(jax.jit, static_argnames=("method", "scheme"))
def _one_step(theta, mu, xi, targets, eta, *, method, scheme):
    R, g, g2 = _risk_grad(theta, mu, xi, targets, method, scheme)
    return R, g2, gd_step(theta, g, eta=eta)


def _train_loop(theta0, mu, xi, targets, eta, t0, *, steps, every, method, scheme):
    """Step-by-step rerun of :func:`_train_scan` after the gradient raised inside the scan (the
    forward or adjoint sweep guards its own states): the step whose evaluation raises or is
    non-finite is the first bad one, and the heads stay frozen from there."""
    theta, first_bad, R, g2, snaps = theta0, -1, [], [], [theta0]
    for k in range(steps + 1):
        if first_bad < 0:
            try:
                Rk, g2k, new = _one_step(theta, mu, xi, targets, eta, method=method, scheme=scheme)
                ok = bool(jnp.isfinite(Rk) & jnp.isfinite(g2k))
            except (jax.errors.JaxRuntimeError, SolveFailed, ValueError) as exc:
                _reraise_unless_divergence(exc)
                ok = False
            if ok:
                R.append(Rk), g2.append(g2k)
                theta = new if k < steps else theta
            else:
                first_bad = k
        if first_bad >= 0:
            R.append(jnp.nan), g2.append(jnp.nan)
        if k and k % every == 0:
            snaps.append(theta)
    stack = partial(jax.tree_util.tree_map, lambda *xs: jnp.stack(xs))
    t = t0 + eta * jnp.arange(steps + 1)
    return TrainingHistory(
        theta,
        t,
        jnp.asarray(R),
        jnp.asarray(g2),
        stack(*snaps),
        t0 + eta * every * jnp.arange(steps // every + 1),
        jnp.asarray(first_bad),
    )


@partial(jax.jit, static_argnames=("steps", "every", "method", "scheme"))
def _train_scan(theta0, mu, xi, targets, eta, t0, *, steps, every, method, scheme):
    # one flat scan over k = 0..K evaluating the gradient once per step: the gradient program is
    # traced once (compile time), the last iteration only records R and ‖g‖² at θ^K
    n_snaps = steps // every + 1
    snaps0 = jax.tree_util.tree_map(lambda v: jnp.zeros((n_snaps, *v.shape), v.dtype), theta0)

    def step(carry, k):
        theta, first_bad, snaps = carry
        snaps = jax.lax.cond(
            k % every == 0,
            lambda s: jax.tree_util.tree_map(lambda a, th: a.at[k // every].set(th), s, theta),
            lambda s: s,
            snaps,
        )
        R, g, g2 = _risk_grad(theta, mu, xi, targets, method, scheme)
        first_bad = first_nonfinite(first_bad, k, jnp.stack([R, g2]))
        new = gd_step(theta, g, eta=eta)
        # freeze at the first non-finite step (the history keeps where the run broke) and at K
        keep = (first_bad < 0) & (k < steps)
        theta = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, theta)
        return (theta, first_bad, snaps), (R, g2)

    (theta, first_bad, snaps), (R, g2) = jax.lax.scan(
        step, (theta0, jnp.array(-1), snaps0), jnp.arange(steps + 1)
    )
    t = t0 + eta * jnp.arange(steps + 1)
    snapshot_t = t0 + eta * every * jnp.arange(n_snaps)
    return TrainingHistory(theta, t, R, g2, snaps, snapshot_t, first_bad)


@partial(jax.jit, static_argnames=("rtol", "atol", "method", "scheme", "max_steps"))
def _flow_solve(theta0, mu, xi, targets, ts, *, rtol, atol, method, scheme, max_steps):
    def rhs(t, y, args):
        theta, _ = y
        _, g, g2 = _risk_grad(theta, mu, xi, targets, method, scheme)
        return jax.tree_util.tree_map(jnp.negative, g), g2

    y0 = (theta0, jnp.zeros((), theta0.A.dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        diffrax.Tsit5(),
        ts[0],
        ts[-1],
        (ts[-1] - ts[0]) / 100,
        y0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    snaps, E = sol.ys
    # times the solve did not reach are filled with inf: evaluate θ⁰ there and report NaN
    reached = jnp.all(jnp.isfinite(snaps.A), axis=(1, 2, 3, 4)) & jnp.all(
        jnp.isfinite(snaps.V), axis=(1, 2, 3, 4)
    )
    safe = jax.tree_util.tree_map(
        lambda s, th: jnp.where(reached[:, None, None, None, None], s, th[None]), snaps, theta0
    )
    R, _, g2 = jax.lax.map(lambda th: _risk_grad(th, mu, xi, targets, method, scheme), safe)
    R, g2 = jnp.where(reached, R, jnp.nan), jnp.where(reached, g2, jnp.nan)
    theta = jax.tree_util.tree_map(lambda s: s[-1], snaps)
    bad = jnp.where(jnp.all(jnp.isfinite(R + g2)), -1, jnp.argmax(~jnp.isfinite(R + g2)))
    hist = TrainingHistory(
        theta, ts, R, g2, snaps, ts, bad, dissipated=E, num_steps=sol.stats["num_accepted_steps"]
    )
    return hist, sol.result


def _initial_state(theta0):
    A, V = np.asarray(theta0.A), np.asarray(theta0.V)
    empty = np.zeros((0,), A.dtype)
    return {
        "A": A,
        "V": V,
        "k": 0,
        "first_bad": -1,
        "R": empty,
        "g2": empty,
        "R_last": empty,
        "g2_last": empty,
        "snapA": A[None],
        "snapV": V[None],
        "snapk": np.zeros((1,), np.int64),
    }


def _extend_state(state, part, chunk, snapshot_every):
    k0 = state["k"]
    bad = int(part.first_bad_step)
    every = chunk // (part.snapshot_t.shape[0] - 1)
    snap_k = k0 + every * np.arange(1, part.snapshot_t.shape[0])
    keep = 1 + np.flatnonzero(snap_k % snapshot_every == 0)
    return {
        "A": np.asarray(part.theta.A),
        "V": np.asarray(part.theta.V),
        "k": k0 + chunk,
        "first_bad": (k0 + bad) if bad >= 0 else -1,
        # each chunk's last entry is the next chunk's first (same heads): keep it once
        "R": np.concatenate([state["R"], np.asarray(part.R[:-1])]),
        "g2": np.concatenate([state["g2"], np.asarray(part.g2[:-1])]),
        "R_last": np.asarray(part.R[-1:]),
        "g2_last": np.asarray(part.g2[-1:]),
        "snapA": np.concatenate([state["snapA"], np.asarray(part.snapshots.A)[keep]]),
        "snapV": np.concatenate([state["snapV"], np.asarray(part.snapshots.V)[keep]]),
        "snapk": np.concatenate([state["snapk"], snap_k[keep - 1]]),
    }


def _save_state(path, state, digest):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, digest=np.array(digest), **{k: np.asarray(v) for k, v in state.items()})
    os.replace(tmp, path)


def _load_state(path, digest, steps):
    try:
        with np.load(path) as f:
            saved = str(f["digest"])
            state = {k: f[k] for k in f.files if k != "digest"}
    except Exception as exc:  # a truncated or foreign file
        raise ParameterError(
            f"train_chunked: checkpoint {path} is unreadable ({exc}); delete it to start afresh."
        ) from None
    if saved != digest:
        raise ParameterError(
            f"train_chunked: checkpoint {path} was written for other parameters (hash "
            f"{saved[:12]} ≠ {digest[:12]}); delete it or choose another checkpoint path."
        )
    state["k"], state["first_bad"] = int(state["k"]), int(state["first_bad"])
    if state["k"] > steps:
        raise ParameterError(
            f"train_chunked: steps = {steps}; allowed >= {state['k']}, the "
            f"step already saved in {path}."
        )
    return state


def _history_from_state(state, eta):
    theta = Heads(jnp.asarray(state["A"]), jnp.asarray(state["V"]))
    k = state["k"]
    # unflatten, not Heads(...): the snapshot axis makes A, V 5-dimensional
    snaps = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(theta),
        [jnp.asarray(state["snapA"]), jnp.asarray(state["snapV"])],
    )
    return TrainingHistory(
        theta,
        jnp.asarray(eta * np.arange(k + 1)),
        jnp.asarray(np.concatenate([state["R"], state["R_last"]])),
        jnp.asarray(np.concatenate([state["g2"], state["g2_last"]])),
        snaps,
        jnp.asarray(eta * state["snapk"]),
        jnp.asarray(state["first_bad"]),
    )
