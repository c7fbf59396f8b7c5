"""The chapters' experiments: one small package per chapter, and what they share.

Each ``experiments/<chapter>/`` holds ``params.py`` (its schema, built from the blocks of
:mod:`.blocks` with :func:`.schema.param`), ``claims.py`` (its claims table ``CLAIMS``: every check
name, target, band and the reason for the band), ``run.py`` (the experiments
``fn(p, *, key) -> <What>Result``, typed frozen results with ``data``, ``check``, ``wall_s``,
``source`` and ``values``) and ``plots.py`` (``plot_<what>(result) -> Figure``); its
``__init__`` re-exports them, so a page reads
``from mftransformer.experiments import forward as chapter; chapter.depth(...)``.

:func:`claims` gives a chapter's claims table by name (for the Status page and the tests).
"""

from . import adjoint, convergence, forward, gradflow, ntk
from .checks import Check, Checks, Claim, Claims, Result, experiment, fit_loglog, result_type

__all__ = [
    "CHAPTERS",
    "claims",
    "Check",
    "Checks",
    "Claim",
    "Claims",
    "Result",
    "result_type",
    "experiment",
    "fit_loglog",
]

#: chapter name -> its package, in the book's order
CHAPTERS = {
    "forward": forward,
    "adjoint": adjoint,
    "gradflow": gradflow,
    "ntk": ntk,
    "convergence": convergence,
}


def claims(chapter: str) -> Claims:
    """The claims table of ``chapter`` (``"forward"``, ..., ``"convergence"``).

    >>> [c.name for c in claims("forward")][:2]
    ['support_bound', 'diffeo']

    Raises:
        KeyError: an unknown chapter (the message lists the chapters).
    """
    if chapter not in CHAPTERS:
        raise KeyError(f"experiments: no chapter {chapter!r}; chapters: {', '.join(CHAPTERS)}.")
    return CHAPTERS[chapter].CLAIMS
