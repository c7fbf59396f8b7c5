"""Chapter 1, forward well-posedness (Model: flow).

- :mod:`.params`: the schema (section ``forward`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS`` (check names, targets, bands and their reasons).
- :mod:`.run`: the experiments ``fn(p, *, key) -> <What>Result``:
  :func:`trajectories` (``support_bound``), :func:`flow` (``diffeo``), :func:`depth`
  (``depth_slope_*``), :func:`width` (``width_slope_*``, ``width_*_vs_L``), :func:`tokens`
  (``token_slope``), :func:`stability` (``stability_theta``, ``stability_tokens``).
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from . import claims, params, plots, run
from .claims import *  # noqa: F403
from .params import *  # noqa: F403
from .plots import *  # noqa: F403
from .run import *  # noqa: F403

#: The chapter's public names: those of its modules (each module's ``__all__``).
__all__ = [*claims.__all__, *params.__all__, *run.__all__, *plots.__all__]
