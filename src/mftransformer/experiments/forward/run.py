"""Chapter 1, forward well-posedness: the experiments (Model: flow).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.
The rate and ratio checks are repeated on ``p.keys`` independent keys
(``jax.random.split(key, p.keys)``, batched with ``jax.vmap``) and pass on the median, every key
inside its key band.

- :func:`trajectories`: tokens through depth for a few inputs; ``support_bound`` (sanity).
- :func:`flow`: the flow map on a grid, its Jacobian, and the Euler map's fold as the step
  grows; ``diffeo``, ``euler_fold``.
- :func:`depth`: Euler/Heun/RK4 against a fine RK4 reference; ``depth_slope_*``.
- :func:`width`: ``M`` heads against the exact mean field; ``width_slope_*``, ``width_*_vs_L``.
- :func:`tokens`: ``n`` sampled tokens against the Gaussian closed form; ``token_slope``,
  ``token_w2_slope``.
- :func:`stability`: the worst-case output change over input change (power iteration) against
  the Result-1 bounds, and :math:`W_1` stability; ``stability_*``, ``lipschitz_*``,
  ``stability_w1``.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import tasks
from ...solver.attention import Heads, SmoothHeads
from ...solver.distances import w2_equal_mass, wasserstein
from ...solver.forward import (
    flow_map,
    forward,
    gaussian_recursion,
    initial_state,
    layer_step,
    support_bound,
)
from ...solver.measures import EmpiricalMeasure, sample_gaussian
from ..checks import Checks, Result, experiment, fit_loglog, result_type
from .bounds import log10_head_bound, log10_token_bound, power_iteration
from .claims import CLAIMS
from .params import (
    DepthParams,
    FlowParams,
    StabilityParams,
    TokensParams,
    TrajectoriesParams,
    WidthParams,
)

__all__ = [
    "DATA",
    "HEADS",
    "DIRECTIONS",
    "SCHEMES",
    "trajectories",
    "TrajectoriesResult",
    "flow",
    "FlowResult",
    "depth",
    "DepthResult",
    "width",
    "WidthResult",
    "tokens",
    "TokensResult",
    "stability",
    "StabilityResult",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, DIRECTIONS = 0, 1, 2
SCHEMES = ("euler", "heun", "rk4")


@result_type
class TrajectoriesResult(Result):
    ratio: float  # worst max_k |z^ℓ_k| / bound over layers ℓ >= 1 and inputs


@result_type
class FlowResult(Result):
    min_det: float  # min det DX_1 of the flow (RK4 at L_flow) over the grid
    min_det_book: float  # the same for the Euler network at the book's L
    max_det_book: float
    h_star: float  # the Euler step at which min det first reaches 0 (nan: not in the scan)


@result_type
class DepthResult(Result):
    slopes: dict  # scheme -> fitted slope per key
    errors: dict  # scheme -> errors (keys, Ls)


@result_type
class WidthResult(Result):
    slopes: dict  # "iid" / "tied" -> fitted slope per key
    ratio: dict  # kind -> e(long L)/e(short L), (keys, ratio_Ms)
    errors: dict  # kind -> errors (keys, Ls, Ms), nan where not run


@result_type
class TokensResult(Result):
    slope: np.ndarray  # query-error slope per key
    w2_slope: np.ndarray  # W_2 slope per key
    errors: np.ndarray  # (keys, ns)
    w2: np.ndarray  # (keys, ns)


@result_type
class StabilityResult(Result):
    spread: dict  # "theta" / "tokens" -> relative spread over delta per key
    lipschitz: dict  # kind -> measured worst-case constant per key
    log10_bound: dict  # kind -> log10 of the Result-1 bound per key
    w1_ratio: np.ndarray  # (keys, deltas): W_1(outputs) / W_1(inputs)


# ---------------------------------------------------------------- experiments
@experiment
def trajectories(p: TrajectoriesParams, *, key) -> TrajectoriesResult:
    r"""Tokens of ``N`` inputs through ``L`` layers of one random depth-smooth network; checks the
    support bound :math:`\max_k |z^\ell_k| \le R_0 \prod_{\ell'<\ell} (1 + h v_{\ell'})` of
    Result 1 at every layer and input."""
    # heads θ⁰ + sin(πs) θ¹ (entries as in generic_init), so that token paths are curves
    g = tasks.generic_init(
        2, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    theta = SmoothHeads(g.A[0], g.A[1], g.V[0], g.V[1]).discretise(p.L)
    angle = 2 * jnp.pi * jnp.arange(p.N) / p.N
    means = jnp.zeros((p.N, p.d)).at[:, 0].set(jnp.cos(angle)).at[:, 1].set(jnp.sin(angle))
    mu = sample_gaussian(
        jax.random.fold_in(key, DATA), p.N, p.n, p.d, mean=p.spread * means, cov=0.25 * jnp.eye(p.d)
    )
    traj = forward(theta, mu, trace=True).trajectory  # (L+1, N, n, d)
    radius = jnp.max(jnp.linalg.norm(traj, axis=-1), axis=-1)  # (L+1, N)
    bound = jax.vmap(lambda R0: support_bound(theta, R0), out_axes=1)(radius[0])
    ratio = float(jnp.max((radius / bound)[1:]))  # layer 0 is the equality R_0 = R_0
    check = CLAIMS["support_bound"].check(ratio)
    data = {
        "s": np.arange(p.L + 1) / p.L,
        "z": np.asarray(traj),
        "radius": np.asarray(radius),
        "bound": np.asarray(bound),
    }
    return TrajectoriesResult(ratio=ratio, data=data, check=check)


@experiment
def flow(p: FlowParams, *, key) -> FlowResult:
    r"""The flow map :math:`X_s` on a grid of :math:`[-e, e]^2` (grid points attend to the context
    and are never keys) for depth-smooth heads :math:`\theta^0 + \sin(\pi s)\theta^1`, and
    :math:`\det DX_1` at every grid point by forward-mode differentiation: for the Euler network
    at the book's ``L`` (the figure), at every ``L`` of ``p.Ls`` (the fold scan), and for the flow
    (RK4 at ``L_flow``)."""
    d = 2
    g = tasks.generic_init(
        2, p.M, d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    smooth = SmoothHeads(g.A[0], g.A[1], g.V[0], g.V[1])
    theta = smooth.discretise(p.L)
    mu = sample_gaussian(jax.random.fold_in(key, DATA), 1, p.n, d)
    axis = jnp.linspace(-p.extent, p.extent, p.grid)
    grid = jnp.stack(jnp.meshgrid(axis, axis, indexing="xy"), axis=-1).reshape(-1, d)
    path = flow_map(theta, mu, grid[None])[:, 0]  # (L+1, G², 2)
    tokens = forward(theta, mu, trace=True).trajectory[:, 0]  # (L+1, n, 2)
    layers = np.array([round(s * p.L) for s in p.s])
    det = _grid_det(smooth, mu, grid, p.L, "euler")
    Ls = np.array(p.Ls)
    min_euler = np.array([float(jnp.min(_grid_det(smooth, mu, grid, int(L), "euler"))) for L in Ls])
    min_flow = float(jnp.min(_grid_det(smooth, mu, grid, p.L_flow, "rk4")))
    h_star = _fold_step(1.0 / Ls, min_euler)
    check = Checks(
        (
            CLAIMS["diffeo"].check(min_flow),
            # no fold in the scan (nan): 0, a FAIL (a nan does not print)
            CLAIMS["euler_fold"].check(np.nan_to_num(h_star * p.L, nan=0.0)),
        )
    )
    shape = (p.grid, p.grid, d)
    data = {
        "s": layers / p.L,
        "grid": np.asarray(path[layers]).reshape(-1, *shape),
        "tokens": np.asarray(tokens[layers]),
        "det": np.asarray(det).reshape(shape[:2]),
        "h": 1.0 / Ls,
        "min_det_euler": min_euler,
        "min_det_flow": np.array(min_flow),
        "h_star": np.array(h_star),
        "h_book": np.array(1.0 / p.L),
    }
    return FlowResult(
        min_det=min_flow,
        min_det_book=float(jnp.min(det)),
        max_det_book=float(jnp.max(det)),
        h_star=h_star,
        data=data,
        check=check,
    )


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    r"""Error :math:`\max |z^L - X_1|` of Euler, Heun and RK4 on a smooth :math:`\nu_s`, against
    RK4 at ``L_ref``, on ``p.keys`` independent draws of heads and tokens; fitted log-log slopes
    on :math:`L \ge` ``fit_from`` per key (Model: flow: orders 1, 2, 4)."""
    reps = jax.random.split(key, p.keys)
    theta = jax.vmap(
        lambda k: tasks.smooth_heads(p.M, p.d, key=jax.random.fold_in(k, HEADS), scale=p.scale)
    )(reps)
    mu = jax.vmap(lambda k: sample_gaussian(jax.random.fold_in(k, DATA), 1, p.n, p.d))(reps)
    xi = _unit_query(1, p.d)
    ref = _final_states(theta, mu, xi, p.L_ref, "rk4")
    Ls = np.array(p.Ls)
    errors = {
        s: np.stack(
            [
                np.asarray(
                    jnp.max(jnp.abs(_final_states(theta, mu, xi, int(L), s) - ref), axis=(1, 2, 3))
                )
                for L in Ls
            ],
            axis=1,
        )
        for s in SCHEMES
    }  # scheme -> (keys, Ls)
    fit = Ls >= p.fit_from
    slopes = {
        s: np.array([fit_loglog(Ls[fit], e[fit]).slope for e in errors[s]]) for s in SCHEMES[:2]
    }
    slopes["rk4"] = np.array([_rk4_slope(Ls, e, fit) for e in errors["rk4"]])
    check = Checks(tuple(CLAIMS[f"depth_slope_{s}"].check_keys(slopes[s]) for s in SCHEMES))
    median = {s: np.median(errors[s], axis=0) for s in SCHEMES}
    above = fit & (median["rk4"] > 1e-12)  # below 1e-12 the reference's own error shows
    fits = {s: fit_loglog(Ls[fit], median[s][fit]) for s in SCHEMES[:2]}
    fits["rk4"] = fit_loglog(Ls[above], median["rk4"][above]) if above.sum() >= 2 else None
    data = {
        "L": Ls,
        **{f"error_{s}": errors[s] for s in SCHEMES},
        **{f"fit_{s}": fits[s](Ls) if fits[s] else np.full(Ls.shape, np.nan) for s in SCHEMES},
        **{f"slope_{s}": np.array(np.median(slopes[s])) for s in SCHEMES},
        "fit_mask_rk4": above,
        "fit_mask": fit,
    }
    return DepthResult(slopes=slopes, errors=errors, data=data, check=check)


@experiment
def width(p: WidthParams, *, key) -> WidthResult:
    """RMS error (over ``p.seeds`` draws of the heads) of the ``M``-head Euler network against
    the same-``L`` network with the exact field of a
    :class:`~mftransformer.solver.tasks.HeadMixture`, heads i.i.d. per layer or tied across
    layers, on ``p.keys`` independent mixtures and contexts (Model: flow: :math:`(LM)^{-1/2}`,
    resp. :math:`M^{-1/2}` independent of :math:`L`). The short depth runs at every ``M``, the
    others at ``ratio_Ms``."""
    reps = jax.random.split(key, p.keys)
    mixture = jax.vmap(
        lambda k: tasks.width_reference(
            p.K,
            p.d,
            key=jax.random.fold_in(k, HEADS),
            sigma_A=p.sigma_A,
            sigma_V=p.sigma_V,
            sigma=p.sigma,
        )
    )(reps)
    mu = jax.vmap(lambda k: sample_gaussian(jax.random.fold_in(k, DATA), 1, p.n, p.d))(reps)
    xi = _unit_query(1, p.d)
    shape = (p.keys, len(p.Ls), len(p.Ms))
    errors = {"iid": np.full(shape, np.nan), "tied": np.full(shape, np.nan)}
    for i, L in enumerate(p.Ls):
        Ms = p.Ms if i == 0 else p.ratio_Ms
        draws = jax.vmap(lambda k, i=i: jax.random.split(jax.random.fold_in(k, i), p.seeds))(
            jax.vmap(lambda k: jax.random.fold_in(k, DIRECTIONS))(reps)
        )
        heads = _mixture_draws(mixture, draws, L=L, M=max(Ms))
        exact = _final_states(jax.vmap(lambda m, L=L: m.exact(L))(mixture), mu, xi, L, "euler")
        for M in Ms:
            e = np.asarray(_width_errors(heads, mu, xi, exact, M=M))  # (2, keys)
            for t, kind in enumerate(("iid", "tied")):
                errors[kind][:, i, p.Ms.index(M)] = e[t]
    Ms, short = np.array(p.Ms), 0
    fit = Ms >= p.fit_from
    slopes = {
        k: np.array([fit_loglog(Ms[fit], e[short][fit]).slope for e in errors[k]]) for k in errors
    }
    cols = [p.Ms.index(M) for M in p.ratio_Ms]
    ratio = {k: errors[k][:, -1, cols] / errors[k][:, short, cols] for k in errors}
    check = Checks(
        (
            CLAIMS["width_slope_iid"].check_keys(slopes["iid"]),
            CLAIMS["width_slope_tied"].check_keys(slopes["tied"]),
            CLAIMS["width_iid_vs_L"].check_keys(ratio["iid"]),
            CLAIMS["width_tied_vs_L"].check_keys(ratio["tied"]),
        )
    )
    median = {k: np.median(errors[k], axis=0) for k in errors}  # (Ls, Ms), nan where not run
    fits = {k: fit_loglog(Ms[fit], median[k][short][fit]) for k in errors}
    data = {
        "L": np.array(p.Ls),
        "M": Ms,
        "error_iid": errors["iid"],
        "error_tied": errors["tied"],
        "fit_iid": fits["iid"](Ms),
        "fit_tied": fits["tied"](Ms),
        "slope_iid": np.array(np.median(slopes["iid"])),
        "slope_tied": np.array(np.median(slopes["tied"])),
        "fit_mask": fit,
    }
    return WidthResult(slopes=slopes, ratio=ratio, errors=errors, data=data, check=check)


@experiment
def tokens(p: TokensParams, *, key) -> TokensResult:
    r"""``n`` sampled tokens of a Gaussian context against the exact :math:`n = \infty` network
    (the Gaussian closed form, Model: flow), on ``p.keys`` independent networks: the query error
    :math:`|\xi^L - \xi^L_{\rm Gauss}|` (RMS over ``p.seeds`` samples) and
    :math:`W_2` between the transported tokens and the exact :math:`n = \infty` map applied to the
    same samples (optimal assignment between the tokens that start within ``w2_radius`` of the
    mean, RMS over the first ``w2_seeds`` samples); fitted slopes in :math:`n` per key (Monte
    Carlo: :math:`n^{-1/2}`). The radius keeps the comparison on a compact set, as Result 1
    assumes: far in the Gaussian's tail the sampled tilted means :math:`m_\mu(Ax)` rest on a few
    samples and converge more slowly."""
    reps = jax.random.split(key, p.keys)
    theta = jax.vmap(
        lambda k: tasks.generic_init(
            p.L, p.M, p.d, key=jax.random.fold_in(k, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
        )
    )(reps)
    m, Sigma = jnp.full(p.d, p.mean), jnp.eye(p.d)
    xi = _unit_query(1, p.d)[0]
    xi_exact = jax.vmap(lambda th: gaussian_recursion(th, m, Sigma, xi)[2])(theta)  # (keys, d)
    ns = np.array(p.ns)
    # one draw per key for every n (disjoint blocks: independent samples, one compilation)
    g = jax.vmap(
        lambda k: jax.random.normal(jax.random.fold_in(k, DATA), (p.seeds, int(ns.sum()), p.d))
    )(reps)
    starts = np.concatenate([[0], np.cumsum(ns)])
    errors, w2 = np.zeros((p.keys, len(ns))), np.zeros((p.keys, len(ns)))
    for j, n in enumerate(ns):
        x = m[None, None, None] + g[:, :, starts[j] : starts[j + 1]]  # Σ = I: (keys, seeds, n, d)
        z = _token_outputs(theta, x, xi)  # (keys, seeds, n + 1, d)
        errors[:, j] = np.sqrt(np.mean(np.sum((z[:, :, n] - xi_exact[:, None]) ** 2, -1), -1))
        y = _gaussian_map(theta, m, Sigma, x[:, : p.w2_seeds])  # (keys, w2_seeds, n, d)
        z, y = np.asarray(z[:, : p.w2_seeds, :n]), np.asarray(y)
        inside = (
            np.linalg.norm(np.asarray(x[:, : p.w2_seeds]) - np.asarray(m), axis=-1) <= p.w2_radius
        )
        w2[:, j] = [
            np.sqrt(
                np.mean(
                    [w2_equal_mass(zs[b], ys[b]) ** 2 for zs, ys, b in zip(zk, yk, bk, strict=True)]
                )
            )
            for zk, yk, bk in zip(z, y, inside, strict=True)
        ]
    slope = np.array([fit_loglog(ns, e).slope for e in errors])
    w2_slope = np.array([fit_loglog(ns, e).slope for e in w2])
    check = Checks(
        (
            CLAIMS["token_slope"].check_keys(slope),
            CLAIMS["token_w2_slope"].check_keys(w2_slope),
        )
    )
    data = {
        "n": ns,
        "error": errors,
        "w2": w2,
        "fit": fit_loglog(ns, np.median(errors, 0))(ns),
        "fit_w2": fit_loglog(ns, np.median(w2, 0))(ns),
        "slope": np.array(np.median(slope)),
        "slope_w2": np.array(np.median(w2_slope)),
    }
    return TokensResult(
        slope=slope, w2_slope=w2_slope, errors=errors, w2=w2, data=data, check=check
    )


@experiment
def stability(p: StabilityParams, *, key) -> StabilityResult:
    r"""The worst-case output change over input change, on ``p.keys`` independent networks.

    For the heads (input distance :math:`D_{\rm sync}`, which bounds :math:`W_{\rm COT}`) and
    the tokens (input distance :math:`L^2(\mu)`), with the final tokens in :math:`L^2(\mu)`: the
    Jacobian's norm by ``p.iterations`` power iterations, then :math:`|\Delta|/\delta` along the
    worst direction for each :math:`\delta` (its spread over :math:`\delta`: differentiability),
    against the Result-1 bounds of :mod:`.bounds`. And :math:`W_1(\mu_1, \mu'_1) /
    W_1(\mu_0, \mu'_0)` for tokens moved by :math:`\delta` and weights tilted by :math:`\delta`,
    against the token bound."""
    reps = jax.random.split(key, p.keys)
    theta = jax.vmap(
        lambda k: tasks.generic_init(
            p.L, p.M, p.d, key=jax.random.fold_in(k, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
        )
    )(reps)
    mu = jax.vmap(lambda k: sample_gaussian(jax.random.fold_in(k, DATA), 1, p.n, p.d))(reps)
    dirs = jax.vmap(lambda k: jax.random.fold_in(k, DIRECTIONS))(reps)
    deltas = jnp.array(p.deltas)
    out = _worst_case(theta, mu, dirs, deltas, iterations=p.iterations)
    out = {k: np.asarray(v) for k, v in out.items()}
    spread = {
        k: (out[f"ratio_{k}"].max(1) - out[f"ratio_{k}"].min(1)) / np.median(out[f"ratio_{k}"], 1)
        for k in ("theta", "tokens")
    }
    lipschitz = {k: np.maximum(out[f"sigma_{k}"][:, -1], out[f"ratio_{k}"].max(1)) for k in spread}
    log10_bound = {k: out[f"bound_{k}"] for k in spread}
    w1_ratio = _w1_ratios(out)  # (keys, deltas)
    log10_w1_bound = out["bound_w1"]
    check = Checks(
        (
            CLAIMS["stability_theta"].check_keys(spread["theta"]),
            CLAIMS["stability_tokens"].check_keys(spread["tokens"]),
            *(
                CLAIMS[f"lipschitz_{k}"].check_keys(np.log10(lipschitz[k]) - log10_bound[k])
                for k in ("theta", "tokens")
            ),
            CLAIMS["stability_w1"].check_keys(np.log10(w1_ratio.max(1)) - log10_w1_bound),
        )
    )
    data = {
        "delta": np.array(p.deltas),
        "ratio_theta": out["ratio_theta"],
        "ratio_tokens": out["ratio_tokens"],
        "sigma_theta": out["sigma_theta"],
        "sigma_tokens": out["sigma_tokens"],
        "log10_bound_theta": log10_bound["theta"],
        "log10_bound_tokens": log10_bound["tokens"],
        "w1_ratio": w1_ratio,
        "log10_bound_w1": log10_w1_bound,
    }
    return StabilityResult(
        spread=spread,
        lipschitz=lipschitz,
        log10_bound=log10_bound,
        w1_ratio=w1_ratio,
        data=data,
        check=check,
    )


# ---------------------------------------------------------------- private
def _unit_query(B, d):
    r"""The shared query :math:`\xi_0 = e_1` for ``B`` inputs, float64 array (B, d)."""
    return jnp.zeros((B, d)).at[:, 0].set(1.0)


def _network(theta, mu, xi, L, scheme):
    """Final states, float64 array (B, n + k, d), of ``L`` steps of ``scheme`` (:func:`layer_step`,
    as in :func:`~mftransformer.solver.forward.forward`), with ``L`` traced: one compilation
    serves every depth (``fori_loop``; forward mode only)."""
    z0 = initial_state(mu, xi)
    step = lambda l, z: layer_step(theta, l, z, mu.loga, L, mu.n, scheme)  # noqa: E731
    return jax.lax.fori_loop(0, L, step, z0)


@partial(jax.jit, static_argnames=("scheme",))
def _final_states(theta, mu, xi, L, scheme):
    """:func:`_network` for a batch of networks and contexts (leading axis: keys), one query."""
    return jax.vmap(lambda th, m: _network(th, m, xi, L, scheme))(theta, mu)


def _rk4_slope(Ls, errors, fit):
    """RK4 slope on the errors above 1e-12 (below, the reference's own error shows); 0.0 (a
    FAIL) when fewer than two are left."""
    above = fit & (errors > 1e-12)
    return fit_loglog(Ls[above], errors[above]).slope if above.sum() >= 2 else 0.0


@partial(jax.jit, static_argnames=("L", "M"))
def _mixture_draws(mixture, keys, *, L, M):
    """``M`` i.i.d. heads per layer from each key's mixture, for every seed: :class:`Heads`
    with leading axes (keys, seeds)."""
    return jax.vmap(lambda mix, ks: jax.vmap(lambda k: mix.sample(L, M, key=k))(ks))(mixture, keys)


@partial(jax.jit, static_argnames=("M",))
def _width_errors(heads, mu, xi, exact, *, M):
    r"""RMS error over the seeds of the width-``M`` networks (the first ``M`` heads of each draw)
    against ``exact``, i.i.d. and tied (every layer uses the draw's first layer); float64 array
    (2, keys).

    Error of one network: :math:`(\sum_k a_k|z^L_k - \bar z^L_k|^2 + |\xi^L -
    \bar\xi^L|^2)^{1/2}` (Model: flow, "Width")."""
    A, V = heads.A[..., :M, :, :], heads.V[..., :M, :, :]
    tied = lambda X: jnp.broadcast_to(X[:, :, :1], X.shape)  # noqa: E731
    A2, V2 = jnp.stack([A, tied(A)]), jnp.stack([V, tied(V)])  # (2, keys, seeds, L, M, d, d)

    def one(A, V, mu, exact):
        z = forward(Heads(A, V), mu, xi).z
        diff2 = jnp.sum((z - exact) ** 2, axis=-1)  # (1, n + 1)
        return jnp.sum(diff2[:, : mu.n] * mu.a) + jnp.sum(diff2[:, mu.n :])

    per_key = jax.vmap(jax.vmap(one, in_axes=(0, 0, None, None)))  # keys, seeds
    e2 = jax.vmap(per_key, in_axes=(0, 0, None, None))(A2, V2, mu, exact)  # (2, keys, seeds)
    return jnp.sqrt(jnp.mean(e2, axis=-1))


@jax.jit
def _token_outputs(theta, x, xi):
    """Final states, float64 array (keys, seeds, n + 1, d), of each key's network on each sample
    ``x`` (uniform weights) with the query ``xi``."""

    def one(th, xk):
        S, n, d = xk.shape
        mu = EmpiricalMeasure(xk, jnp.full((S, n), 1.0 / n))
        return forward(th, mu, jnp.broadcast_to(xi, (S, d))).z

    return jax.vmap(one)(theta, x)


@jax.jit
def _gaussian_map(theta, m, Sigma, x):
    r"""The exact :math:`n = \infty` network at the points ``x``, float64 array (keys, S, n, d):
    every token moves like the query of the Gaussian closed form (the layer is affine on a
    Gaussian context)."""
    point = lambda th, y: gaussian_recursion(th, m, Sigma, y)[2]  # noqa: E731
    return jax.vmap(lambda th, xk: jax.vmap(jax.vmap(lambda y: point(th, y)))(xk))(theta, x)


def _grid_det(theta, mu, grid, L, scheme):
    r""":math:`\det DX_1` of ``L`` steps of ``scheme`` at every grid point, float64 array (G²,)."""
    return _grid_det_jit(theta, mu, grid, jnp.asarray(L), scheme)


@partial(jax.jit, static_argnames=("scheme",))
def _grid_det_jit(theta, mu, grid, L, scheme):
    def x1(u):
        # every grid point moved by the same u: a query never acts on another one, so the
        # Jacobian in u holds DX_1 at every grid point (two tangents instead of 2·G²)
        return _network(theta, mu, (grid + u[None])[None], L, scheme)[0, mu.n :]

    return jnp.linalg.det(jax.jacfwd(x1)(jnp.zeros(grid.shape[-1])).transpose(0, 1, 2))


def _fold_step(h, min_det):
    r"""The step :math:`h^*` where the Euler map's :math:`\min \det DX_1` first reaches 0, scanning
    from the finest step up (linear interpolation between the last positive and the first
    non-positive one); nan when no scanned step folds or the finest one already does."""
    order = np.argsort(h)
    h, v = np.asarray(h)[order], np.asarray(min_det)[order]
    bad = np.flatnonzero(v <= 0)
    if bad.size == 0 or bad[0] == 0:
        return float("nan")
    j = bad[0]
    return float(h[j - 1] + (h[j] - h[j - 1]) * v[j - 1] / (v[j - 1] - v[j]))


@partial(jax.jit, static_argnames=("iterations",))
def _worst_case(theta, mu, keys, deltas, *, iterations):
    """Per key: power iteration for the heads and the tokens, ratios along the worst
    directions, the Result-1 bounds, and the inputs and outputs of the :math:`W_1` pairs."""
    return jax.vmap(lambda th, m, k: _worst_case_one(th, m, k, deltas, iterations))(theta, mu, keys)


def _worst_case_one(theta, mu, key, deltas, iterations):
    L, M, d = theta.A.shape[0], theta.A.shape[1], theta.A.shape[-1]
    sqrt_a = jnp.sqrt(mu.a[0])[:, None]  # the L²(μ) norm as a Euclidean one
    xi = _unit_query(1, d)
    k_tok, k_th, k_w1, k_w = jax.random.split(key, 4)

    def tokens_out(x):
        return sqrt_a * forward(theta, EmpiricalMeasure(x[None], mu.a), xi).tokens[0]

    def of_tokens(u):  # |u| = the L²(μ) norm of the move u / sqrt(a)
        return tokens_out(mu.x[0] + u / sqrt_a)

    size = L * M * d * d

    def of_heads(u):  # |u| = D_sync of the move: each entry scaled by sqrt(LM)
        dA, dV = (
            jnp.sqrt(L * M) * u[i * size : (i + 1) * size].reshape(theta.A.shape) for i in (0, 1)
        )
        heads = Heads(theta.A + dA, theta.V + dV)
        return sqrt_a * forward(heads, mu, xi).tokens[0]

    out = {}
    for kind, f, x0, k in (
        ("tokens", of_tokens, jnp.zeros_like(mu.x[0]), k_tok),
        ("theta", of_heads, jnp.zeros(2 * size), k_th),
    ):
        sigma, u = power_iteration(f, x0, jax.random.normal(k, x0.shape), iterations)
        out[f"sigma_{kind}"] = sigma
        out[f"ratio_{kind}"] = _ratios_along(f, x0, u, deltas)
    R0 = jnp.max(jnp.linalg.norm(mu.x[0], axis=-1))
    out["bound_tokens"] = log10_token_bound(theta, R0)
    out["bound_theta"] = log10_head_bound(theta, R0)
    # W_1 pairs: tokens moved by δU (unit in L²(μ)) and weights tilted by δg
    U = jax.random.normal(k_w1, mu.x[0].shape)
    U = U / jnp.sqrt(jnp.sum(mu.a[0][:, None] * U**2))
    gw = jax.random.normal(k_w, mu.a[0].shape)
    x1 = mu.x[0][None] + deltas[:, None, None] * U[None]
    a1 = jax.nn.softmax(jnp.log(mu.a[0])[None] + deltas[:, None] * gw[None], axis=-1)
    xs = jnp.concatenate([mu.x, x1])
    a_s = jnp.concatenate([mu.a, a1])
    q = jnp.broadcast_to(xi, (xs.shape[0], d))
    out["w1_x0"], out["w1_a0"] = xs, a_s
    out["w1_x1"] = forward(theta, EmpiricalMeasure(xs, a_s), q).tokens
    out["bound_w1"] = log10_token_bound(theta, jnp.max(jnp.linalg.norm(xs, axis=-1)))
    return out


def _ratios_along(f, x0, u, deltas):
    r""":math:`|f(x_0 + \delta u) - f(x_0)| / \delta` for each :math:`\delta` (``u`` a unit
    direction)."""
    base = f(x0)
    return jax.vmap(lambda dl: jnp.linalg.norm(f(x0 + dl * u) - base) / dl)(deltas)


def _w1_ratios(out):
    r""":math:`W_1(\mu_1, \mu'_1) / W_1(\mu_0, \mu'_0)` for every key and perturbation (the
    first context of each key is the unperturbed one); float64 array (keys, deltas)."""
    x0, a0, x1 = out["w1_x0"], out["w1_a0"], out["w1_x1"]
    ratios = np.zeros((x0.shape[0], x0.shape[1] - 1))
    for k in range(x0.shape[0]):
        for j in range(1, x0.shape[1]):
            w_in = wasserstein(x0[k, 0], a0[k, 0], x0[k, j], a0[k, j], p=1)
            w_out = wasserstein(x1[k, 0], a0[k, 0], x1[k, j], a0[k, j], p=1)
            ratios[k, j - 1] = w_out / w_in
    return ratios
