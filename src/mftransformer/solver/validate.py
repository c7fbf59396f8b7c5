"""One validation layer for the library's array inputs (the first of two tiers).

Every public entry point passes its array arguments through these functions once, on the host,
before anything is traced: array-likes (lists, NumPy, JAX) become JAX arrays of a float dtype
(float inputs keep theirs, integers and lists take the default float of the session), values
must be finite, weights non-negative and summing to one, and there must be at least one token.
A failure raises :class:`~mftransformer.solver.errors.ParameterError` naming the argument, the
offending entry and what is allowed. Traced values (inside ``jit``, ``grad``, ``vmap``) pass
unchecked: the runtime tier (``nonfinite_guard``) covers them.

Precision is explicit: float64 NumPy input while ``jax_enable_x64`` is off would be computed in
float32; the first such input warns once (:class:`PrecisionWarning`, naming ``mft.configure()``).
"""

import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ParameterError, is_traced

__all__ = [
    "WEIGHT_SUM_ATOL",
    "PrecisionWarning",
    "x64_enabled",
    "default_float",
    "check_precision",
    "reset_precision_warning",
    "as_float",
    "array_field",
    "check_finite",
    "check_weights",
    "check_tokens",
    "check_sizes",
    "check_arrays",
    "as_queries",
    "float_field",
    "check_law",
    "check_heads",
    "check_heads_type",
    "require_arrays",
    "check_forward_inputs",
    "check_data",
]

#: tolerance on the sum of the weights of one context (empirical measures and laws alike).
WEIGHT_SUM_ATOL = 1e-6

_REAL_KINDS = "iuf"
_state = {"warned": False}


class PrecisionWarning(UserWarning):
    """float64 input met while JAX computes in float32 (``mft.configure()`` was not called)."""


def x64_enabled() -> bool:
    """True when JAX computes in float64 (after ``mft.configure()``)."""
    return bool(jax.config.jax_enable_x64)


def default_float():
    """The float dtype of new arrays: float64 after ``mft.configure()``, float32 otherwise."""
    return jnp.float64 if x64_enabled() else jnp.float32


def reset_precision_warning() -> None:
    """Let :func:`check_precision` warn again (it warns once per session)."""
    _state["warned"] = False


def check_precision(where: str, value) -> None:
    """Warn once (:class:`PrecisionWarning`) if ``value`` is float64 host data and x64 is off."""
    if _state["warned"] or x64_enabled():
        return
    dtype = getattr(value, "dtype", None)
    if isinstance(value, np.ndarray | np.generic) and dtype in (np.float64, np.complex128):
        _state["warned"] = True
        warnings.warn(
            f"{where}: float64 input while jax_enable_x64 is off is computed in float32. Call "
            "mft.configure() before building any array (arrays created earlier stay float32; "
            "rebuild them after it).",
            PrecisionWarning,
            stacklevel=_outside_stacklevel(sys._getframe(0)),
        )


def _outside_stacklevel(frame) -> int:
    """The ``stacklevel`` of the first frame outside this package and the libraries that wrap
    its calls (equinox's constructors, jaxtyping's checks): the caller's line."""
    inside = (__name__.split(".")[0], "equinox", "jaxtyping", "beartype", "jax", "typeguard")
    level = 1  # ``frame`` is the one that calls warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in inside:
        frame, level = frame.f_back, level + 1
    return level


def _describe_shape(allowed) -> str:
    return allowed if isinstance(allowed, str) else f"ndim {allowed}"


def as_float(
    value, where: str, name: str, *, ndim=None, allowed: str | None = None, finite: bool = True
):
    """``value`` as a JAX float array, checked: real numbers, rank ``ndim`` (an int or a tuple of
    ints), finite entries (unless ``finite=False``).

    Float arrays keep their dtype; integers and lists of numbers take :func:`default_float`.
    Traced values are returned as they are.

    Raises:
        ParameterError: None, ragged or non-numeric input, a wrong rank, a non-finite entry.
    """
    if is_traced(value):
        return value
    if value is None:
        raise ParameterError(f"{where}: {name} = None; allowed an array of real numbers.")
    check_precision(where, value)
    try:
        host = np.asarray(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{where}: {name} is not a rectangular array of numbers; allowed an array-like "
            "(list of lists, NumPy or JAX array) of one shape."
        ) from None
    if host.dtype.kind not in _REAL_KINDS:
        raise ParameterError(
            f"{where}: {name} has dtype {host.dtype}; allowed real numbers (float or int)."
        )
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims is not None and host.ndim not in ndims:
        text = allowed or f"an array of rank {' or '.join(map(str, ndims))}"
        raise ParameterError(f"{where}: {name} has shape {tuple(host.shape)}; allowed {text}.")
    if finite:
        check_finite(host, where, name)
    if host.dtype.kind == "f":
        return value if isinstance(value, jax.Array) else jnp.asarray(host)
    return jnp.asarray(host, dtype=default_float())


def array_field(value):
    """An ``eqx.field`` converter: array-likes to JAX arrays (ints and lists to the default
    float), leaving JAX arrays, tracers and non-array leaves (None, ``ShapeDtypeStruct``) alone."""
    if isinstance(value, jax.Array) or is_traced(value) or value is None:
        return value
    if isinstance(value, list | tuple | np.ndarray | np.generic | int | float):
        check_precision("array input", value)
        try:
            host = np.asarray(value)
        except (TypeError, ValueError):
            return value  # ragged: left for the module's check to name
        if host.dtype.kind in "iub":
            return jnp.asarray(host, dtype=default_float())
        return jnp.asarray(host) if host.dtype.kind in "f" else value
    return value


def check_finite(value, where: str, name: str) -> None:
    """Raise :class:`ParameterError` at the first non-finite entry of ``value`` (host data)."""
    if is_traced(value) or value is None:
        return
    host = np.asarray(value)
    if host.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(host)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        shown = ", ".join(map(str, index))
        raise ParameterError(
            f"{where}: {name}[{shown}] = {host[index]}; allowed finite numbers "
            f"({int(bad.sum())} of {host.size} entries are not). Remove or replace them."
        )


def check_weights(a, where: str, fix: str = "Normalise the weights.", name: str = "a") -> None:
    r"""Raise unless the weights of every context are ``>= 0``, finite and sum to one.

    .. math::

        a_k \ge 0,\qquad \Big|\sum_k a_k - 1\Big| \le \mathtt{WEIGHT\_SUM\_ATOL}

    Args:
        a: weights float64 array (n,) or (B, n) (host data; skipped while traced).
        where: the caller, first word of the message; fix: the advice that ends it.

    Raises:
        ParameterError: negative or non-finite entries (the first is named), or a row whose sum
            is off one by more than the tolerance (the worst row is named).
    """
    if is_traced(a):
        return
    host = np.asarray(a, dtype=np.float64)
    bad = (host < 0) | ~np.isfinite(host)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ParameterError(
            f"{where}: weights have negative or non-finite entries ({name}"
            f"[{', '.join(map(str, index))}] = {host[index]:.6g}); allowed >= 0. {fix}"
        )
    if host.size == 0:
        raise ParameterError(f"{where}: {name} has no entries; allowed at least one weight.")
    sums = np.atleast_1d(host.sum(axis=-1))
    row = int(np.argmax(np.abs(sums - 1)))
    worst = float(sums[row])
    if abs(worst - 1) > WEIGHT_SUM_ATOL:
        where_row = f" (row {row} of {name})" if host.ndim > 1 else ""
        raise ParameterError(
            f"{where}: weights sum to {worst:.6g}{where_row}; allowed sum 1 "
            f"(± {WEIGHT_SUM_ATOL:g}). {fix}"
        )


def check_tokens(shape, where: str, name: str = "x") -> None:
    r"""Raise unless a batch of contexts (B, n, d) has :math:`B, n, d \ge 1`."""
    for axis, size in zip(("B contexts", "n tokens", "d dimensions"), shape, strict=True):
        if size < 1:
            raise ParameterError(
                f"{where}: {name} has shape {tuple(shape)} ({axis} = 0); allowed at least one "
                f"{axis.split()[1][:-1]} per {'batch' if axis[0] == 'B' else 'context'}."
            )


def check_sizes(where: str, **sizes) -> None:
    """Raise unless every size is a Python (or NumPy) integer >= 1 (booleans refused)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ParameterError(f"{where}: {name} = {value!r}; allowed integer >= 1.")


def check_arrays(where: str, **arrays) -> None:
    """Raise unless each array matches its axes and holds finite values: ``name=(array, "n d")``
    means rank 2 with axes ``n`` and ``d``; a letter has one size >= 1 across all arrays (host
    data; traced values are checked for shapes only).

    >>> check_arrays("Discrete", x=(np.zeros((3, 2)), "n d"), a=(np.ones(3) / 3, "n"))
    """
    for name, (value, spec) in arrays.items():
        if not hasattr(value, "shape") or getattr(value, "dtype", np.dtype("f")).kind not in "iuf":
            shown = "None" if value is None else f"of type {type(value).__name__}"
            raise ParameterError(
                f"{where}: {name} = {shown}; allowed an array of real numbers ({spec})."
            )
    sizes: dict = {}
    ok = True
    for value, spec in arrays.values():
        axes = spec.split()
        ok &= len(value.shape) == len(axes)
        for axis, size in zip(axes, value.shape, strict=False):
            ok &= size >= 1 and sizes.setdefault(axis, size) == size
    if not ok:
        given = ", ".join(f"{f} {tuple(v.shape)}" for f, (v, _) in arrays.items())
        allowed = ", ".join(f"{f} ({', '.join(spec.split())})" for f, (_, spec) in arrays.items())
        raise ParameterError(f"{where}: {given}; allowed {allowed}, every size >= 1.")
    for name, (value, _) in arrays.items():
        check_finite(value, where, name)


def as_queries(q, where: str, d: int):
    """Query points float64 array (d,) or (..., d) as a float array (finite)."""
    q = as_float(q, where, "q")
    if len(q.shape) == 0 or q.shape[-1] != d:
        raise ParameterError(
            f"{where}: q has shape {tuple(q.shape)}; allowed ({d},) or (..., {d})."
        )
    return q


def float_field(value):
    """An ``eqx.field`` converter to the session's float (float64 under ``mft.configure()``);
    float64 NumPy input while float64 is off warns once."""
    check_precision("laws", value)
    try:
        kind = value.dtype.kind if hasattr(value, "dtype") else np.asarray(value).dtype.kind
    except (TypeError, ValueError):
        return value  # left for check_arrays to name
    return jnp.asarray(value, dtype=default_float()) if kind in _REAL_KINDS else value


def check_law(law, where: str) -> None:
    """The values of a law (host data): weights (``a`` or ``weights``) non-negative and summing
    to one, boxes with ``low <= high``, covariances (``Sigma`` or ``covs``) symmetric PSD."""
    weights = getattr(law, "a", getattr(law, "weights", None))
    if weights is not None:
        check_weights(weights, where)
    if hasattr(law, "low") and np.any(np.asarray(law.high) < np.asarray(law.low)):
        raise ParameterError(f"{where}: box with high < low; allowed low <= high on every axis.")
    covs = [law.Sigma] if hasattr(law, "Sigma") else list(getattr(law, "covs", []))
    for S in covs:
        S = np.asarray(S)
        if not np.allclose(S, S.T, atol=1e-12) or np.linalg.eigvalsh(0.5 * (S + S.T))[0] < -1e-12:
            raise ParameterError(f"{where}: covariance is not symmetric PSD; allowed Σ = Σᵀ ⪰ 0.")


def check_heads_type(theta, where: str, kinds) -> None:
    """Raise unless ``theta`` is one of ``kinds`` (head classes)."""
    if not isinstance(theta, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ParameterError(
            f"{where}: theta of type {type(theta).__name__}; allowed {names} (mft.Heads(A, V) "
            "with A, V of shape (L, M, d, d))."
        )


def check_heads(theta, where: str, kinds=None) -> None:
    """Raise unless ``theta`` is one of ``kinds`` (head classes) with finite parameters."""
    if kinds is not None:
        check_heads_type(theta, where, kinds)
    for name in ("A", "V", "A0", "A1", "V0", "V1"):
        if hasattr(theta, name):
            check_finite(getattr(theta, name), where, f"theta.{name}")


def require_arrays(where: str, **values) -> None:
    """Raise unless every value is an array of real numbers (after a module's converters):
    ``Heads(A, V)`` given strings, None or ragged lists names the field instead of failing on
    ``.ndim``."""
    for name, value in values.items():
        dtype = getattr(value, "dtype", None)
        if not hasattr(value, "shape") or dtype is None or np.dtype(dtype).kind not in "iuf":
            shown = "None" if value is None else f"of type {type(value).__name__}"
            raise ParameterError(f"{where}: {name} = {shown}; allowed an array of real numbers.")


def check_forward_inputs(where: str, theta, mu, xi):
    """The inputs of a forward pass: heads (``Heads`` or ``SmoothHeads``), an
    ``EmpiricalMeasure``, and queries ``xi`` (None or a finite array, returned converted).

    Heads' values are not checked here: non-finite heads are the runtime tier's (``SolveFailed``
    naming the first non-finite layer)."""
    from .heads import Heads, SmoothHeads
    from .measures import require_measure

    check_heads_type(theta, where, (Heads, SmoothHeads))
    require_measure(mu, where)
    return (
        None
        if xi is None
        else as_float(xi, where, "xi", ndim=(2, 3), allowed="(B, d) or (B, k, d)")
    )


def check_data(where: str, theta, mu, xi, targets):
    """:func:`check_forward_inputs` plus finite ``targets`` (``T``, ``W``, ``y``) of type
    ``Targets``: what ``train``, ``flow`` and ``risk`` check before tracing (NaN data would
    otherwise surface as a diverged run)."""
    from .risk import Targets

    xi = check_forward_inputs(where, theta, mu, xi)
    if not isinstance(targets, Targets):
        raise ParameterError(
            f"{where}: targets of type {type(targets).__name__}; allowed Targets(T=..., W=..., "
            "y=...)."
        )
    for name in ("T", "W", "y"):
        check_finite(getattr(targets, name), where, f"targets.{name}")
    return xi
