"""Chapter 4 experiments at small size: every check of MATH.md §7 "Chapter 4" passes."""

import jax
import pytest

from mftransformer.experiments import ntk as chapter

KEY = jax.random.key(0)
P = dict(L=2, M=64, sigma_A=1.0, sigma_V=1.0)  # as ci: U4 needs ~100 heads to clear 1e-12


def test_closed_form():
    p = chapter.ClosedFormParams(N=3, n=4, d=2, L=2, M=6, sigma_A=1.0, sigma_V=1.0, scale=0.8)
    result = chapter.closed_form(p, key=KEY)
    result.check.require()
    assert result.error < 1e-12


def test_lse_families():
    result = chapter.lse_families(chapter.LSEFamiliesParams(K=400), key=KEY)
    result.check.require()
    assert result.min_holding > 1e-6 and result.max_failing < 1e-12


def test_model_families():
    p = chapter.ModelFamiliesParams(n_sampled=200, K=400, **P)
    result = chapter.model_families(p, key=KEY)
    result.check.require()
    assert result.uncentred["K_QK"] < 1e-12 < 1e-3 < result.uncentred["K_V"]


def test_scan():
    p = chapter.ScanParams(ts=(0.0, 1e-3, 1e-2, 1e-1), K=400, **P)
    result = chapter.scan(p, key=KEY)
    result.check.require()


def test_empirical_gauss():
    p = chapter.EmpiricalGaussParams(
        sigmas=(0.7, 1.0), ns=(100, 400, 1600, 6400), fit_from=100, seeds=8, K=100
    )
    result = chapter.empirical_gauss(p, key=KEY)
    result.check.require()


def test_mean_field():
    p = chapter.MeanFieldParams(
        N=3, n=4, Ps=(10, 100, 1000), seeds=24, nodes=40, sigma_A=1.0, sigma_V=1.0
    )
    result = chapter.mean_field(p, key=KEY)
    result.check.require()


def test_rank():
    result = chapter.rank(chapter.RankParams(N=8, n=3, Ps=(1, 2, 3)), key=KEY)
    result.check.require()
    assert result.ranks == [4, 8, 8]


@pytest.mark.parametrize("plot", ["plot_lse_families", "plot_rank"])
def test_plots_draw(plot):
    if plot == "plot_rank":
        result = chapter.rank(chapter.RankParams(N=4, n=3, Ps=(1, 2)), key=KEY)
    else:
        result = chapter.lse_families(chapter.LSEFamiliesParams(K=200), key=KEY)
    assert getattr(chapter, plot)(result).axes
