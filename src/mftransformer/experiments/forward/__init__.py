"""Chapter 1, forward well-posedness (MATH.md §1.6, §2, §7 "Chapter 1").

- :mod:`.params`: the schema (section ``forward`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS`` (check names, targets, bands and their reasons).
- :mod:`.run`: the experiments ``fn(p, *, key) -> <What>Result``:
  :func:`trajectories` (``support_bound``), :func:`flow` (``diffeo``), :func:`depth`
  (``depth_slope_*``), :func:`width` (``width_slope_*``, ``width_*_vs_L``), :func:`tokens`
  (``token_slope``), :func:`stability` (``stability_theta``, ``stability_tokens``).
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from .claims import CLAIMS
from .params import (
    DepthParams,
    FlowParams,
    Params,
    StabilityParams,
    TokensParams,
    TrajectoriesParams,
    WidthParams,
)
from .plots import (
    plot_depth,
    plot_flow,
    plot_stability,
    plot_tokens,
    plot_trajectories,
    plot_width,
)
from .run import (
    DATA,
    DIRECTIONS,
    HEADS,
    SCHEMES,
    DepthResult,
    FlowResult,
    StabilityResult,
    TokensResult,
    TrajectoriesResult,
    WidthResult,
    depth,
    flow,
    stability,
    tokens,
    trajectories,
    width,
)

__all__ = [
    "CLAIMS",
    "Params",
    "TrajectoriesParams",
    "FlowParams",
    "DepthParams",
    "WidthParams",
    "TokensParams",
    "StabilityParams",
    "DATA",
    "HEADS",
    "DIRECTIONS",
    "SCHEMES",
    "trajectories",
    "flow",
    "depth",
    "width",
    "tokens",
    "stability",
    "TrajectoriesResult",
    "FlowResult",
    "DepthResult",
    "WidthResult",
    "TokensResult",
    "StabilityResult",
    "plot_trajectories",
    "plot_flow",
    "plot_depth",
    "plot_width",
    "plot_tokens",
    "plot_stability",
]
