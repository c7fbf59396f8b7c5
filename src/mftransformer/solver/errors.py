"""Errors of the companion, in the tiers of STYLE.md §5.

``ParameterError`` for static input (arguments, shapes, parameter files), ``SolveFailed`` for an
expected numerical outcome (non-finite states, a risk that increased), ``CheckFailed`` for a
chapter's claim that did not hold. ``nonfinite_guard`` is the one runtime check per solve.
"""

import difflib

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = [
    "ParameterError",
    "SolveFailed",
    "CheckFailed",
    "suggest",
    "nonfinite_guard",
    "is_traced",
]


class ParameterError(ValueError):
    """Bad static input: reads ``<where>: <key> = <value>; allowed <range>. <fix>``."""


class SolveFailed(RuntimeError):
    """A solve produced non-finite values or otherwise failed; the message names where."""


class CheckFailed(AssertionError):
    """A chapter's numerical check did not hold."""


def suggest(name: str, valid) -> str:
    """A "did you mean" phrase for a misspelt ``name`` among ``valid`` (empty if none is close)."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def is_traced(x) -> bool:
    """True while ``x`` is a JAX tracer (inside ``jit``/``grad``), where Python checks cannot run."""
    return isinstance(x, jax.core.Tracer)


def nonfinite_guard(value, first_bad, what: str, unit: str = "layer", throw: bool = True):
    """Raise if ``first_bad >= 0`` (the first ``unit`` whose ``what`` became non-finite).

    Outside ``jit`` this raises :class:`SolveFailed` naming the index; inside ``jit`` it uses
    ``eqx.error_if`` (the index is then kept in the result for the caller to read).
    """
    if not throw:
        return value
    if is_traced(first_bad):
        return eqx.error_if(value, first_bad >= 0, f"{what} became non-finite (index in result)")
    k = int(first_bad)
    if k >= 0:
        raise SolveFailed(f"{what} became non-finite at {unit} {k}.")
    return value


def first_nonfinite(first_bad, index, value):
    """Update the carried index of the first non-finite step (−1 while all values are finite)."""
    bad = jnp.logical_not(jnp.all(jnp.isfinite(value)))
    return jnp.where((first_bad < 0) & bad, index, first_bad)
