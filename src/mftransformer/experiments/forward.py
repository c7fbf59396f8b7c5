"""Chapter 1, forward well-posedness: experiments, checks and figures (MATH.md §1.6, §2, §7).

Each experiment is ``fn(p, *, key) -> Result`` with ``p`` its section of the parameter set; the
checks are those of MATH.md §7 "Chapter 1". Figures are drawn from a result by ``plot_<what>``.

- :func:`trajectories`: tokens through depth for a few inputs; ``support_bound``.
- :func:`flow`: the flow map on a grid and its Jacobian; ``diffeo``.
- :func:`depth`: Euler/Heun/RK4 against a fine RK4 reference; ``depth_slope_*``.
- :func:`width`: ``M`` heads against the exact mean field; ``width_slope_*``, ``width_*_vs_L``.
- :func:`tokens`: ``n`` sampled tokens against the Gaussian closed form; ``token_slope``.
- :func:`stability`: output change over input change as the perturbation shrinks;
  ``stability_theta``, ``stability_tokens``.
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..companion.params import param
from ..solver import tasks
from ..solver.attention import Heads, SmoothHeads
from ..solver.forward import flow_map, forward, gaussian_recursion, support_bound
from ..solver.measures import EmpiricalMeasure, sample_gaussian
from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = [
    "Params",
    "trajectories",
    "flow",
    "depth",
    "width",
    "tokens",
    "stability",
    "plot_trajectories",
    "plot_flow",
    "plot_depth",
    "plot_width",
    "plot_tokens",
    "plot_stability",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, DIRECTIONS = 0, 1, 2
SCHEMES = ("euler", "heun", "rk4")
#: Relative slack of the support bound: the bound is exact algebra, so only round-off.
SUPPORT_RTOL = 1e-12


# ---------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class TrajectoriesParams:
    d: int = param("token dimension (the first two coordinates are drawn)", ge=2)
    n: int = param("tokens per input", ge=1)
    N: int = param("number of inputs (contexts), drawn around a circle", ge=1, le=8)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    spread: float = param("distance of each input's mean from the origin", ge=0)


@dataclasses.dataclass(frozen=True)
class FlowParams:
    n: int = param("tokens of the context (d = 2)", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    grid: int = param("grid points per side", ge=2)
    extent: float = param("the grid covers [-extent, extent]^2", gt=0)
    s: tuple[float, ...] = param("depths at which the warped grid is drawn", ge=0, le=1)


@dataclasses.dataclass(frozen=True)
class DepthParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    M: int = param("heads of the smooth measure nu_s", ge=1)
    scale: float = param("entries of theta^0, theta^1 ~ N(0, scale^2)", gt=0)
    Ls: tuple[int, ...] = param("depths L compared with the reference", ge=1)
    L_ref: int = param("depth of the RK4 reference solution", ge=1)
    fit_from: int = param("slopes are fitted on L >= fit_from", ge=1)


@dataclasses.dataclass(frozen=True)
class WidthParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    K: int = param("mixture components of the reference head measure", ge=1)
    sigma: float = param("spread of V around its component mean", gt=0)
    sigma_A: float = param("scale of the component attention matrices A_bar", ge=0)
    sigma_V: float = param("scale of the component value means V_bar", ge=0)
    Ls: tuple[int, ...] = param("the two depths compared (short, long)", ge=1)
    Ms: tuple[int, ...] = param("heads per layer", ge=1)
    seeds: int = param("independent draws of the heads per (L, M)", ge=2)
    ratio_Ms: tuple[int, ...] = param("widths M at which e(long L)/e(short L) is checked", ge=1)
    fit_from: int = param(
        "slopes are fitted on M >= fit_from (below, tied heads leave the "
        "linear regime: errors of order one)",
        ge=1,
    )


@dataclasses.dataclass(frozen=True)
class TokensParams:
    d: int = param("token dimension", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    mean: float = param("each coordinate of the Gaussian context's mean", ge=-10, le=10)
    ns: tuple[int, ...] = param("numbers of sampled tokens", ge=1)
    seeds: int = param("independent samples per n", ge=2)


@dataclasses.dataclass(frozen=True)
class StabilityParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    deltas: tuple[float, ...] = param("perturbation sizes delta", gt=0)
    directions: int = param("random perturbation directions (pairs per delta)", ge=1)


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = param("root of every random draw of the chapter", ge=0)
    trajectories: TrajectoriesParams = param("tokens through depth")
    flow: FlowParams = param("the flow map on a grid")
    depth: DepthParams = param("error against depth")
    width: WidthParams = param("error against the number of heads")
    tokens: TokensParams = param("error against the number of tokens")
    stability: StabilityParams = param("output change against input change")


# ---------------------------------------------------------------- experiments
@experiment
def trajectories(p: TrajectoriesParams, *, key) -> Result:
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
    check = Check.below("support_bound", ratio, 1 + SUPPORT_RTOL, show_value=True)
    data = {
        "s": np.arange(p.L + 1) / p.L,
        "z": np.asarray(traj),
        "radius": np.asarray(radius),
        "bound": np.asarray(bound),
    }
    return Result(values={"ratio": ratio}, data=data, check=check)


@experiment
def flow(p: FlowParams, *, key) -> Result:
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
    check = Check.above("diffeo", min_det, 0.0)
    shape = (p.grid, p.grid, d)
    data = {
        "s": layers / p.L,
        "grid": np.asarray(path[layers]).reshape(-1, *shape),
        "tokens": np.asarray(tokens[layers]),
        "det": np.asarray(det).reshape(shape[:2]),
    }
    return Result(
        values={"min_det": min_det, "max_det": float(jnp.max(det))}, data=data, check=check
    )


@experiment
def depth(p: DepthParams, *, key) -> Result:
    """Error ``max |z^L − X_1|`` of Euler, Heun and RK4 on a smooth ``ν_s``, against RK4 at
    ``L_ref``; fitted log-log slopes on ``L ≥ fit_from`` (MATH.md §2: orders 1, 2, 4)."""
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
            Check.within("depth_slope_euler", fits["euler"].slope, -1.0, 0.1),
            Check.within("depth_slope_heun", fits["heun"].slope, -2.0, 0.15),
            Check.below(
                "depth_slope_rk4", fits["rk4"].slope if fits["rk4"] else 0.0, -3.8, show_value=True
            ),
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
    return Result(values={"slopes": slopes, "errors": errors}, data=data, check=check)


@experiment
def width(p: WidthParams, *, key) -> Result:
    """RMS error of the ``M``-head Euler network against the same-``L`` network with the exact
    field of a :class:`~mftransformer.solver.tasks.HeadMixture`, heads i.i.d. per layer or tied across
    layers (MATH.md §2: ``(LM)^{-1/2}``, resp. ``M^{-1/2}`` independent of ``L``)."""
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
            Check.within("width_slope_iid", fits["iid"].slope, -0.5, 0.1),
            Check.within("width_slope_tied", fits["tied"].slope, -0.5, 0.1),
            *(Check.between("width_iid_vs_L", float(r), 0.35, 0.70) for r in ratio["iid"]),
            *(Check.between("width_tied_vs_L", float(r), 0.75, 1.33) for r in ratio["tied"]),
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
    values = {"slopes": {k: f.slope for k, f in fits.items()}, "ratio": ratio, "errors": errors}
    return Result(values=values, data=data, check=check)


@experiment
def tokens(p: TokensParams, *, key) -> Result:
    """Query error ``|ξ^L − ξ^L_Gauss|`` (RMS over seeds) of ``n`` sampled tokens against the exact
    ``n = ∞`` Gaussian recursion at the same ``L`` (MATH.md §1.7: ``n^{-1/2}``)."""
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
    check = Check.within("token_slope", fit.slope, -0.5, 0.15)
    data = {"n": ns, "error": errors, "fit": fit(ns)}
    return Result(values={"slope": fit.slope, "errors": errors}, data=data, check=check)


@experiment
def stability(p: StabilityParams, *, key) -> Result:
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
    base = forward(theta, mu, xi).z

    # heads: directions D with (1/(LM)) Σ |D_ℓm|² = 1, so that D_sync(θ, θ + δD) = δ
    D = jax.random.normal(k_theta, (p.directions, 2, *theta.A.shape))
    D = (
        D
        / jnp.sqrt(jnp.sum(D**2, axis=(1, 2, 3, 4, 5)) / (p.L * p.M))[
            :, None, None, None, None, None
        ]
    )

    def perturbed_heads(Dk, delta):
        return Heads(theta.A + delta * Dk[0], theta.V + delta * Dk[1])

    ratio_theta = np.stack(
        [
            np.asarray(
                jnp.max(
                    jnp.linalg.norm(
                        _forward_many(lambda Dk, dl=dl: perturbed_heads(Dk, dl), D, mu, xi)
                        - base[None],
                        axis=-1,
                    ),
                    axis=(1, 2),
                )
            )
            / dl
            for dl in deltas
        ],
        axis=1,
    )  # (directions, deltas)

    # tokens: directions U with Σ_k a_k |U_k|² = 1 (unit in L²(μ)), the weights kept
    U = jax.random.normal(k_tokens, (p.directions, p.n, p.d))
    U = U / jnp.sqrt(jnp.einsum("n,bnd->b", mu.a[0], U**2))[:, None, None]
    many = EmpiricalMeasure(jnp.broadcast_to(mu.x, U.shape), jnp.broadcast_to(mu.a, U.shape[:2]))
    xs = jnp.broadcast_to(xi, (p.directions, p.d))
    out0 = forward(theta, many, xs).tokens
    ratio_tokens = np.stack(
        [
            np.asarray(
                _l2_mu(
                    forward(theta, EmpiricalMeasure(many.x + dl * U, many.a), xs).tokens - out0,
                    many.a,
                )
            )
            / dl
            for dl in deltas
        ],
        axis=1,
    )
    spread = {
        k: float(np.max((r.max(axis=1) - r.min(axis=1)) / np.median(r, axis=1)))
        for k, r in (("theta", ratio_theta), ("tokens", ratio_tokens))
    }
    check = Checks(
        (
            Check.below("stability_theta", spread["theta"], 0.01, show_value=True),
            Check.below("stability_tokens", spread["tokens"], 0.01, show_value=True),
        )
    )
    data = {"delta": deltas, "ratio_theta": ratio_theta, "ratio_tokens": ratio_tokens}
    values = {
        "spread": spread,
        "lipschitz_theta": float(ratio_theta.max()),
        "lipschitz_tokens": float(ratio_tokens.max()),
    }
    return Result(values=values, data=data, check=check)


# ---------------------------------------------------------------- figures
def plot_trajectories(result: Result):
    """Left: token paths through depth (first two coordinates), one colour per input, dots at
    ``s = 0`` and crosses at ``s = 1``. Right: the largest token norm against the support bound."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=3.0)
    for i in range(d["z"].shape[1]):
        c = COLORS[i % len(COLORS)]
        z = d["z"][:, i]
        ax.plot(z[..., 0], z[..., 1], color=c, lw=0.6, alpha=0.6)
        ax.plot(z[0, :, 0], z[0, :, 1], "o", color=c, ms=2.5)
        ax.plot(z[-1, :, 0], z[-1, :, 1], "x", color=c, ms=3.5)
        ax_r.plot(d["s"], d["radius"][:, i], color=c, label=f"input {i + 1}" if i < 4 else None)
        ax_r.plot(d["s"], d["bound"][:, i], "--", color=c, lw=0.9)
    ax.set(
        xlabel="$x_1$", ylabel="$x_2$", title="token paths $s \\mapsto X_s(x_k)$", aspect="equal"
    )
    ax_r.set(
        xlabel="depth $s$",
        ylabel="$\\max_k |z_k^\\ell|$",
        yscale="log",
        title="largest norm; bound dashed",
    )
    ax_r.legend(loc="upper left")
    return fig


def plot_flow(result: Result):
    """The grid ``X_s([-e, e]²)`` at a few depths, with the context tokens (dots); the last
    panel colours the grid by ``log det DX_1``."""
    from ..companion.figures import new_figure

    d = result.data
    k = len(d["s"])
    fig, axes = new_figure(k + 1, width="page", height=2.2)
    step = max(1, (d["grid"].shape[1] - 1) // 10)
    for ax, s, g, tok in zip(axes[:k], d["s"], d["grid"], d["tokens"], strict=True):
        for line in g[::step]:
            ax.plot(line[:, 0], line[:, 1], color="0.35", lw=0.5)
        for line in g.transpose(1, 0, 2)[::step]:
            ax.plot(line[:, 0], line[:, 1], color="0.35", lw=0.5)
        ax.plot(tok[:, 0], tok[:, 1], "o", ms=2.5, color="C1")
        ax.set(title=f"$s = {s:g}$", aspect="equal", xticks=[], yticks=[])
    g = d["grid"][-1]
    im = axes[-1].pcolormesh(
        g[..., 0], g[..., 1], np.log(d["det"]), shading="gouraud", cmap="viridis"
    )
    axes[-1].set(title="$\\log\\det DX_1$", aspect="equal", xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[-1], shrink=0.8)
    return fig


def plot_depth(result: Result):
    """Error against ``L`` (log-log) for the three schemes, with the fitted lines."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for i, (s, order) in enumerate(zip(SCHEMES, (1, 2, 4), strict=True)):
        slope = result.values["slopes"][s]
        ax.loglog(d["L"], d[f"error_{s}"], "o", color=f"C{i}")
        mask = d["fit_mask_rk4"] if s == "rk4" else d["fit_mask"]
        ax.loglog(
            d["L"][mask],
            d[f"fit_{s}"][mask],
            "-",
            color=f"C{i}",
            label=f"{s}: slope {slope:.2f} (order {order})",
        )
    ax.set(xlabel="layers $L$", ylabel="$\\max|z^L - X_1|$", title="depth: error against $L$")
    ax.legend()
    return fig


def plot_width(result: Result):
    """Left: error against ``M`` at both depths, i.i.d. (solid) and tied (dashed), with the fits
    at the short depth. Right: the same errors against ``L·M``."""
    from ..companion.figures import new_figure

    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, L in enumerate(d["L"]):
        for kind, style in (("iid", "o-"), ("tied", "s--")):
            e = d[f"error_{kind}"][i]
            ax.loglog(d["M"], e, style, color=f"C{i}", label=f"{kind}, $L = {L}$", lw=0.9)
            ax_r.loglog(L * d["M"], e, style, color=f"C{i}", label=f"{kind}, $L = {L}$", lw=0.9)
    for kind, style in (("iid", ":"), ("tied", "-.")):
        slope = result.values["slopes"][kind]
        ax.loglog(
            d["M"][d["fit_mask"]],
            d[f"fit_{kind}"][d["fit_mask"]],
            style,
            color="0.2",
            lw=0.8,
            label=f"fit {kind}: slope {slope:.2f}",
        )
    ax.set(xlabel="heads $M$", ylabel="RMS error", title="width: error against $M$")
    ax_r.set(xlabel="$L\\cdot M$", title="same errors against $L\\cdot M$")
    ax.legend(fontsize=6)
    return fig


def plot_tokens(result: Result):
    """Query error against ``n`` (log-log), with the fit and the ``n^{-1/2}`` law."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.6)
    ax.loglog(d["n"], d["error"], "o", label="sampled tokens (RMS over seeds)")
    ax.loglog(d["n"], d["fit"], "-", label=f"fit: slope {result.values['slope']:.2f}")
    ax.loglog(
        d["n"], d["fit"][0] * (d["n"] / d["n"][0]) ** -0.5, ":", color="0.3", label="$n^{-1/2}$"
    )
    ax.set(
        xlabel="tokens $n$",
        ylabel="$|\\xi^L - \\xi^L_{\\rm Gauss}|$",
        title="tokens: error against $n$",
    )
    ax.legend()
    return fig


def plot_stability(result: Result):
    """``|Δ output| / δ`` against ``δ`` for each direction: heads (left) and tokens (right)."""
    from ..companion.figures import new_figure

    d = result.data
    fig, axes = new_figure(2, width="page", height=2.6)
    for ax, kind, label in zip(
        axes,
        ("theta", "tokens"),
        ("heads, $D_{\\rm sync} = \\delta$", "tokens, $L^2(\\mu)$ norm $\\delta$"),
        strict=True,
    ):
        for r in d[f"ratio_{kind}"]:
            ax.semilogx(d["delta"], r, "o-", lw=0.8, ms=3)
        ax.set(xlabel="$\\delta$", ylabel="$|\\Delta\\,\\mathrm{output}|/\\delta$", title=label)
    return fig


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


def _l2_mu(diff, a):
    """``(Σ_k a_k |diff_k|²)^{1/2}`` per context."""
    return jnp.sqrt(jnp.einsum("bn,bnd->b", a, diff**2))
