"""Chapter 5 parameter schema: one frozen section per experiment, built from the shared blocks of
:mod:`~mftransformer.experiments.blocks` (``notebooks/params/*.yaml``, section ``convergence``)."""

import dataclasses

from ..blocks import Chapter, Contexts, NTKBudget, PairedNetwork, Readout, Repeated, SilentInit
from ..schema import param

__all__ = [
    "Params",
    "Descent",
    "InjectiveParams",
    "StallParams",
    "SweepParams",
    "WidthDepthParams",
]


@dataclasses.dataclass(frozen=True)
class Descent:
    """Mean-field gradient descent of ``steps`` steps of size ``eta`` in training time."""

    eta: float = param("gradient-descent step in training time", gt=0)
    steps: int = param("gradient-descent steps (T = steps * eta)", ge=1)

    def rules(self, where):
        snapshots = getattr(self, "snapshots", 1)
        if self.steps % snapshots:
            raise ValueError(
                f"{where}: snapshots = {snapshots}; allowed a divisor of steps = {self.steps}."
            )


@dataclasses.dataclass(frozen=True)
class InjectiveParams(Repeated, Descent, PairedNetwork, SilentInit, Readout, Contexts, NTKBudget):
    eps: float = param("label offset: y = Y(nu_0) + eps zeta", gt=0)
    snapshots: int = param("NTK checkpoints along the run (divides steps)", ge=1)
    t_lazy: float = param("lazy_fit compares R with R_lin on t <= t_lazy", gt=0)
    R_stop: float = param("fits and ratios use R > R_stop (above the float64 floor)", gt=0)


@dataclasses.dataclass(frozen=True)
class StallParams(Repeated, Descent, PairedNetwork, SilentInit, Readout):
    family: str = param("a family whose LSEs are dependent (chapter 4)", choices=("BB", "CV"))
    eps: float = param("labels y = W xi_0 + eps (1, ..., 1)", gt=0)
    snapshots: int = param("residual and NTK checkpoints (divides steps)", ge=1)


@dataclasses.dataclass(frozen=True)
class SweepParams(Repeated, Descent, PairedNetwork, SilentInit, Readout, Contexts, NTKBudget):
    eps: tuple[float, ...] = param(
        "label offsets, increasing (those <= eps_lazy give lazy_scaling)", gt=0
    )
    eps_lazy: float = param("lazy_scaling fits the deviation over eps <= eps_lazy", gt=0)
    snapshots: int = param("NTK checkpoints per run (divides steps)", ge=1)

    def rules(self, where):
        eps = list(self.eps)
        if len(eps) < 2 or any(b <= a for a, b in zip(eps, eps[1:], strict=False)):
            raise ValueError(f"{where}: eps = {eps}; allowed at least two increasing values.")
        if sum(e <= self.eps_lazy for e in eps) < 2:
            raise ValueError(
                f"{where}: eps_lazy = {self.eps_lazy}; allowed a value with at least two eps below "
                "it (the lazy_scaling fit)."
            )


@dataclasses.dataclass(frozen=True)
class WidthDepthParams(Descent, SilentInit, Readout, Contexts):
    # the mean-field NTK is a tensor Gauss-Hermite rule of nodes^d points: d <= 3 (solver.ntk)
    d: int = param("token dimension", ge=1, le=3)
    L_width: int = param("depth of the width line", ge=1)
    Ms: tuple[int, ...] = param("heads per layer on the width line (even)", ge=2, even=True)
    M_depth: int = param("heads per layer of the depth line (even)", ge=2, even=True)
    Ls: tuple[int, ...] = param("depths on the depth line", ge=1)
    seeds: int = param("independent head draws per (L, M)", ge=2)
    eps: float = param("label offset (small: the lazy regime)", gt=0)
    nodes: int = param("Gauss-Hermite nodes per axis of the mean-field NTK", ge=8)


@dataclasses.dataclass(frozen=True)
class Params(Chapter):
    injective: InjectiveParams = param("exponential decay on an injective data set")
    stall: StallParams = param("the stall when injectivity fails")
    sweep: SweepParams = param("increasing the initial loss")
    width_depth: WidthDepthParams = param("the rate as M and L grow")
