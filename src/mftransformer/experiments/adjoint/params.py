"""Chapter 2 parameter schema: one frozen section per experiment, built from the shared blocks of
:mod:`~mftransformer.experiments.blocks` (``notebooks/params/*.yaml``, section ``adjoint``)."""

import dataclasses

from ..blocks import Chapter, Network, Repeated
from ..schema import param

__all__ = [
    "Params",
    "Instance",
    "FieldParams",
    "AgreementParams",
    "InteractionParams",
    "ProbeParams",
    "LandscapeParams",
    "ReversalParams",
    "DepthParams",
    "MemoryParams",
]


@dataclasses.dataclass(frozen=True)
class Instance(Network):
    r"""The gradient's setting: :math:`N` padded inputs, generic heads, entries
    :math:`\mathcal N(0, \mathrm{scale}^2)`."""

    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input (the last one has zero weight: padding)", ge=2)
    N: int = param("number of inputs", ge=1)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)


@dataclasses.dataclass(frozen=True)
class FieldParams(Network):
    n: int = param("tokens of the context (d = 2)", ge=2)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)
    arrows_at: tuple[int, ...] = param("layers at which the adjoint field is drawn", ge=0)


@dataclasses.dataclass(frozen=True)
class AgreementParams(Instance, Repeated):
    eps: tuple[float, ...] = param("finite-difference steps (must contain 1e-3 and 1e-4)", gt=0)
    directions: int = param("random directions for the finite differences", ge=1)


@dataclasses.dataclass(frozen=True)
class InteractionParams(Instance, Repeated):
    """The ablations of the interaction term on tasks T, C and T + C, on ``keys`` instances."""


def _doubling(where, Ls):
    """Depths that double: successive differences need ``Ls[i+1] = 2 Ls[i]``."""
    if len(Ls) < 3 or any(b != 2 * a for a, b in zip(Ls, Ls[1:], strict=False)):
        raise ValueError(f"{where}: Ls = {Ls}; allowed >= 3 depths, each twice the previous.")


@dataclasses.dataclass(frozen=True)
class ProbeParams(Repeated):
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input (the last one has zero weight: padding)", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads of the smooth measure nu_s", ge=1)
    scale: float = param("entries of theta^0, theta^1 and of the probes ~ N(0, scale^2)", gt=0)
    probes: int = param("probe heads theta at which the first variation is evaluated", ge=1)
    eps: float = param("central finite-difference step in the probe's mass epsilon", gt=0)
    L_identity: int = param("depth of the network of the probe identity (even)", ge=2, even=True)
    Ls: tuple[int, ...] = param("depths L of the depth order (doubling, even)", ge=2, even=True)

    def rules(self, where):
        _doubling(where, self.Ls)


@dataclasses.dataclass(frozen=True)
class LandscapeParams(Instance):
    grid: int = param("points per axis of the heat map of the first variation", ge=3)
    arrows: int = param("points per axis of the arrows -grad_theta of the first variation", ge=2)


@dataclasses.dataclass(frozen=True)
class ReversalParams(Repeated):
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input (the last one has zero weight: padding)", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads per layer", ge=1)
    scale: float = param("entries of A, V ~ N(0, scale^2)", gt=0)
    Ls: tuple[int, ...] = param("depths L (memory compared between the first and the last)", ge=1)


@dataclasses.dataclass(frozen=True)
class DepthParams(Repeated):
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads of the smooth measure nu_s", ge=1)
    scale: float = param("entries of theta^0, theta^1 ~ N(0, scale^2)", gt=0)
    Ls: tuple[int, ...] = param(
        "depths L (each must divide L_ref and be a multiple of Ls[0])", ge=1
    )
    L_ref: int = param("depth of the RK4 continuous-adjoint reference", ge=1)

    def rules(self, where):
        bad = [L for L in (*self.Ls, self.L_ref) if L % self.Ls[0] or self.L_ref % L]
        if bad:
            raise ValueError(
                f"{where}: Ls = {self.Ls}, L_ref = {self.L_ref}; allowed depths that are "
                f"multiples of Ls[0] = {self.Ls[0]} and divide L_ref (offending: {bad})."
            )


@dataclasses.dataclass(frozen=True)
class MemoryParams:
    d: int = param("token dimension", ge=1)
    n: int = param("tokens per input", ge=2)
    N: int = param("number of inputs", ge=1)
    M: int = param("heads per layer", ge=1)
    Ls: tuple[int, ...] = param("depths L", ge=1)
    repeats: int = param("timed calls per program (the median is reported)", ge=1)


@dataclasses.dataclass(frozen=True)
class Params(Chapter):
    field: FieldParams = param("the adjoint field along token trajectories")
    agreement: AgreementParams = param("adjoint against autodiff and finite differences")
    interaction: InteractionParams = param("the adjoint without parts of its interaction term")
    probe: ProbeParams = param("the first variation away from the particles: a probe head")
    landscape: LandscapeParams = param("heat map of the first variation on a slice of heads")
    reversal: ReversalParams = param("the flat-memory adjoint by exact Euler reversal")
    depth: DepthParams = param("continuous adjoint against depth")
    memory: MemoryParams = param("working memory and time against depth")
