"""One module per chapter: experiments ``(params, key) -> result`` with figure data and checks.

Each module defines ``Params`` (its schema, see :mod:`mftransformer.companion.params`), one function per
experiment returning a frozen result (NumPy arrays, ``data`` for the figure, ``check``), and
``plot_<what>(result) -> Figure`` below the computations. Notebooks call these and stay thin.
"""

from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = ["Check", "Checks", "Result", "experiment", "fit_loglog"]
