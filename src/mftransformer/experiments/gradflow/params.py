"""Chapter 3 parameter schema: one frozen section per experiment, built from the shared blocks of
:mod:`~mftransformer.experiments.blocks` (``notebooks/params/*.yaml``, section ``gradflow``)."""

import dataclasses

from ..blocks import Chapter, Network, Repeated
from ..schema import param

__all__ = [
    "Params",
    "Task",
    "Schedule",
    "EnergyParams",
    "MeanfieldParams",
    "DepthParams",
    "StabilityParams",
]


@dataclasses.dataclass(frozen=True)
class Task:
    r"""The chapter's task C: :math:`N` clouds of :math:`n` tokens in :math:`\mathbb R^d`."""

    d: int = param("token dimension", ge=2)
    n: int = param("tokens per context", ge=1)
    N: int = param("number of inputs (contexts)", ge=1)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Gradient descent of ``steps`` steps of size ``eta`` (compiled in chunks of 50 steps)."""

    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("steps (a multiple of 50)", ge=50)


@dataclasses.dataclass(frozen=True)
class EnergyParams(Repeated, Network, Task):
    sigma: float = param("generic initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    T: float = param("training-time horizon", gt=0)
    etas: tuple[float, ...] = param("gradient-descent steps (T/eta a multiple of 50)", gt=0)
    rtol: float = param("relative and absolute tolerance of the adaptive flow solve", gt=0, lt=1)

    def rules(self, where):
        for eta in self.etas:
            steps = round(self.T / eta)
            if abs(steps * eta - self.T) > 1e-9 * self.T or steps % 50:
                raise ValueError(
                    f"{where}: etas = {list(self.etas)}; allowed steps with T/eta an integer "
                    f"multiple of 50 (T = {self.T}, eta = {eta} gives {self.T / eta:g})."
                )


@dataclasses.dataclass(frozen=True)
class MeanfieldParams(Repeated, Schedule, Task):
    L: int = param("layers", ge=1)
    Ms: tuple[int, ...] = param("widths (even: silent pairs), increasing", ge=2, even=True)
    seeds: int = param(
        "initialisations per width and key (the spread of R(T) over them; each of the keys "
        "has its own seeds)",
        ge=16,
    )
    batch: int = param(
        "seeds per vmapped batch, batches in sequence (1 on a CPU keeps a layer in cache; "
        "0: all seeds of a width in one batch, for a GPU); equal results either way",
        ge=0,
    )
    M_ref: int = param(
        "heads of the reference network whose velocity carries the tracers (even, > max Ms)",
        ge=2,
        even=True,
    )
    sigma: float = param("silent initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    noise: float = param("labels y = W xi_0 + noise * zeta", gt=0)
    snapshots: int = param(
        "head snapshots along the widest run (snapshots - 1 divides steps)", ge=2
    )

    def rules(self, where):
        if self.keys > self.seeds:
            raise ValueError(
                f"{where}: keys = {self.keys}; allowed keys <= seeds = {self.seeds} (the first "
                "keys seeds of each width carry tracers)."
            )
        if self.M_ref <= max(self.Ms):
            raise ValueError(
                f"{where}: M_ref = {self.M_ref}; allowed M_ref > max(Ms) = {max(self.Ms)} (the "
                "reference stands in for the mean-field limit)."
            )
        if self.steps % (self.snapshots - 1):
            raise ValueError(
                f"{where}: snapshots = {self.snapshots}; allowed snapshots - 1 dividing "
                f"steps = {self.steps}."
            )


@dataclasses.dataclass(frozen=True)
class DepthParams(Repeated, Schedule, Task):
    M: int = param("heads of the smooth initial measure nu_s", ge=1)
    scale: float = param(
        "smooth heads theta_m(s) = theta0 + sin(pi s) theta1, entries ~ N(0, scale^2)", gt=0
    )
    Ls: tuple[int, ...] = param("depths, doubling", ge=1)


@dataclasses.dataclass(frozen=True)
class StabilityParams(Repeated, Schedule, Network, Task):
    sigma: float = param("generic initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    deltas: tuple[float, ...] = param("initial distances D_sync(0), decreasing", gt=0)


@dataclasses.dataclass(frozen=True)
class Params(Chapter):
    energy: EnergyParams = param("energy dissipation along gradient descent and the flow")
    meanfield: MeanfieldParams = param("finite-width training against the mean-field limit")
    depth: DepthParams = param("finite-depth training against the depth limit")
    stability: StabilityParams = param("flows from nearby initial measures")
