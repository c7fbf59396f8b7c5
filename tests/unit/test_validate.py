"""Unit tests of solver.validate: conversions, dtypes, messages (issue 18)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mftransformer.solver import validate as v
from mftransformer.solver.errors import ParameterError


def test_as_float_converts_once_and_keeps_float_dtypes():
    assert v.as_float([[1, 2]], "f", "x").dtype == jnp.float64
    assert v.as_float(np.arange(3), "f", "x").dtype == jnp.float64
    assert v.as_float(np.zeros(2, np.float32), "f", "x").dtype == jnp.float32
    given = jnp.ones(3)
    assert v.as_float(given, "f", "x") is given


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (None, {}, r"f: x = None; allowed an array of real numbers"),
        ([[1.0], [2.0, 3.0]], {}, r"f: x is not a rectangular array"),
        (np.array(["a"]), {}, r"f: x has dtype <U1; allowed real numbers"),
        (np.array([True]), {}, r"f: x has dtype bool"),
        (np.ones(3), {"ndim": 2}, r"f: x has shape \(3,\); allowed an array of rank 2"),
        (np.ones(3), {"ndim": (2, 3), "allowed": "(n, d)"}, r"allowed \(n, d\)\."),
        ([0.0, np.inf, np.nan], {}, r"f: x\[1\] = inf; allowed finite numbers \(2 of 3"),
    ],
)
def test_as_float_refusals(value, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        v.as_float(value, "f", "x", **kwargs)


def test_non_finite_allowed_on_request():
    assert np.isnan(np.asarray(v.as_float([np.nan], "f", "x", finite=False))).all()


def test_traced_values_pass_unchecked():
    out = jax.jit(lambda x: v.as_float(x, "f", "x") + 1)(jnp.array([np.nan]))
    assert np.isnan(np.asarray(out)).all()
    jax.jit(lambda a: v.check_weights(a, "f") or a)(jnp.ones(2))  # traced: skipped


@pytest.mark.parametrize(
    ("a", "match"),
    [
        ([0.5, -0.5, 1.0], r"w: weights have negative .*\(a\[1\] = -0.5\); allowed >= 0"),
        ([[0.5, 0.5], [0.5, 0.6]], r"w: weights sum to 1.1 \(row 1 of a\); allowed sum 1"),
        ([0.2, 0.2], r"w: weights sum to 0.4; allowed sum 1 \(± 1e-06\)\. Fix\.$"),
        (np.zeros((1, 0)), r"w: a has no entries"),
    ],
)
def test_check_weights_names_the_entry_or_row(a, match):
    with pytest.raises(ParameterError, match=match):
        v.check_weights(a, "w", "Fix.")


def test_check_arrays_names_letters():
    v.check_arrays("L", x=(np.zeros((3, 2)), "n d"), a=(np.ones(3) / 3, "n"))
    with pytest.raises(ParameterError, match=r"L: x \(3, 2\), a \(2,\); allowed x \(n, d\), a"):
        v.check_arrays("L", x=(np.zeros((3, 2)), "n d"), a=(np.ones(2) / 2, "n"))
    with pytest.raises(ParameterError, match=r"L: x = None; allowed an array of real numbers"):
        v.check_arrays("L", x=(None, "n d"))


def test_check_sizes_and_tokens():
    v.check_sizes("s", n=np.int64(3))
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ParameterError, match=r"s: n = .*; allowed integer >= 1"):
            v.check_sizes("s", n=bad)
    with pytest.raises(ParameterError, match=r"t: x has shape \(0, 2, 2\) \(B contexts = 0\)"):
        v.check_tokens((0, 2, 2), "t")


def test_array_field_converts_lists_and_ints_only():
    assert v.array_field([[1, 2]]).dtype == jnp.float64
    assert v.array_field(None) is None
    leaf = jax.ShapeDtypeStruct((2,), jnp.float32)
    assert v.array_field(leaf) is leaf


def test_default_float_follows_configure():
    assert v.x64_enabled() and v.default_float() == jnp.float64
