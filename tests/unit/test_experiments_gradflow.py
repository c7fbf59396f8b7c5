"""Chapter 3's experiments at small size: each check of MATH.md §7 "Chapter 3" holds."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import gradflow as chapter
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("gradflow", "ci", {section: overrides}), section)


@pytest.mark.slow
def test_energy_small():
    p = ci("energy", n=4, N=3, L=2, M=8, T=1.0, etas=(0.02, 0.01, 0.005, 0.0025))
    result = chapter.energy(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_training(result), chapter.plot_energy(result)


@pytest.mark.slow
def test_meanfield_small():
    p = ci("meanfield", n=4, N=4, L=2, steps=200)
    result = chapter.meanfield(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_meanfield(result), chapter.plot_heads(result)


@pytest.mark.slow
def test_depth_small():
    p = ci("depth", n=4, N=3, M=4, Ls=(4, 8, 16, 32), steps=100)
    result = chapter.depth(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_depth(result)


def test_stability_small():
    p = ci("stability", n=4, N=3, L=2, M=8, steps=250)
    result = chapter.stability(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_stability(result)


def test_energy_refuses_incommensurate_steps_before_running():
    with pytest.raises(
        ParameterError, match=r"etas = \[0.03\]; allowed steps with T/eta an integer"
    ):
        ci("energy", n=4, N=3, L=2, M=8, T=1.0, etas=(0.03,))
