"""Chapter 2, the adjoint gradient formula: the experiments (Model: risk).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.

- :func:`field`: the adjoint field ``p_s = λ/a`` along token trajectories; ``adjoint_field``
  (``λ^0`` against ``jax.grad`` with respect to the input tokens).
- :func:`agreement`: exact adjoint (Euler, Heun), ``jax.grad`` and central finite differences;
  ``adjoint_vs_autodiff``, ``fd_order``.
- :func:`interaction`: the frozen-context (local-only) adjoint; ``interaction_needed``.
- :func:`depth`: continuous adjoint (Euler, Heun) and the network's exact gradient against the
  continuous-depth COT gradient; ``continuous_slope_*``, ``continuous_vs_discrete``.
- :func:`memory`: compiled working memory and time of the four gradient programs against depth;
  ``continuous_flat_memory``, ``exact_bytes_per_layer``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import tasks
from ...solver.adjoint import (
    Targets,
    continuous_adjoint,
    cot_gradient,
    discrete_adjoint,
    risk,
    terminal_risk,
)
from ...solver.attention import Heads
from ...solver.errors import ParameterError
from ...solver.forward import initial_state, layer_step
from ...solver.measures import EmpiricalMeasure
from ..checks import Checks, Result, experiment, fit_loglog, result_type
from .claims import CLAIMS
from .params import AgreementParams, DepthParams, FieldParams, InteractionParams, MemoryParams

__all__ = [
    "MODES",
    "instance",
    "field",
    "FieldResult",
    "agreement",
    "AgreementResult",
    "interaction",
    "InteractionResult",
    "depth",
    "DepthResult",
    "memory",
    "MemoryResult",
    "gradient_programs",
    "compiled_bytes",
    "median_time",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, WEIGHTS, QUERIES, HEADS, TARGETS, DIRECTIONS = 0, 1, 2, 3, 4, 5
MODES = ("exact", "continuous", "autodiff", "autodiff_checkpoint")


@result_type
class FieldResult(Result):
    error: float  # ‖λ^0 − ∇_x R‖ / ‖∇_x R‖


@result_type
class AgreementResult(Result):
    vs_autodiff: dict  # "<method>_<scheme>" -> relative error against jax.grad
    fd_error: np.ndarray  # worst FD error of the exact adjoint per eps
    fd_error_autodiff: np.ndarray  # the same for jax.grad
    eps: np.ndarray  # finite-difference steps, decreasing
    fd_ratio: float  # e(1e-3) / e(1e-4)
    fd_e3: float  # e(1e-3)
    fd_e4: float  # e(1e-4)


@result_type
class InteractionResult(Result):
    error_A: np.ndarray  # per instance: relative error of the local-only gradient in A
    error_V: np.ndarray  # in V
    error: np.ndarray  # in (A, V)


@result_type
class DepthResult(Result):
    L: np.ndarray
    errors: dict  # "euler" / "heun" / "exact" -> errors per L
    slopes: dict


@result_type
class MemoryResult(Result):
    L: np.ndarray
    temp: dict  # mode -> working bytes per L
    seconds: dict  # mode -> median seconds per L
    bytes_per_layer: dict  # mode -> growth of the working bytes per layer
    state_bytes: int  # bytes of one layer's token states


# ---------------------------------------------------------------- shared setting
def instance(d, n, N, L, M, scale, *, key, pad=True, smooth=False):
    """The §3.3 setting: ``N`` contexts of ``n`` Gaussian tokens (Dirichlet weights, the last
    token zero-weight padding if ``pad``), queries, heads ``A, V ~ scale·N(0, 1)`` (layer-wise,
    or :class:`SmoothHeads` if ``smooth``) and task T + C targets (``d_out = 1``)."""
    k = {tag: jax.random.fold_in(key, tag) for tag in (DATA, WEIGHTS, QUERIES, HEADS, TARGETS)}
    x = jax.random.normal(k[DATA], (N, n, d))
    a = jax.random.dirichlet(k[WEIGHTS], jnp.ones(n), (N,))
    if pad:
        a = a.at[:, -1].set(0.0)
    mu = EmpiricalMeasure(x, a / a.sum(axis=1, keepdims=True))
    xi = jax.random.normal(k[QUERIES], (N, d))
    if smooth:
        theta = tasks.smooth_heads(M, d, key=k[HEADS], scale=scale)
    else:
        kA, kV = jax.random.split(k[HEADS])
        theta = Heads(
            scale * jax.random.normal(kA, (L, M, d, d)), scale * jax.random.normal(kV, (L, M, d, d))
        )
    kT, kW, ky = jax.random.split(k[TARGETS], 3)
    targets = Targets(
        T=jax.random.normal(kT, (N, n, d)),
        W=jax.random.normal(kW, (1, d)),
        y=jax.random.normal(ky, (N, 1)),
    )
    return theta, mu, xi, targets


def _fd_errors(theta, mu, xi, targets, grads, eps, directions, key):
    """``|FD − ⟨∇R, D⟩| / (‖∇R‖ ‖D‖)`` per direction and ``ε`` for each COT gradient of
    ``grads`` (name -> gradient), ``(directions, |eps|)`` each."""
    scale = 1.0 / (theta.L * theta.M)  # COT gradient -> ∇_θ R
    fd_err = {name: np.zeros((directions, eps.size)) for name in grads}
    for i, kd in enumerate(jax.random.split(jax.random.fold_in(key, DIRECTIONS), directions)):
        kA, kV = jax.random.split(kd)
        D = Heads(jax.random.normal(kA, theta.A.shape), jax.random.normal(kV, theta.V.shape))
        for j, e in enumerate(eps):
            plus = jax.tree.map(lambda t, v, e=e: t + e * v, theta, D)
            minus = jax.tree.map(lambda t, v, e=e: t - e * v, theta, D)
            fd = float(_risk(plus, mu, xi, targets) - _risk(minus, mu, xi, targets)) / (2 * e)
            for name, g in grads.items():
                dot = scale * sum(
                    float(jnp.vdot(u, v))
                    for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(D), strict=True)
                )
                norm = scale * _norm(g) * _norm(D)
                fd_err[name][i, j] = abs(fd - dot) / norm
    return fd_err


#: The risk as one module-level jitted program: a second run with the same shapes compiles nothing.
_risk = jax.jit(risk)


def _norm(g):
    return float(np.sqrt(sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(g))))


def _rel(g, ref):
    """``‖g − ref‖ / ‖ref‖`` over all leaves (Frobenius)."""
    num = sum(
        float(jnp.sum((u - v) ** 2))
        for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(ref), strict=True)
    )
    den = sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(ref))
    return float(np.sqrt(num / den))


# ---------------------------------------------------------------- experiments
@experiment
def field(p: FieldParams, *, key) -> FieldResult:
    """The adjoint field ``p_s(x_k) = λ_k(s)/a_k`` of one context (``d = 2``, task T) along the
    token trajectories; checks that ``λ^0`` equals ``jax.grad`` of ``R`` in the input tokens."""
    theta, mu, _, tg = instance(2, p.n, 1, p.L, p.M, p.scale, key=key, pad=False)
    targets = Targets(T=tg.T)
    out = discrete_adjoint(theta, mu, None, targets, trace=True)
    grad_x = jax.grad(lambda x: risk(theta, EmpiricalMeasure(x, mu.a), None, targets))(mu.x)
    err = _rel(out.lam, grad_x)
    states = np.asarray(out.states[:, 0])  # (L + 1, n, 2)
    p_field = np.asarray(out.lams[:, 0] / mu.a[0][None, :, None])
    layers = np.array([l for l in p.arrows_at if l <= p.L])
    check = CLAIMS["adjoint_field"].check(err)
    data = {"states": states, "p": p_field, "layers": layers, "weights": np.asarray(mu.a[0])}
    return FieldResult(error=err, data=data, check=check)


@experiment
def agreement(p: AgreementParams, *, key) -> AgreementResult:
    """Exact adjoint (Euler, Heun) and the continuous adjoint against ``jax.grad``; the directional
    derivative against central differences ``(R(θ+εD) − R(θ−εD))/2ε`` on random directions ``D``.

    The finite-difference error is ``|FD − ⟨∇R, D⟩| / (‖∇R‖ ‖D‖)``: relative to the largest
    directional derivative (Cauchy–Schwarz), not to ``⟨∇R, D⟩``, which a direction can make
    small."""
    theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=key)
    rows = {}
    for scheme in ("euler", "heun"):
        _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff", scheme=scheme)
        for method in ("exact", "continuous"):
            _, g = cot_gradient(theta, mu, xi, targets, method=method, scheme=scheme)
            rows[f"{method}_{scheme}"] = _rel(g, g_auto)
    _, g_exact = cot_gradient(theta, mu, xi, targets, method="exact")
    _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff")
    eps = np.asarray(sorted(p.eps, reverse=True))
    fd_err = _fd_errors(
        theta, mu, xi, targets, {"exact": g_exact, "autodiff": g_auto}, eps, p.directions, key
    )
    e_max = fd_err["exact"].max(axis=0)
    e3, e4 = e_max[np.argmin(abs(eps - 1e-3))], e_max[np.argmin(abs(eps - 1e-4))]
    worst = max(rows["exact_euler"], rows["exact_heun"])
    check = Checks(
        (
            CLAIMS["adjoint_vs_autodiff"].check(worst),
            CLAIMS["fd_order"].check(e3 / e4),
            CLAIMS["fd_error_1e-4"].check(e4),
        )
    )
    data = {
        "eps": eps,
        "fd_error_exact": e_max,
        "fd_error_autodiff": fd_err["autodiff"].max(0),
        "fd_error_all": fd_err["exact"],
    }
    return AgreementResult(
        vs_autodiff=rows,
        fd_error=e_max,
        fd_error_autodiff=fd_err["autodiff"].max(0),
        eps=eps,
        fd_ratio=e3 / e4,
        fd_e3=e3,
        fd_e4=e4,
        data=data,
        check=check,
    )


@experiment
def interaction(p: InteractionParams, *, key) -> InteractionResult:
    """The frozen-context adjoint (``local_only=True``: the neural-ODE adjoint that ignores how the
    attention context moves) against the full one, on several random instances."""
    err_A, err_V, err_total = [], [], []
    for k in jax.random.split(key, p.instances):
        theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=k)
        _, g = cot_gradient(theta, mu, xi, targets, method="exact")
        _, g_local = cot_gradient(theta, mu, xi, targets, method="exact", local_only=True)
        err_A.append(_rel(g_local.A, g.A))
        err_V.append(_rel(g_local.V, g.V))
        err_total.append(_rel(g_local, g))
    err_A, err_V, err_total = map(np.asarray, (err_A, err_V, err_total))
    check = CLAIMS["interaction_needed"].check(float(err_total.min()))
    values = {"error_A": err_A, "error_V": err_V, "error": err_total}
    return InteractionResult(**values, data=dict(values), check=check)


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    """Continuous adjoint (Euler, Heun) and the exact gradient of the Euler network
    ``θ_{ℓm} = θ_m(s_ℓ)`` against the continuous-depth COT gradient (the RK4 continuous adjoint at
    ``L_ref``, error ~1e-10), compared at the coarsest grid's depths ``s = ℓ/L_0``.

    Raises:
        ParameterError: a depth that is not a multiple of ``Ls[0]`` or does not divide ``L_ref``.
    """
    bad = [L for L in (*p.Ls, p.L_ref) if L % p.Ls[0] or p.L_ref % L]
    if bad:
        raise ParameterError(
            f"adjoint.depth: Ls = {p.Ls}, L_ref = {p.L_ref}; allowed depths that are multiples of "
            f"Ls[0] = {p.Ls[0]} and divide L_ref (offending: {bad})."
        )
    theta, mu, xi, targets = instance(p.d, p.n, p.N, 1, p.M, p.scale, key=key, smooth=True)
    Ls = np.asarray(p.Ls)
    ref = continuous_adjoint(theta, mu, xi, targets, L=p.L_ref, scheme="rk4").grad

    def on_grid(g, L):  # the layers at the coarsest grid's depths s = ℓ / Ls[0]
        return jax.tree.map(lambda v: v[:: L // Ls[0]], g)

    ref0 = on_grid(ref, p.L_ref)
    err = {"euler": [], "heun": [], "exact": []}
    for L in Ls:
        L = int(L)
        for scheme in ("euler", "heun"):
            g = continuous_adjoint(theta, mu, xi, targets, L=L, scheme=scheme).grad
            err[scheme].append(_rel(on_grid(g, L), ref0))
        g_net = discrete_adjoint(theta.discretise(L), mu, xi, targets).grad
        err["exact"].append(_rel(on_grid(g_net, L), ref0))
    err = {k: np.asarray(v) for k, v in err.items()}
    fits = {k: fit_loglog(Ls, v) for k, v in err.items()}
    check = Checks(
        (
            CLAIMS["continuous_slope_euler"].check(fits["euler"].slope),
            CLAIMS["continuous_slope_heun"].check(fits["heun"].slope),
            CLAIMS["continuous_vs_discrete"].check(fits["exact"].slope),
        )
    )
    data = {
        "L": Ls,
        **{f"error_{k}": v for k, v in err.items()},
        **{f"fit_{k}": f(Ls) for k, f in fits.items()},
    }
    slopes = {k: f.slope for k, f in fits.items()}
    return DepthResult(L=Ls, errors=err, slopes=slopes, data=data, check=check)


@experiment
def memory(p: MemoryParams, *, key) -> MemoryResult:
    """Working memory (XLA's compiled ``temp_size_in_bytes``: buffers beyond the arguments and
    outputs, which all programs share) and median wall time of the four gradient programs."""
    Ls = np.asarray(p.Ls)
    temp = {m: [] for m in MODES}
    seconds = {m: [] for m in MODES}
    for L in Ls:
        args = instance(p.d, p.n, p.N, int(L), p.M, 0.5, key=key, pad=False)
        for mode, fn in gradient_programs().items():
            compiled = jax.jit(fn).lower(*args).compile()
            temp[mode].append(compiled_bytes(compiled))
            seconds[mode].append(median_time(compiled, args, p.repeats))
    temp = {m: np.asarray(v, float) for m, v in temp.items()}
    seconds = {m: np.asarray(v) for m, v in seconds.items()}
    state_bytes = p.N * (p.n + 1) * p.d * 8
    per_layer = {m: float((v[-1] - v[0]) / (Ls[-1] - Ls[0])) for m, v in temp.items()}
    check = Checks(
        (
            CLAIMS["continuous_flat_memory"].check(temp["continuous"][-1] / temp["continuous"][0]),
            CLAIMS["exact_bytes_per_layer"].check(per_layer["exact"] / state_bytes),
        )
    )
    data = {
        "L": Ls,
        **{f"temp_{m}": v for m, v in temp.items()},
        **{f"seconds_{m}": v for m, v in seconds.items()},
    }
    return MemoryResult(
        L=Ls,
        temp=temp,
        seconds=seconds,
        bytes_per_layer=per_layer,
        state_bytes=state_bytes,
        data=data,
        check=check,
    )


# ---------------------------------------------------------------- programs (also benchmarks/)
def _risk_unchecked(theta, mu, xi, targets):
    """``R`` through a plain ``lax.scan`` with no checkpoint: what ``jax.grad`` sees naively."""
    z0 = initial_state(mu, xi)

    def body(z, l):
        return layer_step(theta, l, z, mu.loga, theta.L, mu.n, "euler"), None

    z, _ = jax.lax.scan(body, z0, jnp.arange(theta.L))
    return terminal_risk(z, mu, targets)


def gradient_programs() -> dict:
    """The four programs ``(theta, mu, xi, targets) -> (R, gradient)`` compared for memory and
    time: exact and continuous adjoints, plain ``jax.grad``, and ``jax.grad`` through the
    checkpointed layer scan (``cot_gradient(method="autodiff")``)."""
    return {
        "exact": lambda th, mu, xi, tg: cot_gradient(th, mu, xi, tg, method="exact"),
        "continuous": lambda th, mu, xi, tg: cot_gradient(th, mu, xi, tg, method="continuous"),
        "autodiff": jax.value_and_grad(_risk_unchecked),
        "autodiff_checkpoint": lambda th, mu, xi, tg: cot_gradient(th, mu, xi, tg),
    }


def compiled_bytes(compiled) -> int:
    """XLA's working memory of a compiled program: ``temp_size_in_bytes`` of its memory analysis."""
    return int(compiled.memory_analysis().temp_size_in_bytes)


def median_time(compiled, args, repeats):
    """Median wall time of ``repeats`` calls of ``compiled(*args)``, after one warm-up call."""
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))
