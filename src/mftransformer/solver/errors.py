"""Errors of the companion, one class per kind of failure.

``ParameterError`` for static input (arguments, shapes, parameter files), ``SolveFailed`` for an
expected numerical outcome (non-finite states, a risk that increased), ``CheckFailed`` for a
chapter's claim that did not hold. ``nonfinite_guard`` is the one runtime check per solve.
"""

import difflib
import math

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
    "first_nonfinite",
    "check_positive",
    "check_steps",
    "check_choice",
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
    """True while ``x`` is a JAX tracer (inside ``jit``, ``grad``): Python checks cannot run."""
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


def first_nonfinite(first_bad, index, *values):
    """Update the carried index of the first non-finite step (−1 while all values are finite)."""
    bad = jnp.logical_not(jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in values])))
    return jnp.where((first_bad < 0) & bad, index, first_bad)


def check_positive(where: str, name: str, value) -> None:
    """Raise :class:`ParameterError` unless ``value`` is a finite number > 0 (skipped if traced)."""
    if is_traced(value):
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{where}: {name} = {value!r}; allowed a finite number > 0.") from None
    if not (math.isfinite(v) and v > 0):
        raise ParameterError(f"{where}: {name} = {value!r}; allowed a finite number > 0.")


def check_steps(where: str, steps, every=None, name: str = "snapshot_every") -> None:
    """Raise :class:`ParameterError` unless ``steps >= 1`` is an integer and ``every`` (if not
    None) is an integer >= 1 dividing it."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ParameterError(f"{where}: steps = {steps!r}; allowed integer >= 1.")
    if every is None:
        return
    if not isinstance(every, int) or isinstance(every, bool) or every < 1 or steps % every:
        raise ParameterError(
            f"{where}: {name} = {every!r}; allowed an integer >= 1 dividing steps = {steps}."
        )


def check_choice(where: str, name: str, value, allowed) -> None:
    """Raise :class:`ParameterError` (with a "did you mean") unless ``value`` is in ``allowed``."""
    if value not in allowed:
        raise ParameterError(
            f"{where}: {name} = {value!r}; allowed {list(allowed)}.{suggest(value, allowed)}"
        )
