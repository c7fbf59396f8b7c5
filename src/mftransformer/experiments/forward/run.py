"""Chapter 1, forward well-posedness: the experiments (Model: flow).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.

- :func:`trajectories`: tokens through depth for a few inputs; ``support_bound``.
- :func:`flow`: the flow map on a grid and its Jacobian; ``diffeo``.
- :func:`depth`: Euler/Heun/RK4 against a fine RK4 reference; ``depth_slope_*``.
- :func:`width`: ``M`` heads against the exact mean field; ``width_slope_*``, ``width_*_vs_L``.
- :func:`tokens`: ``n`` sampled tokens against the Gaussian closed form; ``token_slope``.
- :func:`stability`: output change over input change as the perturbation shrinks;
  ``stability_theta``, ``stability_tokens``.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import tasks
from ...solver.attention import Heads, SmoothHeads
from ...solver.forward import flow_map, forward, gaussian_recursion, support_bound
from ...solver.measures import EmpiricalMeasure, sample_gaussian
from ..checks import Checks, Result, experiment, fit_loglog, result_type
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
    min_det: float
    max_det: float


@result_type
class DepthResult(Result):
    slopes: dict  # scheme -> fitted slope (nan where no fit)
    errors: dict  # scheme -> errors per L


@result_type
class WidthResult(Result):
    slopes: dict  # "iid" / "tied" -> fitted slope
    ratio: dict  # kind -> e(long L)/e(short L) at ratio_Ms
    errors: dict  # kind -> errors (len(Ls), len(Ms))


@result_type
class TokensResult(Result):
    slope: float
    errors: np.ndarray


@result_type
class StabilityResult(Result):
    spread: dict  # "theta" / "tokens" -> relative spread of |Δ|/δ over δ
    lipschitz_theta: float
    lipschitz_tokens: float


# ---------------------------------------------------------------- experiments
@experiment
def trajectories(p: TrajectoriesParams, *, key) -> TrajectoriesResult:
    """Tokens of ``N`` inputs through ``L`` layers of one random depth-smooth network; checks the
    support bound ``max_k |z^ℓ_k| ≤ R_0 Π_{ℓ'<ℓ} (1 + h v_{ℓ'})`` of Result 1 at every layer and
    input."""
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
    """The flow map ``X_s`` on a grid of ``[-e, e]²`` (grid points attend to the context and are
    never keys) and ``det DX_1`` at every grid point by forward-mode differentiation."""
    d = 2
    theta = tasks.generic_init(
        p.L, p.M, d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    mu = sample_gaussian(jax.random.fold_in(key, DATA), 1, p.n, d)
    axis = jnp.linspace(-p.extent, p.extent, p.grid)
    grid = jnp.stack(jnp.meshgrid(axis, axis, indexing="xy"), axis=-1).reshape(-1, d)
    path = flow_map(theta, mu, grid[None])[:, 0]  # (L+1, G², 2)
    tokens = forward(theta, mu, trace=True).trajectory[:, 0]  # (L+1, n, 2)
    layers = np.array([round(s * p.L) for s in p.s])

    def x1(u):
        # every grid point moved by the same u: a query never acts on another one, so the
        # Jacobian in u holds DX_1 at every grid point (two tangents instead of 2·G²)
        return forward(theta, mu, (grid + u[None])[None]).queries[0]

    det = jnp.linalg.det(jax.jacfwd(x1)(jnp.zeros(d)).transpose(0, 1, 2))  # (G², 2, 2)
    min_det = float(jnp.min(det))
    check = CLAIMS["diffeo"].check(min_det)
    shape = (p.grid, p.grid, d)
    data = {
        "s": layers / p.L,
        "grid": np.asarray(path[layers]).reshape(-1, *shape),
        "tokens": np.asarray(tokens[layers]),
        "det": np.asarray(det).reshape(shape[:2]),
    }
    return FlowResult(min_det=min_det, max_det=float(jnp.max(det)), data=data, check=check)


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    """Error ``max |z^L − X_1|`` of Euler, Heun and RK4 on a smooth ``ν_s``, against RK4 at
    ``L_ref``; fitted log-log slopes on ``L ≥ fit_from`` (Model: flow: orders 1, 2, 4)."""
    theta = tasks.smooth_heads(p.M, p.d, key=jax.random.fold_in(key, HEADS), scale=p.scale)
    mu = sample_gaussian(jax.random.fold_in(key, DATA), 1, p.n, p.d)
    xi = _unit_query(1, p.d)
    ref = forward(theta, mu, xi, L=p.L_ref, scheme="rk4").z
    Ls = np.array(p.Ls)
    errors = {
        s: np.array(
            [
                float(jnp.max(jnp.abs(forward(theta, mu, xi, L=int(L), scheme=s).z - ref)))
                for L in Ls
            ]
        )
        for s in SCHEMES
    }
    fit = Ls >= p.fit_from
    fits = {s: fit_loglog(Ls[fit], errors[s][fit]) for s in ("euler", "heun")}
    above = fit & (errors["rk4"] > 1e-12)  # below 1e-12 the reference's own error shows
    fits["rk4"] = fit_loglog(Ls[above], errors["rk4"][above]) if above.sum() >= 2 else None
    check = Checks(
        (
            CLAIMS["depth_slope_euler"].check(fits["euler"].slope),
            CLAIMS["depth_slope_heun"].check(fits["heun"].slope),
            CLAIMS["depth_slope_rk4"].check(fits["rk4"].slope if fits["rk4"] else 0.0),
        )
    )
    data = {
        "L": Ls,
        **{f"error_{s}": errors[s] for s in SCHEMES},
        **{f"fit_{s}": fits[s](Ls) if fits[s] else np.full(Ls.shape, np.nan) for s in SCHEMES},
        "fit_mask_rk4": above,
        "fit_mask": fit,
    }
    slopes = {s: (fits[s].slope if fits[s] else np.nan) for s in SCHEMES}
    return DepthResult(slopes=slopes, errors=errors, data=data, check=check)


@experiment
def width(p: WidthParams, *, key) -> WidthResult:
    """RMS error of the ``M``-head Euler network against the same-``L`` network with the exact
    field of a :class:`~mftransformer.solver.tasks.HeadMixture`, heads i.i.d. per layer or tied
    across layers (Model: flow: ``(LM)^{-1/2}``, resp. ``M^{-1/2}`` independent of ``L``)."""
    mixture = tasks.width_reference(
        p.K,
        p.d,
        key=jax.random.fold_in(key, HEADS),
        sigma_A=p.sigma_A,
        sigma_V=p.sigma_V,
        sigma=p.sigma,
    )
    mu = sample_gaussian(jax.random.fold_in(key, DATA), 1, p.n, p.d)
    xi = _unit_query(1, p.d)
    draws = jax.random.split(jax.random.fold_in(key, DIRECTIONS), (len(p.Ls), 2, p.seeds))
    errors = {"iid": np.zeros((len(p.Ls), len(p.Ms))), "tied": np.zeros((len(p.Ls), len(p.Ms)))}
    for i, L in enumerate(p.Ls):
        exact = forward(mixture.exact(L), mu, xi).z
        for t, kind in enumerate(("iid", "tied")):
            errors[kind][i] = np.asarray(
                _width_errors(mixture, mu, xi, exact, draws[i, t], L=L, Ms=p.Ms, tied=bool(t))
            )
    Ms, short = np.array(p.Ms), 0
    fit = Ms >= p.fit_from
    fits = {kind: fit_loglog(Ms[fit], errors[kind][short][fit]) for kind in errors}
    cols = [p.Ms.index(M) for M in p.ratio_Ms]
    ratio = {kind: errors[kind][-1, cols] / errors[kind][short, cols] for kind in errors}
    check = Checks(
        (
            CLAIMS["width_slope_iid"].check(fits["iid"].slope),
            CLAIMS["width_slope_tied"].check(fits["tied"].slope),
            *(CLAIMS["width_iid_vs_L"].check(float(r)) for r in ratio["iid"]),
            *(CLAIMS["width_tied_vs_L"].check(float(r)) for r in ratio["tied"]),
        )
    )
    data = {
        "L": np.array(p.Ls),
        "M": Ms,
        "error_iid": errors["iid"],
        "error_tied": errors["tied"],
        "fit_iid": fits["iid"](Ms),
        "fit_tied": fits["tied"](Ms),
        "fit_mask": fit,
    }
    slopes = {k: f.slope for k, f in fits.items()}
    return WidthResult(slopes=slopes, ratio=ratio, errors=errors, data=data, check=check)


@experiment
def tokens(p: TokensParams, *, key) -> TokensResult:
    """Query error ``|ξ^L − ξ^L_Gauss|`` (RMS over seeds) of ``n`` sampled tokens against the exact
    ``n = ∞`` Gaussian recursion at the same ``L`` (Model: flow: ``n^{-1/2}``)."""
    theta = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    m, Sigma = jnp.full(p.d, p.mean), jnp.eye(p.d)
    xi = _unit_query(1, p.d)[0]
    _, _, xi_exact = gaussian_recursion(theta, m, Sigma, xi)
    ns = np.array(p.ns)
    errors = np.zeros(len(ns))
    for j, n in enumerate(ns):
        mu = sample_gaussian(
            jax.random.fold_in(jax.random.fold_in(key, DATA), j),
            p.seeds,
            int(n),
            p.d,
            mean=m,
            cov=Sigma,
        )
        q = forward(theta, mu, jnp.broadcast_to(xi, (p.seeds, p.d))).queries[:, 0]
        errors[j] = float(jnp.sqrt(jnp.mean(jnp.sum((q - xi_exact[None]) ** 2, axis=-1))))
    fit = fit_loglog(ns, errors)
    check = CLAIMS["token_slope"].check(fit.slope)
    data = {"n": ns, "error": errors, "fit": fit(ns)}
    return TokensResult(slope=fit.slope, errors=errors, data=data, check=check)


@experiment
def stability(p: StabilityParams, *, key) -> StabilityResult:
    """Ratios ``|Δ output| / δ`` for perturbations of size ``δ`` of the heads (``D_sync = δ``,
    output ``max_k |z^L_k − z'^L_k|``) and of the tokens (``δ`` in ``L²(μ)``, output the ``L²(μ)``
    distance of the final tokens), along ``directions`` random directions; the spread of each
    direction's ratios over ``δ`` measures how well the output is Lipschitz (here: differentiable)
    in the input."""
    theta = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    mu = sample_gaussian(jax.random.fold_in(key, DATA), 1, p.n, p.d)
    xi = _unit_query(1, p.d)
    k_theta, k_tokens = jax.random.split(jax.random.fold_in(key, DIRECTIONS))
    deltas = np.array(p.deltas)
    ratio_theta = _head_ratios(theta, mu, xi, k_theta, deltas, p.directions)
    ratio_tokens = _token_ratios(theta, mu, xi, k_tokens, deltas, p.directions)
    spread = {
        k: float(np.max((r.max(axis=1) - r.min(axis=1)) / np.median(r, axis=1)))
        for k, r in (("theta", ratio_theta), ("tokens", ratio_tokens))
    }
    check = Checks(
        (
            CLAIMS["stability_theta"].check(spread["theta"]),
            CLAIMS["stability_tokens"].check(spread["tokens"]),
        )
    )
    data = {"delta": deltas, "ratio_theta": ratio_theta, "ratio_tokens": ratio_tokens}
    return StabilityResult(
        spread=spread,
        lipschitz_theta=float(ratio_theta.max()),
        lipschitz_tokens=float(ratio_tokens.max()),
        data=data,
        check=check,
    )


# ---------------------------------------------------------------- private
def _unit_query(B, d):
    """The shared query ``ξ_0 = e_1`` for ``B`` inputs, ``(B, d)``."""
    return jnp.zeros((B, d)).at[:, 0].set(1.0)


def _forward_many(make_heads, keys, mu, xi):
    """Final states ``(S, B, n + k, d)`` of the networks ``make_heads(k)`` for each ``k`` in
    ``keys`` (vmapped: one compilation for all draws)."""
    return jax.vmap(lambda k: forward(make_heads(k), mu, xi).z)(keys)


@partial(jax.jit, static_argnames=("L", "Ms", "tied"))
def _width_errors(mixture, mu, xi, exact, keys, *, L, Ms, tied):
    """RMS error over ``keys`` of the networks with ``M ∈ Ms`` heads per layer against ``exact``.

    Each draw holds ``max(Ms)`` heads; the width-``M`` network is its first ``M`` heads, written
    as all heads with ``V`` scaled by ``max(Ms)/M`` on the first ``M`` and by 0 on the rest.
    ``Γ`` is linear in ``V``, so this is the same field, and all widths share one program."""
    M_max = max(Ms)
    scales = jnp.stack([jnp.where(jnp.arange(M_max) < M, M_max / M, 0.0) for M in Ms])

    def one(k):
        theta = mixture.sample(L, M_max, key=k, tied=tied)
        return jax.vmap(
            lambda c: forward(Heads(theta.A, theta.V * c[None, :, None, None]), mu, xi).z
        )(scales)

    z = jax.vmap(one)(keys)  # (S, |Ms|, B, n+1, d)
    diff2 = jnp.sum((z - exact[None, None]) ** 2, axis=-1)
    e2 = jnp.einsum("smbn,bn->sm", diff2[..., : mu.n], mu.a) + jnp.sum(
        diff2[..., mu.n :], axis=(2, 3)
    )
    return jnp.sqrt(jnp.mean(e2, axis=0))


def _head_ratios(theta, mu, xi, key, deltas, directions):
    """``max_k |z^L_k − z'^L_k| / δ`` for heads moved by ``δ D``, ``(directions, deltas)``."""
    L, M = theta.A.shape[:2]
    base = forward(theta, mu, xi).z
    # heads: directions D with (1/(LM)) Σ |D_ℓm|² = 1, so that D_sync(θ, θ + δD) = δ
    D = jax.random.normal(key, (directions, 2, *theta.A.shape))
    D = D / jnp.sqrt(jnp.sum(D**2, axis=(1, 2, 3, 4, 5)) / (L * M))[:, None, None, None, None, None]

    def perturbed_heads(Dk, delta):
        return Heads(theta.A + delta * Dk[0], theta.V + delta * Dk[1])

    ratios = []
    for dl in deltas:
        z = _forward_many(lambda Dk, dl=dl: perturbed_heads(Dk, dl), D, mu, xi)
        ratios.append(
            np.asarray(jnp.max(jnp.linalg.norm(z - base[None], axis=-1), axis=(1, 2))) / dl
        )
    return np.stack(ratios, axis=1)


def _token_ratios(theta, mu, xi, key, deltas, directions):
    """``L²(μ)`` distance of the final tokens / ``δ`` for tokens moved by ``δ U``,
    ``(directions, deltas)``."""
    n, d = mu.x.shape[1:]
    # tokens: directions U with Σ_k a_k |U_k|² = 1 (unit in L²(μ)), the weights kept
    U = jax.random.normal(key, (directions, n, d))
    U = U / jnp.sqrt(jnp.einsum("n,bnd->b", mu.a[0], U**2))[:, None, None]
    many = EmpiricalMeasure(jnp.broadcast_to(mu.x, U.shape), jnp.broadcast_to(mu.a, U.shape[:2]))
    xs = jnp.broadcast_to(xi, (directions, d))
    out0 = forward(theta, many, xs).tokens
    ratios = []
    for dl in deltas:
        out = forward(theta, EmpiricalMeasure(many.x + dl * U, many.a), xs).tokens
        ratios.append(np.asarray(_l2_mu(out - out0, many.a)) / dl)
    return np.stack(ratios, axis=1)


def _l2_mu(diff, a):
    """``(Σ_k a_k |diff_k|²)^{1/2}`` per context."""
    return jnp.sqrt(jnp.einsum("bn,bnd->b", a, diff**2))
