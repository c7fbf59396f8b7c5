"""Chapter 2, the adjoint gradient formula (MATH.md §3, §7 "Chapter 2").

- :mod:`.params`: the schema (section ``adjoint`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.run`: the shared setting :func:`instance`; the experiments :func:`field`
  (``adjoint_field``), :func:`agreement` (``adjoint_vs_autodiff``, ``fd_order``),
  :func:`interaction` (``interaction_needed``), :func:`depth` (``continuous_slope_*``,
  ``continuous_vs_discrete``), :func:`memory` (``continuous_flat_memory``,
  ``exact_bytes_per_layer``); the four gradient programs, also used by ``benchmarks/``.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from .claims import CLAIMS
from .params import (
    AgreementParams,
    DepthParams,
    FieldParams,
    Instance,
    InteractionParams,
    MemoryParams,
    Params,
)
from .plots import plot_agreement, plot_depth, plot_field, plot_interaction, plot_memory
from .run import (
    MODES,
    AgreementResult,
    DepthResult,
    FieldResult,
    InteractionResult,
    MemoryResult,
    agreement,
    compiled_bytes,
    depth,
    field,
    gradient_programs,
    instance,
    interaction,
    median_time,
    memory,
)

__all__ = [
    "CLAIMS",
    "Params",
    "Instance",
    "FieldParams",
    "AgreementParams",
    "InteractionParams",
    "DepthParams",
    "MemoryParams",
    "MODES",
    "instance",
    "field",
    "agreement",
    "interaction",
    "depth",
    "memory",
    "FieldResult",
    "AgreementResult",
    "InteractionResult",
    "DepthResult",
    "MemoryResult",
    "gradient_programs",
    "compiled_bytes",
    "median_time",
    "plot_field",
    "plot_agreement",
    "plot_interaction",
    "plot_depth",
    "plot_memory",
]
