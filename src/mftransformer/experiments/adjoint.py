"""Chapter 2, the adjoint gradient formula: experiments, checks and figures (MATH.md §3, §7).

Each experiment is ``fn(p, *, key) -> Result`` with ``p`` its section of the parameter set; the
checks are those of MATH.md §7 "Chapter 2". Figures are drawn from a result by ``plot_<what>``.

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

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..companion.params import param
from ..solver import tasks
from ..solver.adjoint import (
    Targets,
    _initial_state,
    _terminal,
    continuous_adjoint,
    cot_gradient,
    discrete_adjoint,
    risk,
)
from ..solver.attention import Heads
from ..solver.errors import ParameterError
from ..solver.forward import _layer
from ..solver.measures import EmpiricalMeasure
from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = [
    "Params",
    "field",
    "agreement",
    "interaction",
    "depth",
    "memory",
    "plot_field",
    "plot_agreement",
    "plot_interaction",
    "plot_depth",
    "plot_memory",
    "instance",
    "gradient_programs",
    "compiled_bytes",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, WEIGHTS, QUERIES, HEADS, TARGETS, DIRECTIONS = 0, 1, 2, 3, 4, 5
#: Same algebra, computed two ways: float64 round-off (MATH.md §3.3 measures 3e-16).
ADJOINT_RTOL = 1e-12
#: Central differences: error ∝ ε² above the round-off floor ~1e-10 (MATH.md §3.3).
FD_RATIO_BAND, FD_ERROR_MAX = (50.0, 200.0), 1e-6
#: Dropping the interaction term must change the gradient by more than this (relative).
INTERACTION_MIN = 0.05
#: Orders of the continuous adjoint in depth (least squares over the depths).
SLOPE_TOL = {"euler": 0.1, "heun": 0.15}
DISCRETE_SLOPE_MAX = -0.8
#: Memory: the continuous adjoint's working memory may grow at most 30 % over the depths, and
#: the exact adjoint's by at most the token states it stores (+5 % for XLA's buffer alignment).
FLAT_MEMORY_RATIO, STATE_BYTES_SLACK = 1.3, 1.05
MODES = ("exact", "continuous", "autodiff", "autodiff_checkpoint")


# ---------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class FieldParams:
    n: int = param("tokens of the context (d = 2)", ge=2)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)
    arrows_at: tuple[int, ...] = param("layers at which the adjoint field is drawn", ge=0)


@dataclasses.dataclass(frozen=True)
class AgreementParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input (the last one has zero weight: padding)", ge=2)
    N: int = param("number of inputs", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)
    eps: tuple[float, ...] = param("finite-difference steps (must contain 1e-3 and 1e-4)", gt=0)
    directions: int = param("random directions for the finite differences", ge=1)


@dataclasses.dataclass(frozen=True)
class InteractionParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input (the last one has zero weight: padding)", ge=2)
    N: int = param("number of inputs", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)
    instances: int = param("independent random instances", ge=1)


@dataclasses.dataclass(frozen=True)
class DepthParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads of the smooth measure nu_s", ge=1)
    scale: float = param("entries of theta^0, theta^1 ~ N(0, scale^2)", gt=0)
    Ls: tuple[int, ...] = param(
        "depths L (each must divide L_ref and be a multiple of Ls[0])", ge=1
    )
    L_ref: int = param("depth of the RK4 continuous-adjoint reference", ge=1)


@dataclasses.dataclass(frozen=True)
class MemoryParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads per layer", ge=1)
    Ls: tuple[int, ...] = param("depths L", ge=1)
    repeats: int = param("timed calls per program (the median is reported)", ge=1)


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = param("root of every random draw of the chapter", ge=0)
    field: FieldParams = param("the adjoint field along token trajectories")
    agreement: AgreementParams = param("adjoint against autodiff and finite differences")
    interaction: InteractionParams = param("the adjoint without its interaction term")
    depth: DepthParams = param("continuous adjoint against depth")
    memory: MemoryParams = param("working memory and time against depth")


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
def field(p: FieldParams, *, key) -> Result:
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
    check = Check.below("adjoint_field", err, ADJOINT_RTOL)
    data = {"states": states, "p": p_field, "layers": layers, "weights": np.asarray(mu.a[0])}
    return Result(values={"error": err}, data=data, check=check)


@experiment
def agreement(p: AgreementParams, *, key) -> Result:
    """Exact adjoint (Euler, Heun) and the continuous adjoint against ``jax.grad``; the directional
    derivative against central differences ``(R(θ+εD) − R(θ−εD))/2ε`` on random directions ``D``.

    The finite-difference error is ``|FD − ⟨∇R, D⟩| / (‖∇R‖ ‖D‖)``: relative to the largest
    directional derivative (Cauchy–Schwarz), not to ``⟨∇R, D⟩``, which a direction can make small."""
    theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=key)
    rows = {}
    for scheme in ("euler", "heun"):
        _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff", scheme=scheme)
        for method in ("exact", "continuous"):
            _, g = cot_gradient(theta, mu, xi, targets, method=method, scheme=scheme)
            rows[f"{method}_{scheme}"] = _rel(g, g_auto)
    _, g_exact = cot_gradient(theta, mu, xi, targets, method="exact")
    _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff")
    scale = 1.0 / (theta.L * theta.M)  # COT gradient -> ∇_θ R
    eps = np.asarray(sorted(p.eps, reverse=True))
    fd_err = {
        "exact": np.zeros((p.directions, eps.size)),
        "autodiff": np.zeros((p.directions, eps.size)),
    }
    R = jax.jit(lambda th: risk(th, mu, xi, targets))
    for i, kd in enumerate(jax.random.split(jax.random.fold_in(key, DIRECTIONS), p.directions)):
        kA, kV = jax.random.split(kd)
        D = Heads(jax.random.normal(kA, theta.A.shape), jax.random.normal(kV, theta.V.shape))
        for j, e in enumerate(eps):
            plus = jax.tree.map(lambda t, v, e=e: t + e * v, theta, D)
            minus = jax.tree.map(lambda t, v, e=e: t - e * v, theta, D)
            fd = float(R(plus) - R(minus)) / (2 * e)
            for name, g in (("exact", g_exact), ("autodiff", g_auto)):
                dot = scale * sum(
                    float(jnp.vdot(u, v)) for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(D))
                )
                norm = scale * _norm(g) * _norm(D)
                fd_err[name][i, j] = abs(fd - dot) / norm
    e_max = fd_err["exact"].max(axis=0)
    e3, e4 = e_max[np.argmin(abs(eps - 1e-3))], e_max[np.argmin(abs(eps - 1e-4))]
    worst = max(rows["exact_euler"], rows["exact_heun"])
    check = Checks(
        (
            Check.below("adjoint_vs_autodiff", worst, ADJOINT_RTOL),
            Check.between("fd_order", e3 / e4, *FD_RATIO_BAND),
            Check.below("fd_error_1e-4", e4, FD_ERROR_MAX),
        )
    )
    values = {
        "vs_autodiff": rows,
        "fd_error": e_max,
        "fd_error_autodiff": fd_err["autodiff"].max(0),
        "eps": eps,
        "fd_ratio": e3 / e4,
        "fd_1e-3": e3,
        "fd_1e-4": e4,
    }
    data = {
        "eps": eps,
        "fd_error_exact": e_max,
        "fd_error_autodiff": fd_err["autodiff"].max(0),
        "fd_error_all": fd_err["exact"],
    }
    return Result(values=values, data=data, check=check)


@experiment
def interaction(p: InteractionParams, *, key) -> Result:
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
    check = Check.above("interaction_needed", float(err_total.min()), INTERACTION_MIN)
    values = {"error_A": err_A, "error_V": err_V, "error": err_total}
    return Result(values=values, data=dict(values), check=check)


@experiment
def depth(p: DepthParams, *, key) -> Result:
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
            Check.within("continuous_slope_euler", fits["euler"].slope, -1.0, SLOPE_TOL["euler"]),
            Check.within("continuous_slope_heun", fits["heun"].slope, -2.0, SLOPE_TOL["heun"]),
            Check.below(
                "continuous_vs_discrete", fits["exact"].slope, DISCRETE_SLOPE_MAX, show_value=True
            ),
        )
    )
    values = {"L": Ls, "errors": err, "slopes": {k: f.slope for k, f in fits.items()}}
    data = {
        "L": Ls,
        **{f"error_{k}": v for k, v in err.items()},
        **{f"fit_{k}": f(Ls) for k, f in fits.items()},
    }
    return Result(values=values, data=data, check=check)


@experiment
def memory(p: MemoryParams, *, key) -> Result:
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
            seconds[mode].append(_median_time(compiled, args, p.repeats))
    temp = {m: np.asarray(v, float) for m, v in temp.items()}
    seconds = {m: np.asarray(v) for m, v in seconds.items()}
    state_bytes = p.N * (p.n + 1) * p.d * 8
    per_layer = {m: float((v[-1] - v[0]) / (Ls[-1] - Ls[0])) for m, v in temp.items()}
    check = Checks(
        (
            Check.below(
                "continuous_flat_memory",
                temp["continuous"][-1] / temp["continuous"][0],
                FLAT_MEMORY_RATIO,
                show_value=True,
            ),
            Check.below(
                "exact_bytes_per_layer",
                per_layer["exact"] / state_bytes,
                STATE_BYTES_SLACK,
                show_value=True,
            ),
        )
    )
    values = {
        "L": Ls,
        "temp": temp,
        "seconds": seconds,
        "bytes_per_layer": per_layer,
        "state_bytes": state_bytes,
    }
    data = {
        "L": Ls,
        **{f"temp_{m}": v for m, v in temp.items()},
        **{f"seconds_{m}": v for m, v in seconds.items()},
    }
    return Result(values=values, data=data, check=check)


# ---------------------------------------------------------------- programs (also benchmarks/)
def _risk_unchecked(theta, mu, xi, targets):
    """``R`` through a plain ``lax.scan`` with no checkpoint: what ``jax.grad`` sees naively."""
    z0 = _initial_state(mu, xi)

    def body(z, l):
        return _layer(theta, l, z, mu.loga, theta.L, mu.n, "euler"), None

    z, _ = jax.lax.scan(body, z0, jnp.arange(theta.L))
    return _terminal(z, mu, targets)


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


def _median_time(compiled, args, repeats):
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ---------------------------------------------------------------- figures
def plot_field(result: Result):
    """Token trajectories of one context with the adjoint field ``p_s = λ/a`` at a few layers."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=3.0)
    z, pf = d["states"], d["p"]
    for k in range(z.shape[1]):
        ax.plot(z[:, k, 0], z[:, k, 1], "-", color="0.6", lw=0.7)
    ax.plot(z[0, :, 0], z[0, :, 1], "o", color="0.4", ms=2.5, label="$s = 0$")
    for i, l in enumerate(d["layers"]):
        ax.quiver(
            z[l, :, 0],
            z[l, :, 1],
            pf[l, :, 0],
            pf[l, :, 1],
            color=f"C{i}",
            angles="xy",
            width=0.006,
            label=f"$p_s$, $s = {l / (z.shape[0] - 1):.2f}$",
        )
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title="adjoint field on trajectories")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize="x-small")
    return fig


def plot_agreement(result: Result):
    """Relative error of central differences against the adjoint's directional derivative, as a
    function of the step ``ε`` (log-log), with the ``ε²`` slope."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for row in d["fd_error_all"]:
        ax.loglog(d["eps"], row, "-", color="0.75", lw=0.6)
    ax.loglog(
        d["eps"], d["fd_error_exact"], "o-", color="C0", label="exact adjoint (worst direction)"
    )
    ax.loglog(d["eps"], d["fd_error_autodiff"], "x", color="C1", label="jax.grad (worst direction)")
    e0 = d["fd_error_exact"][np.argmin(abs(d["eps"] - 1e-3))]
    ax.loglog(
        d["eps"], e0 * (d["eps"] / 1e-3) ** 2, ":", color="k", label=r"slope 2 ($\varepsilon^2$)"
    )
    ax.set(xlabel=r"step $\varepsilon$", ylabel="relative error", title="finite differences")
    ax.legend(fontsize="x-small")
    return fig


def plot_interaction(result: Result):
    """Relative gradient error of the frozen-context adjoint, per instance, for ``A`` and ``V``."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.6)
    i = np.arange(d["error_A"].size)
    ax.bar(i - 0.2, 100 * d["error_A"], 0.4, color="C0", label="$A$")
    ax.bar(i + 0.2, 100 * d["error_V"], 0.4, color="C1", label="$V$")
    ax.axhline(100 * INTERACTION_MIN, color="k", ls=":", lw=0.8, label="5 %")
    ax.set(
        xlabel="instance",
        ylabel="gradient error without\ninteraction term (%)",
        title="dropping the interaction term",
    )
    ax.set_xticks(i)
    ax.legend(fontsize="x-small")
    return fig


def plot_depth(result: Result):
    """Gradient error against ``L`` (log-log) with the fitted lines and the expected orders."""
    from ..companion.figures import new_figure

    d = result.data
    slopes = result.values["slopes"]
    fig, ax = new_figure(1, height=3.0)
    curves = (
        ("euler", "continuous adjoint, Euler", 1),
        ("heun", "continuous adjoint, Heun", 2),
        ("exact", "Euler network, exact gradient", 1),
    )
    for i, (k, label, order) in enumerate(curves):
        ax.loglog(d["L"], d[f"error_{k}"], "os^v"[i], color=f"C{i}")
        ax.loglog(
            d["L"],
            d[f"fit_{k}"],
            "-",
            color=f"C{i}",
            label=f"{label}: slope {slopes[k]:.2f} (order {order})",
        )
    ax.set(
        xlabel="depth steps $L$",
        ylabel="relative gradient error",
        title="COT gradient against depth",
    )
    ax.legend(fontsize="x-small")
    return fig


def plot_memory(result: Result):
    """Working memory (left) and wall time (right) of the four gradient programs against ``L``."""
    from ..companion.figures import new_figure

    d = result.data
    fig, (ax, ax_t) = new_figure(2, width="page", height=2.8)
    for i, m in enumerate(MODES):
        ax.loglog(d["L"], d[f"temp_{m}"], "o-", color=f"C{i}", label=m.replace("_", " + "))
        ax_t.loglog(d["L"], d[f"seconds_{m}"], "o-", color=f"C{i}", label=m.replace("_", " + "))
    ax.set(xlabel="layers $L$", ylabel="working memory (bytes)", title="compiled memory")
    ax_t.set(xlabel="layers $L$", ylabel="seconds per gradient", title="time (CPU)")
    ax.legend(fontsize="x-small")
    return fig
