"""Chapter 4 experiments at small size: every check of MATH.md §7 "Chapter 4" passes."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import ntk as chapter
from mftransformer.solver import families as fam

KEY = jax.random.key(0)
# model_families and scan keep the ci network (L = 2, M = 64): U4 needs ~100 heads to clear 1e-12


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("ntk", "ci", {section: overrides}), section)


def test_closed_form():
    p = ci("closed_form", N=3, n=4, L=2, M=6)
    result = chapter.closed_form(p, key=KEY)
    result.check.require()
    assert result.error < chapter.CLAIMS["ntk_closed_form"].band


def test_lse_families():
    result = chapter.lse_families(ci("lse_families", K=400), key=KEY)
    result.check.require()
    assert result.min_holding > 1e-6 and result.max_failing < 1e-12


def test_model_families():
    p = ci("model_families", n_sampled=200, K=400)
    result = chapter.model_families(p, key=KEY)
    result.check.require()
    qk, v = (chapter.CLAIMS[f"translates_uncentred_{b}"].band for b in ("qk", "v"))
    assert result.uncentred["K_QK"] < qk < v < result.uncentred["K_V"]
    # three verdicts, the same on both sides, on every family and key
    assert result.agree == result.total == p.keys * (len(fam.FAMILIES) + 1)
    tn = result.rows["TN"]
    assert tn["lse_verdict"] == tn["ntk_verdict"] == "ill-conditioned"
    assert len(result.relation) == p.keys
    table = chapter.verdict_table(result)
    assert table.count("\n") == len(result.names) + 1 and "| TN | ill-conditioned |" in table


def test_scan():
    p = ci("scan", ts=(0.0, 1e-8, 1e-3, 1e-2, 1e-1), K=400)
    result = chapter.scan(p, key=KEY)
    result.check.require()
    assert result.check["scan_agree"].measured == p.keys * len(p.ts)


def test_empirical_gauss():
    p = ci("empirical_gauss", ns=(100, 400, 1600, 6400), seeds=8, K=100)
    result = chapter.empirical_gauss(p, key=KEY)
    result.check.require()


def test_mean_field():
    p = ci("mean_field", N=3, n=4, Ps=(10, 100, 1000), seeds=24, nodes=40)
    result = chapter.mean_field(p, key=KEY)
    result.check.require()


def test_rank():
    result = chapter.rank(ci("rank", N=8, n=3, Ps=(1, 2, 3)), key=KEY)
    result.check.require()
    assert result.ranks == [4, 8, 8]


@pytest.mark.parametrize("plot", ["plot_lse_families", "plot_rank"])
def test_plots_draw(plot):
    if plot == "plot_rank":
        result = chapter.rank(ci("rank", N=4, n=3, Ps=(1, 2)), key=KEY)
    else:
        result = chapter.lse_families(ci("lse_families", K=200), key=KEY)
    assert getattr(chapter, plot)(result).axes
