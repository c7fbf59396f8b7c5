"""Rates and ratios of chapter 4 on independent keys, via the chapter's own experiments: each
passes on the median of its keys with every key inside the claim's key band, on the book's
root key and on another one, with no expected failures."""

import dataclasses

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import ntk as chapter

ROOTS = {"book": None, "other": jax.random.key(11)}


def _run(section, root):
    cfg = mft.params.load("ntk", "ci")
    key = cfg.key(section) if root is None else root
    return getattr(chapter, section)(getattr(cfg, section), key=key), getattr(cfg, section)


def _robust(result, name, keys):
    """The check passes, and so do its median and each of its keys, recomputed from the line."""
    check = result.check if getattr(result.check, "name", None) == name else result.check[name]
    claim = chapter.CLAIMS[name]
    values = np.asarray(check.keys, float)
    assert check.passed, str(check)
    assert values.size == keys, (name, values)
    assert claim.check(float(np.median(values))).passed, str(check)
    each = dataclasses.replace(
        claim, band=claim.band if claim.key_band is None else claim.key_band, key_band=None
    )
    assert all(each.check(v).passed for v in values), (name, values)


@pytest.mark.slow
@pytest.mark.parametrize("root", ROOTS, ids=list(ROOTS))
def test_sampled_gaussians_fall_like_n_to_minus_half(root):
    result, p = _run("empirical_gauss", ROOTS[root])
    for name in ("empirical_gauss", "empirical_gauss_decreasing"):
        _robust(result, name, p.keys)


@pytest.mark.slow
@pytest.mark.parametrize("root", ROOTS, ids=list(ROOTS))
def test_kernel_of_P_pairs_approaches_the_mean_field_at_P_to_minus_half(root):
    result, p = _run("mean_field", ROOTS[root])
    _robust(result, "ntk_mc_rate", p.keys)


@pytest.mark.slow
@pytest.mark.parametrize("root", ROOTS, ids=list(ROOTS))
def test_scan_slopes_and_verdicts(root):
    result, p = _run("scan", ROOTS[root])
    for name in ("scan_together", "scan_features"):
        _robust(result, name, p.keys)
    assert result.check["scan_agree"].passed, str(result.check["scan_agree"])


@pytest.mark.slow
@pytest.mark.parametrize("root", ROOTS, ids=list(ROOTS))
def test_families_agree_and_ratios_are_related(root):
    result, p = _run("model_families", ROOTS[root])
    for name in ("translates_uncentred_v", "lse_ntk_relation"):
        _robust(result, name, p.keys)
    assert result.agree == result.total, (result.agree, result.total)
