"""Chapter 4, NTK injectivity and LSE independence (MATH.md §5, §7 "Chapter 4").

- :mod:`.params`: the schema (section ``ntk`` of ``notebooks/params/*.yaml``).
- :mod:`.claims`: the claims table, ``CLAIMS``.
- :mod:`.setting`: the common query and readout, silent kernels, the LSE-vs-NTK comparison.
- :mod:`.run`: the experiments :func:`closed_form`, :func:`lse_families`,
  :func:`model_families`, :func:`scan`, :func:`empirical_gauss`, :func:`mean_field`,
  :func:`rank`.
- :mod:`.plots`: ``plot_<what>(result) -> Figure``.
"""

from .claims import CLAIMS
from .params import (
    ClosedFormParams,
    EmpiricalGaussParams,
    LSEFamiliesParams,
    MeanFieldParams,
    ModelFamiliesParams,
    Params,
    RankParams,
    ScanParams,
)
from .plots import (
    plot_agreement,
    plot_blocks,
    plot_empirical_gauss,
    plot_lse_families,
    plot_mean_field,
    plot_rank,
    plot_scan,
    plot_spectra,
)
from .run import (
    RANK_RTOL,
    ClosedFormResult,
    EmpiricalGaussResult,
    LSEFamiliesResult,
    MeanFieldResult,
    ModelFamiliesResult,
    RankResult,
    ScanResult,
    closed_form,
    empirical_gauss,
    lse_families,
    mean_field,
    model_families,
    rank,
    scan,
)

__all__ = [
    "CLAIMS",
    "Params",
    "ClosedFormParams",
    "LSEFamiliesParams",
    "ModelFamiliesParams",
    "ScanParams",
    "EmpiricalGaussParams",
    "MeanFieldParams",
    "RankParams",
    "RANK_RTOL",
    "closed_form",
    "lse_families",
    "model_families",
    "scan",
    "empirical_gauss",
    "mean_field",
    "rank",
    "ClosedFormResult",
    "LSEFamiliesResult",
    "ModelFamiliesResult",
    "ScanResult",
    "EmpiricalGaussResult",
    "MeanFieldResult",
    "RankResult",
    "plot_blocks",
    "plot_lse_families",
    "plot_agreement",
    "plot_spectra",
    "plot_scan",
    "plot_empirical_gauss",
    "plot_mean_field",
    "plot_rank",
]
