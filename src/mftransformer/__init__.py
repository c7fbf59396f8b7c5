"""mftransformer: the mean-field transformer of Barboni, Furuya, de Hoop and Peyré, in JAX.

The numerical core is a library: arrays in, results out. Call :func:`configure` once, before any
array is created, to switch JAX to float64 (every comparison with theory runs in float64).

>>> import mftransformer as mft
>>> mft.configure()
"""

# ruff: noqa: F401  (every import below is a re-export: __all__ is built from them at the end)


def configure(x64: bool = True) -> None:
    """Set the package-wide JAX precision (float64 by default). The only place that sets
    ``jax_enable_x64``: call it at entry points (notebooks' first cell, tests, the CLI).

    Arrays created before the call keep their dtype (float32 when x64 was off): rebuild them
    after it. A public function given float64 input while x64 is off warns once
    (:class:`~mftransformer.solver.validate.PrecisionWarning`)."""
    import jax

    jax.config.update("jax_enable_x64", bool(x64))


from .companion import environment, params  # noqa: E402
from .companion.figures import save_figure  # noqa: E402
from .companion.store import train_chunked  # noqa: E402
from .solver import adjoint, families, gradflow, ntk, sharding, streaming, tasks  # noqa: E402
from .solver.adjoint import (  # noqa: E402
    Targets,
    continuous_adjoint,
    cot_gradient,
    discrete_adjoint,
    risk,
)
from .solver.attention import (  # noqa: E402
    Heads,
    SmoothHeads,
    field,
    field_vjp,
    head,
    head_param_grad,
    lse,
    meanfield_scale,
    tilted_stats,
)
from .solver.errors import CheckFailed, ParameterError, SolveFailed  # noqa: E402
from .solver.first_variation import first_variation, probe_derivative  # noqa: E402
from .solver.forward import (  # noqa: E402
    ForwardResult,
    flow_map,
    forward,
    forward_ode,
    gaussian_ode,
    gaussian_recursion,
    support_bound,
)
from .solver.gradflow import TrainingHistory, flow, gd_step, train  # noqa: E402
from .solver.measures import (  # noqa: E402
    EmpiricalMeasure,
    center,
    empirical,
    sample_box,
    sample_cloud,
    sample_gaussian,
    sample_mixture,
)
from .solver.ntk import NTK, lse_independence, ntk_jacobian, ntk_silent, spectrum  # noqa: E402
from .solver.reversal import adjoint_flat_memory, invert_euler_step  # noqa: E402
from .solver.sharding import auto_mesh, resolve_mesh  # noqa: E402
from .solver.streaming import resolve_chunk  # noqa: E402

# The public API is every name imported above: the import lines are its one list. Sub-packages
# (solver, companion, experiments), bound as a side effect of importing from them, are not in it.
__all__ = ["__version__"] + [
    name
    for name, value in list(globals().items())
    if not name.startswith("_") and not hasattr(value, "__path__")
]


def _alias_old_module_paths() -> None:
    """Deprecated (removed in 0.3): the module paths of 0.1 (``mftransformer.forward``, ...)
    still import, as aliases of their new homes in ``solver`` and ``companion``."""
    import importlib
    import sys

    moved = {
        **{
            m: f"solver.{m}"
            for m in (
                "adjoint",
                "attention",
                "errors",
                "families",
                "forward",
                "gradflow",
                "measures",
                "ntk",
                "tasks",
            )
        },
        **{m: f"companion.{m}" for m in ("figures", "gallery", "params", "pipeline")},
    }
    for old, new in moved.items():
        sys.modules.setdefault(f"{__name__}.{old}", importlib.import_module(f"{__name__}.{new}"))


_alias_old_module_paths()

#: The package version, set in one place (``pyproject.toml``) and read from its metadata.
__version__ = environment.version()
