"""Chapter 5, global convergence from a small initial loss (MATH.md §6, §7 "Chapter 5").

- :mod:`.params`: the schema (section ``convergence`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.setting`: data, silent heads and small-loss labels; snapshots and fitted rates.
- :mod:`.run`: the experiments on one data set, :func:`injective` and :func:`stall`; the lazy
  theory they compare with is the solver's (:mod:`mftransformer.solver.lazy`).
- :mod:`.scaling`: :func:`sweep` (the initial loss grows) and :func:`width_depth`.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from .claims import CLAIMS
from .params import (
    Descent,
    InjectiveParams,
    Params,
    StallParams,
    SweepParams,
    WidthDepthParams,
)
from .plots import plot_injective, plot_stall, plot_sweep, plot_width_depth
from .run import (
    InjectiveResult,
    StallResult,
    injective,
    stall,
)
from .scaling import SweepResult, WidthDepthResult, sweep, width_depth

__all__ = [
    "CLAIMS",
    "Params",
    "Descent",
    "InjectiveParams",
    "StallParams",
    "SweepParams",
    "WidthDepthParams",
    "injective",
    "stall",
    "sweep",
    "width_depth",
    "InjectiveResult",
    "StallResult",
    "SweepResult",
    "WidthDepthResult",
    "plot_injective",
    "plot_stall",
    "plot_sweep",
    "plot_width_depth",
]
