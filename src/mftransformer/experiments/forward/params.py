"""Chapter 1 parameter schema: one frozen section per experiment, built from the shared blocks of
:mod:`~mftransformer.experiments.blocks` (``notebooks/params/*.yaml``, section ``forward``)."""

import dataclasses

from ..blocks import Chapter, HeadInit, Network, Repeated
from ..schema import param

__all__ = [
    "Params",
    "TrajectoriesParams",
    "FlowParams",
    "DepthParams",
    "WidthParams",
    "TokensParams",
    "StabilityParams",
]


@dataclasses.dataclass(frozen=True)
class TrajectoriesParams(HeadInit, Network):
    d: int = param("token dimension (the first two coordinates are drawn)", ge=2)
    n: int = param("tokens per input", ge=1)
    N: int = param("number of inputs (contexts), drawn around a circle", ge=1, le=8)
    spread: float = param("distance of each input's mean from the origin", ge=0)


@dataclasses.dataclass(frozen=True)
class FlowParams(HeadInit, Network):
    n: int = param("tokens of the context (d = 2)", ge=1)
    grid: int = param("grid points per side", ge=2)
    extent: float = param("the grid covers [-extent, extent]^2", gt=0)
    s: tuple[float, ...] = param("depths at which the warped grid is drawn", ge=0, le=1)
    Ls: tuple[int, ...] = param("Euler depths of the fold scan, h = 1/L (coarse to fine)", ge=1)
    L_flow: int = param("depth of the RK4 solve that stands for the flow", ge=1)


@dataclasses.dataclass(frozen=True)
class DepthParams(Repeated):
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    M: int = param("heads of the smooth measure nu_s", ge=1)
    scale: float = param("entries of theta^0, theta^1 ~ N(0, scale^2)", gt=0)
    Ls: tuple[int, ...] = param("depths L compared with the reference", ge=1)
    L_ref: int = param("depth of the RK4 reference solution", ge=1)
    fit_from: int = param("slopes are fitted on L >= fit_from", ge=1)


@dataclasses.dataclass(frozen=True)
class WidthParams(Repeated):
    # sigma_A, sigma_V scale a head mixture here, not an initialisation: declared apart
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    K: int = param("mixture components of the reference head measure", ge=1)
    sigma: float = param("spread of V around its component mean", gt=0)
    sigma_A: float = param("scale of the component attention matrices A_bar", ge=0)
    sigma_V: float = param("scale of the component value means V_bar", ge=0)
    Ls: tuple[int, ...] = param("the two depths compared (short, long)", ge=1)
    Ms: tuple[int, ...] = param("heads per layer", ge=1)
    seeds: int = param("independent draws of the heads per (key, L, M)", ge=2)
    ratio_Ms: tuple[int, ...] = param(
        "widths M run at the long depth, where e(long L)/e(short L) is checked", ge=1
    )
    fit_from: int = param(
        "slopes are fitted on M >= fit_from (below, tied heads leave the "
        "linear regime: errors of order one)",
        ge=1,
    )

    def rules(self, where):
        """Every ``ratio_Ms`` is one of ``Ms`` (the short depth runs at every width)."""
        if not set(self.ratio_Ms) <= set(self.Ms):
            raise ValueError(
                f"{where}: ratio_Ms = {list(self.ratio_Ms)}; allowed a subset of Ms = "
                f"{list(self.Ms)}."
            )


@dataclasses.dataclass(frozen=True)
class TokensParams(Repeated, HeadInit, Network):
    d: int = param("token dimension", ge=1)
    mean: float = param("each coordinate of the Gaussian context's mean", ge=-10, le=10)
    ns: tuple[int, ...] = param("numbers of sampled tokens", ge=1)
    seeds: int = param("independent samples per (key, n)", ge=2)
    w2_seeds: int = param("samples per (key, n) whose W_2 to the exact flow is computed", ge=1)
    w2_radius: float = param(
        "W_2 compares the tokens starting within this distance of the mean", gt=0
    )

    def rules(self, where):
        """``w2_seeds <= seeds`` (the W_2 samples are the first of the seeds)."""
        if self.w2_seeds > self.seeds:
            raise ValueError(
                f"{where}: w2_seeds = {self.w2_seeds}; allowed at most seeds = {self.seeds}."
            )


@dataclasses.dataclass(frozen=True)
class StabilityParams(Repeated, HeadInit, Network):
    d: int = param("token dimension", ge=1)
    n: int = param("tokens", ge=1)
    deltas: tuple[float, ...] = param("perturbation sizes delta", gt=0)
    iterations: int = param("power iterations for the worst direction", ge=2)


@dataclasses.dataclass(frozen=True)
class Params(Chapter):
    trajectories: TrajectoriesParams = param("tokens through depth")
    flow: FlowParams = param("the flow map on a grid")
    depth: DepthParams = param("error against depth")
    width: WidthParams = param("error against the number of heads")
    tokens: TokensParams = param("error against the number of tokens")
    stability: StabilityParams = param("output change against input change")
