"""Chapter 4 parameter schema: one frozen section per experiment, built from the shared blocks of
:mod:`~mftransformer.experiments.blocks` (``notebooks/params/*.yaml``, section ``ntk``)."""

import dataclasses

from ..blocks import Chapter, HeadInit, NTKBudget, PairedNetwork, Repeated
from ..schema import param

__all__ = [
    "Params",
    "ClosedFormParams",
    "LSEFamiliesParams",
    "ModelFamiliesParams",
    "ScanParams",
    "EmpiricalGaussParams",
    "MeanFieldParams",
    "RankParams",
]


@dataclasses.dataclass(frozen=True)
class ClosedFormParams(HeadInit, PairedNetwork, NTKBudget):
    N: int = param("number of inputs (contexts)", ge=1)
    n: int = param("atoms per context", ge=1)
    d: int = param("token dimension", ge=1)
    scale: float = param("atoms ~ N(0, scale^2 I), Dirichlet(1) weights", gt=0)


@dataclasses.dataclass(frozen=True)
class LSEFamiliesParams:
    K: int = param("query points q ~ N(0, s^2 I), s = 3/R", ge=100)


@dataclasses.dataclass(frozen=True)
class ModelFamiliesParams(Repeated, HeadInit, PairedNetwork):
    n_sampled: int = param("samples per Gaussian of the sampled G1 row", ge=2)
    K: int = param("query points of the LSE test", ge=100)


@dataclasses.dataclass(frozen=True)
class ScanParams(Repeated, HeadInit, PairedNetwork):
    ts: tuple[float, ...] = param("deformation amplitudes t (0 = exact translate)", ge=0)
    K: int = param("query points of the LSE test", ge=100)


@dataclasses.dataclass(frozen=True)
class EmpiricalGaussParams(Repeated):
    sigmas: tuple[float, ...] = param("standard deviations of the two 1D Gaussians", gt=0)
    ns: tuple[int, ...] = param("samples per Gaussian", ge=2)
    fit_from: int = param("the slope is fitted on n >= fit_from", ge=2)
    seeds: int = param("independent samples per n (per key)", ge=2)
    K: int = param("query points q ~ U[-1, 1]", ge=10)


@dataclasses.dataclass(frozen=True)
class MeanFieldParams(Repeated, HeadInit):
    N: int = param("number of contexts", ge=1)
    n: int = param("atoms per context (d = 2)", ge=1)
    Ps: tuple[int, ...] = param("numbers of head pairs P = L M / 2", ge=1)
    seeds: int = param("independent draws of the heads per P (per key)", ge=2)
    nodes: int = param("Gauss-Hermite nodes per axis of the mean-field reference", ge=10)


@dataclasses.dataclass(frozen=True)
class RankParams:
    N: int = param("number of contexts (d = 2, d_out = 1)", ge=1)
    n: int = param("atoms per context", ge=1)
    Ps: tuple[int, ...] = param("numbers of head pairs", ge=1)


@dataclasses.dataclass(frozen=True)
class Params(Chapter):
    closed_form: ClosedFormParams = param("closed form against the JAX Jacobian")
    lse_families: LSEFamiliesParams = param("the LSE test on fixed families")
    model_families: ModelFamiliesParams = param("the NTK on the same families")
    scan: ScanParams = param("from a failing family to a holding one")
    empirical_gauss: EmpiricalGaussParams = param("sampled Gaussians")
    mean_field: MeanFieldParams = param("finite width against the mean-field NTK")
    rank: RankParams = param("rank of K with few heads")
