"""Chapter 3, the COT gradient flow (MATH.md §4, §7 "Chapter 3").

- :mod:`.params`: the schema (section ``gradflow`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.run`: the task :func:`task`; the experiments :func:`energy` (``dissipation_order``,
  ``energy_identity``, ...), :func:`meanfield` (``meanfield_spread``, ``meanfield_mean``),
  :func:`depth` (``depth_consistency``), :func:`stability` (``stability_lipschitz``,
  ``stability_growth``).
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from .claims import CLAIMS
from .params import (
    DepthParams,
    EnergyParams,
    MeanfieldParams,
    Params,
    Schedule,
    StabilityParams,
    Task,
)
from .plots import (
    plot_depth,
    plot_energy,
    plot_heads,
    plot_meanfield,
    plot_stability,
    plot_training,
)
from .run import (
    CHUNK,
    DepthResult,
    EnergyResult,
    MeanfieldResult,
    StabilityResult,
    depth,
    energy,
    meanfield,
    stability,
    task,
)

__all__ = [
    "CLAIMS",
    "Params",
    "Task",
    "Schedule",
    "EnergyParams",
    "MeanfieldParams",
    "DepthParams",
    "StabilityParams",
    "CHUNK",
    "task",
    "energy",
    "meanfield",
    "depth",
    "stability",
    "EnergyResult",
    "MeanfieldResult",
    "DepthResult",
    "StabilityResult",
    "plot_training",
    "plot_energy",
    "plot_meanfield",
    "plot_heads",
    "plot_depth",
    "plot_stability",
]
