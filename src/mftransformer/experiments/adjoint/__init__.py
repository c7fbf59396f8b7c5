"""Chapter 2, the adjoint gradient formula (Model: risk).

- :mod:`.params`: the schema (section ``adjoint`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.run` and :mod:`.variation` (the first variation): the shared setting
  :func:`instance`; the experiments :func:`field`
  (``adjoint_field``), :func:`agreement` (``adjoint_vs_autodiff``, ``fd_order``)
  :func:`interaction` (``interaction_needed``: three ablations on three tasks), :func:`probe`
  (``probe_identity``, ``probe_depth_order``), :func:`landscape` (``first_variation_grad``),
  :func:`reversal` (``flat_memory_grad``, ``reversal_flat_memory``), :func:`depth`
  (``continuous_slope_*``, ``continuous_vs_discrete``), :func:`memory`
  (``continuous_flat_memory``, ``exact_bytes_per_layer``); the four gradient programs, also used
  by ``benchmarks/``. Rate and ratio checks run on ``keys`` independent instances.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from . import claims, params, plots, run, variation
from .claims import *  # noqa: F403
from .params import *  # noqa: F403
from .plots import *  # noqa: F403
from .run import *  # noqa: F403
from .variation import *  # noqa: F403

#: The chapter's public names: those of its modules (each module's ``__all__``).
__all__ = [*claims.__all__, *params.__all__, *run.__all__, *variation.__all__, *plots.__all__]
