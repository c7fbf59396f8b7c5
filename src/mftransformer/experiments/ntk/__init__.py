"""Chapter 4, NTK injectivity and LSE independence (Model: NTK).

- :mod:`.params`: the schema (section ``ntk`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.setting`: the common query and readout, silent kernels, the LSE-vs-NTK comparison.
- :mod:`.once`: one key of each repeated experiment, and the batched draws they use.
- :mod:`.run`: the experiments :func:`closed_form`, :func:`lse_families`
  :func:`model_families`, :func:`scan`, :func:`empirical_gauss`, :func:`mean_field`
  :func:`rank`.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from . import claims, params, plots, run
from .claims import *  # noqa: F403
from .params import *  # noqa: F403
from .plots import *  # noqa: F403
from .run import *  # noqa: F403

#: The chapter's public names: those of its modules (each module's ``__all__``).
__all__ = [*claims.__all__, *params.__all__, *run.__all__, *plots.__all__]
