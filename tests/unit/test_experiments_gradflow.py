"""Chapter 3's experiments at small size: each check of MATH.md §7 "Chapter 3" holds."""

import jax
import pytest

from mftransformer.experiments import gradflow as chapter

KEY = jax.random.key(0)


@pytest.mark.slow
def test_energy_small():
    p = chapter.EnergyParams(
        d=2, n=4, N=3, L=2, M=8, sigma=1.0, T=1.0, etas=(0.02, 0.01, 0.005, 0.0025), rtol=1e-8
    )
    result = chapter.energy(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_training(result), chapter.plot_energy(result)


@pytest.mark.slow
def test_meanfield_small():
    p = chapter.MeanfieldParams(
        d=2,
        n=4,
        N=4,
        L=2,
        Ms=(8, 32, 128, 512),
        seeds=4,
        sigma=1.0,
        noise=0.3,
        eta=0.05,
        steps=200,
        snapshots=5,
    )
    result = chapter.meanfield(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_meanfield(result), chapter.plot_heads(result)


@pytest.mark.slow
def test_depth_small():
    p = chapter.DepthParams(d=2, n=4, N=3, M=4, scale=0.8, Ls=(4, 8, 16, 32), eta=0.05, steps=100)
    result = chapter.depth(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_depth(result)


def test_stability_small():
    p = chapter.StabilityParams(
        d=2, n=4, N=3, L=2, M=8, sigma=1.0, deltas=(1e-2, 1e-3, 1e-4), eta=0.02, steps=250
    )
    result = chapter.stability(p, key=KEY)
    print(result.check)
    result.check.require()
    chapter.plot_stability(result)


def test_energy_rejects_incommensurate_steps():
    p = chapter.EnergyParams(d=2, n=4, N=3, L=2, M=8, sigma=1.0, T=1.0, etas=(0.03,), rtol=1e-8)
    with pytest.raises(ValueError, match="T/eta = 33.3333; needs an integer multiple of 50"):
        chapter.energy(p, key=KEY)
