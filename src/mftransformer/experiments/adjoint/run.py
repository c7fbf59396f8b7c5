r"""Chapter 2, the adjoint gradient formula: the experiments (Model: risk).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.

- :func:`field`: the adjoint field :math:`p_s = \lambda/a` along token trajectories;
  ``adjoint_field`` (:math:`\lambda^0` against ``jax.grad`` with respect to the input tokens).
- :func:`agreement`: exact adjoint (Euler, Heun), ``jax.grad`` and central finite differences;
  ``adjoint_vs_autodiff``, ``fd_order``.
- :func:`interaction`: the adjoint without one or both parts of its interaction term
  (token→token, query→token) on tasks T, C and T + C; ``interaction_needed``.
- the first variation away from the particles (``probe``, ``landscape``, ``reversal``):
  :mod:`.variation`.
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
    INTERACTION_PARTS,
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
from .params import (
    AgreementParams,
    DepthParams,
    FieldParams,
    InteractionParams,
    MemoryParams,
)

__all__ = [
    "MODES",
    "instance",
    "field",
    "FieldResult",
    "agreement",
    "AgreementResult",
    "interaction",
    "InteractionResult",
    "TASKS",
    "ABLATIONS",
    "task_targets",
    "depth",
    "DepthResult",
    "memory",
    "MemoryResult",
    "gradient_programs",
    "compiled_bytes",
    "median_time",
    "relative_error",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, WEIGHTS, QUERIES, HEADS, TARGETS, DIRECTIONS, PROBES = 0, 1, 2, 3, 4, 5, 6
MODES = ("exact", "continuous", "autodiff", "autodiff_checkpoint")
#: The three tasks of the ablation, and the parts of the interaction term each ablation drops.
TASKS = ("T", "C", "T+C")
ABLATIONS = {
    "token_to_token": ("token_to_token",),
    "query_to_token": ("query_to_token",),
    "both": INTERACTION_PARTS,
}


@result_type
class FieldResult(Result):
    error: float  # ‖λ^0 − ∇_x R‖ / ‖∇_x R‖


@result_type
class AgreementResult(Result):
    vs_autodiff: dict  # "<method>_<scheme>" -> worst relative error against jax.grad over keys
    fd_error: np.ndarray  # worst FD error of the exact adjoint per eps, first key
    fd_error_autodiff: np.ndarray  # the same for jax.grad
    eps: np.ndarray  # finite-difference steps, decreasing
    fd_ratio: np.ndarray  # per key: e(1e-3) / e(1e-4)
    fd_e3: np.ndarray  # per key: e(1e-3)
    fd_e4: np.ndarray  # per key: e(1e-4)


@result_type
class InteractionResult(Result):
    errors: dict  # (task, ablation) -> per key: relative gradient error in (A, V)
    errors_A: dict  # the same in A only
    errors_V: dict  # in V only


@result_type
class DepthResult(Result):
    L: np.ndarray
    errors: dict  # "euler" / "heun" / "exact" -> errors (keys, |L|)
    slopes: dict  # median slope over keys


@result_type
class MemoryResult(Result):
    L: np.ndarray
    temp: dict  # mode -> working bytes per L
    seconds: dict  # mode -> median seconds per L
    bytes_per_layer: dict  # mode -> growth of the working bytes per layer
    state_bytes: int  # bytes of one layer's token states


# ---------------------------------------------------------------- shared setting
def instance(d, n, N, L, M, scale, *, key, pad=True, smooth=False):
    r"""The chapter's setting: :math:`N` contexts of :math:`n` Gaussian tokens (Dirichlet weights,
    the last token zero-weight padding if ``pad``), queries, heads
    :math:`A, V \sim \mathrm{scale}\cdot\mathcal N(0, 1)` (layer-wise, or :class:`SmoothHeads` if
    ``smooth``) and task T + C targets (``d_out = 1``)."""
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
    r""":math:`|\mathrm{FD} - \langle\nabla R, D\rangle| / (\|\nabla R\|\, \|D\|)` per direction
    and :math:`\varepsilon` for each COT gradient of ``grads`` (name -> gradient), shape
    (directions, len(eps)) each. The 2 · directions · len(eps) risks are one batched program
    (:data:`_risks`)."""
    scale = 1.0 / (theta.L * theta.M)  # COT gradient -> ∇_θ R
    kd = jax.random.split(jax.random.fold_in(key, DIRECTIONS), directions)
    D = jax.vmap(
        lambda k: Heads(*(jax.random.normal(kk, theta.A.shape) for kk in jax.random.split(k)))
    )(kd)  # (directions, L, M, d, d) each
    steps = jnp.asarray(np.concatenate([eps, -eps]))  # (2 |eps|,)
    shifted = jax.tree.map(
        lambda t, v: t[None, None] + steps[None, :, None, None, None, None] * v[:, None], theta, D
    )
    flat = jax.tree.map(lambda v: v.reshape(-1, *v.shape[2:]), shifted)
    R = np.asarray(_risks(flat, mu, xi, targets)).reshape(directions, 2, eps.size)
    fd = (R[:, 0] - R[:, 1]) / (2 * eps[None, :])  # (directions, |eps|)
    fd_err = {}
    for name, g in grads.items():
        dots = scale * np.asarray(
            sum(
                jnp.einsum("p...,...->p", v, u)
                for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(D), strict=True)
            )
        )
        norms = (
            scale
            * _norm(g)
            * np.sqrt(
                np.asarray(
                    sum(jnp.sum(v**2, axis=tuple(range(1, v.ndim))) for v in jax.tree.leaves(D))
                )
            )
        )
        fd_err[name] = np.abs(fd - dots[:, None]) / norms[:, None]
    return fd_err


#: The risk of a batch of head sets (leading axis), one jitted program.
_risks = jax.jit(jax.vmap(risk, in_axes=(0, None, None, None)))


def _norm(g):
    return float(np.sqrt(sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(g))))


def relative_error(g, ref):
    r""":math:`\|g - \mathrm{ref}\| / \|\mathrm{ref}\|` over all leaves (Frobenius)."""
    num = sum(
        float(jnp.sum((u - v) ** 2))
        for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(ref), strict=True)
    )
    den = sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(ref))
    return float(np.sqrt(num / den))


# ---------------------------------------------------------------- experiments
@experiment
def field(p: FieldParams, *, key) -> FieldResult:
    r"""The adjoint field :math:`p_s(x_k) = \lambda_k(s)/a_k` of one context (``d = 2``, task T)
    along the token trajectories; checks that :math:`\lambda^0` equals ``jax.grad`` of :math:`R`
    in the input tokens."""
    theta, mu, _, tg = instance(2, p.n, 1, p.L, p.M, p.scale, key=key, pad=False)
    targets = Targets(T=tg.T)
    out = discrete_adjoint(theta, mu, None, targets, trace=True)
    grad_x = jax.grad(lambda x: risk(theta, EmpiricalMeasure(x, mu.a), None, targets))(mu.x)
    err = relative_error(out.lam, grad_x)
    states = np.asarray(out.states[:, 0])  # (L + 1, n, 2)
    p_field = np.asarray(out.lams[:, 0] / mu.a[0][None, :, None])
    layers = np.array([l for l in p.arrows_at if l <= p.L])
    check = CLAIMS["adjoint_field"].check(err)
    data = {"states": states, "p": p_field, "layers": layers, "weights": np.asarray(mu.a[0])}
    return FieldResult(error=err, data=data, check=check)


@experiment
def agreement(p: AgreementParams, *, key) -> AgreementResult:
    r"""Exact adjoint (Euler, Heun) and the continuous adjoint against ``jax.grad``; the
    directional derivative against central differences
    :math:`(R(\theta+\varepsilon D) - R(\theta-\varepsilon D))/2\varepsilon` on random directions
    :math:`D`; on ``p.keys`` independent instances.

    The finite-difference error is
    :math:`|\mathrm{FD} - \langle\nabla R, D\rangle| / (\|\nabla R\|\, \|D\|)`: relative to the
    largest directional derivative (Cauchy–Schwarz), not to :math:`\langle\nabla R, D\rangle`,
    which a direction can make small."""
    eps = np.asarray(sorted(p.eps, reverse=True))
    i3, i4 = np.argmin(abs(eps - 1e-3)), np.argmin(abs(eps - 1e-4))
    rows, e3, e4, first = {}, [], [], None
    for i, k in enumerate(jax.random.split(key, p.keys)):
        theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=k)
        methods = ("exact", "continuous") if i == 0 else ("exact",)  # the table: first key
        grads = {}
        for scheme in ("euler", "heun"):
            _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff", scheme=scheme)
            for method in methods:
                _, g = cot_gradient(theta, mu, xi, targets, method=method, scheme=scheme)
                name = f"{method}_{scheme}"
                rows[name] = max(rows.get(name, 0.0), relative_error(g, g_auto))
                grads.setdefault(f"{method}_{scheme}", g)
            grads.setdefault(f"autodiff_{scheme}", g_auto)
        grads = {"exact": grads["exact_euler"], "autodiff": grads["autodiff_euler"]}
        fd_err = _fd_errors(theta, mu, xi, targets, grads, eps, p.directions, k)
        e_max = fd_err["exact"].max(axis=0)
        e3.append(e_max[i3])
        e4.append(e_max[i4])
        first = fd_err if first is None else first
    e3, e4 = np.asarray(e3), np.asarray(e4)
    worst = max(rows["exact_euler"], rows["exact_heun"])
    check = Checks(
        (
            CLAIMS["adjoint_vs_autodiff"].check(worst),
            CLAIMS["fd_order"].check_keys(e3 / e4),
            CLAIMS["fd_error_1e-4"].check(float(e4.max())),
        )
    )
    data = {
        "eps": eps,
        "fd_error_exact": first["exact"].max(0),
        "fd_error_autodiff": first["autodiff"].max(0),
        "fd_error_all": first["exact"],
    }
    return AgreementResult(
        vs_autodiff=rows,
        fd_error=first["exact"].max(0),
        fd_error_autodiff=first["autodiff"].max(0),
        eps=eps,
        fd_ratio=e3 / e4,
        fd_e3=e3,
        fd_e4=e4,
        data=data,
        check=check,
    )


def task_targets(targets: Targets, task: str) -> Targets:
    """The targets of one task: ``"T"`` (tokens), ``"C"`` (readout) or ``"T+C"`` (both)."""
    return {
        "T": Targets(T=targets.T),
        "C": Targets(W=targets.W, y=targets.y),
        "T+C": targets,
    }[task]


@experiment
def interaction(p: InteractionParams, *, key) -> InteractionResult:
    """The adjoint without parts of its interaction term against the full one, on tasks T, C
    and T + C and ``p.keys`` instances: without the token→token part (the atoms' adjoints
    feeding the keys), without the query→token part (the query's), and without both (the
    frozen-context adjoint of a neural ODE that ignores how the attention context moves)."""
    names = [(task, ablation) for task in TASKS for ablation in ABLATIONS]
    err = {name: [] for name in names}
    err_A = {name: [] for name in names}
    err_V = {name: [] for name in names}
    for k in jax.random.split(key, p.keys):
        theta, mu, xi, targets = instance(p.d, p.n, p.N, p.L, p.M, p.scale, key=k)
        for task in TASKS:
            tg = task_targets(targets, task)
            _, g = cot_gradient(theta, mu, xi, tg, method="exact")
            for ablation, drop in ABLATIONS.items():
                _, g_drop = cot_gradient(theta, mu, xi, tg, method="exact", drop=drop)
                err[task, ablation].append(relative_error(g_drop, g))
                err_A[task, ablation].append(relative_error(g_drop.A, g.A))
                err_V[task, ablation].append(relative_error(g_drop.V, g.V))
    err, err_A, err_V = ({n: np.asarray(v) for n, v in e.items()} for e in (err, err_A, err_V))
    check = CLAIMS["interaction_needed"].check_keys(err["T+C", "both"])
    data = {f"error_{t.replace('+', '')}_{a}": v for (t, a), v in err.items()}
    return InteractionResult(errors=err, errors_A=err_A, errors_V=err_V, data=data, check=check)


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    r"""Continuous adjoint (Euler, Heun) and the exact gradient of the Euler network
    :math:`\theta_{\ell m} = \theta_m(s_\ell)` against the continuous-depth COT gradient (the RK4
    continuous adjoint at ``L_ref``), compared at the coarsest grid's depths
    :math:`s = \ell/L_0`, on ``p.keys`` instances; the checks read the median slope, every key
    inside its key band.

    Raises:
        ParameterError: a depth that is not a multiple of ``Ls[0]`` or does not divide ``L_ref``.
    """
    bad = [L for L in (*p.Ls, p.L_ref) if L % p.Ls[0] or p.L_ref % L]
    if bad:
        raise ParameterError(
            f"adjoint.depth: Ls = {p.Ls}, L_ref = {p.L_ref}; allowed depths that are multiples of "
            f"Ls[0] = {p.Ls[0]} and divide L_ref (offending: {bad})."
        )
    Ls = np.asarray(p.Ls)

    def on_grid(g, L):  # the layers at the coarsest grid's depths s = ℓ / Ls[0]
        return jax.tree.map(lambda v: v[:: L // Ls[0]], g)

    err = {"euler": [], "heun": [], "exact": []}
    for k in jax.random.split(key, p.keys):
        theta, mu, xi, targets = instance(p.d, p.n, p.N, 1, p.M, p.scale, key=k, smooth=True)
        ref = continuous_adjoint(theta, mu, xi, targets, L=p.L_ref, scheme="rk4").grad
        ref0 = on_grid(ref, p.L_ref)
        rows = {name: [] for name in err}
        for L in Ls:
            L = int(L)
            for scheme in ("euler", "heun"):
                g = continuous_adjoint(theta, mu, xi, targets, L=L, scheme=scheme).grad
                rows[scheme].append(relative_error(on_grid(g, L), ref0))
            # trace=True: the same compiled program as the probe's (probe_derivative)
            g_net = discrete_adjoint(theta.discretise(L), mu, xi, targets, trace=True).grad
            rows["exact"].append(relative_error(on_grid(g_net, L), ref0))
        for name, row in rows.items():
            err[name].append(row)
    err = {name: np.asarray(v) for name, v in err.items()}  # (keys, |L|)
    slopes_all = {
        name: np.array([fit_loglog(Ls, row).slope for row in v]) for name, v in err.items()
    }
    check = Checks(
        (
            CLAIMS["continuous_slope_euler"].check_keys(slopes_all["euler"]),
            CLAIMS["continuous_slope_heun"].check_keys(slopes_all["heun"]),
            CLAIMS["continuous_vs_discrete"].check_keys(slopes_all["exact"]),
        )
    )
    first = {name: v[0] for name, v in err.items()}  # the figure shows the first key
    fits = {name: fit_loglog(Ls, v) for name, v in first.items()}
    data = {
        "L": Ls,
        **{f"error_{k}": v for k, v in first.items()},
        **{f"fit_{k}": f(Ls) for k, f in fits.items()},
        **{f"slopes_{k}": v for k, v in slopes_all.items()},
    }
    slopes = {name: float(np.median(v)) for name, v in slopes_all.items()}
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
    """:math:`R` through a plain ``lax.scan`` with no checkpoint: what ``jax.grad`` sees naively."""
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
