"""Chapter 5, global convergence from a small initial loss (lazy theory).

- :mod:`.params`: the schema (section ``convergence`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.setting`: data, silent heads and small-loss labels; snapshots and fitted rates.
- :mod:`.run`: the experiments on one data set, :func:`injective` and :func:`stall`; the lazy
  theory they compare with is the solver's (:mod:`mftransformer.solver.lazy`).
- :mod:`.scaling`: :func:`sweep` (the initial loss grows) and :func:`width_depth`.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from . import claims, params, plots, run, scaling
from .claims import *  # noqa: F403
from .params import *  # noqa: F403
from .plots import *  # noqa: F403
from .run import *  # noqa: F403
from .scaling import *  # noqa: F403

#: The chapter's public names: those of its modules (each module's ``__all__``).
__all__ = [*claims.__all__, *params.__all__, *run.__all__, *scaling.__all__, *plots.__all__]
