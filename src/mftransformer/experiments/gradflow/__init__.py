"""Chapter 3, the COT gradient flow (Model: risk).

- :mod:`.params`: the schema (section ``gradflow`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.run`: the task :func:`task`; the experiments :func:`energy` (``dissipation_order``
  ``energy_identity``, ...), :func:`meanfield` (``meanfield_spread``, ``meanfield_mean``)
  :func:`depth` (``depth_consistency``), :func:`stability` (``stability_lipschitz``
  ``stability_growth``).
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from . import claims, params, plots, run
from .claims import *  # noqa: F403
from .params import *  # noqa: F403
from .plots import *  # noqa: F403
from .run import *  # noqa: F403

#: The chapter's public names: those of its modules (each module's ``__all__``).
__all__ = [*claims.__all__, *params.__all__, *run.__all__, *plots.__all__]
