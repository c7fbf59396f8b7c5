"""Chapter 5 pinned: the decay rate against the NTK prediction, the stall against its plateau.

Both run the chapter's own experiment functions at small size (MATH.md §6, §7 "Chapter 5").
"""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import convergence as chapter

KEY = jax.random.key(1)
RATE_RTOL = chapter.CLAIMS["rate"].band
STALL_RTOL = chapter.CLAIMS["stall_plateau"].band


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("convergence", "ci", {section: overrides}), section)


@pytest.mark.parametrize("L, M", [(2, 16), (4, 8)])
def test_decay_rate_matches_the_ntk_prediction(L, M):
    p = ci("injective", L=L, M=M, steps=600, snapshots=1)
    v = chapter.injective(p, key=KEY).values
    rel = abs(v["rate_fitted"] / v["rate_predicted"] - 1)
    assert rel <= RATE_RTOL, (
        f"fitted rate {v['rate_fitted']:.5f} vs NTK prediction {v['rate_predicted']:.5f}: "
        f"relative error {rel:.3%} > {RATE_RTOL:.0%}"
    )


@pytest.mark.parametrize("family, eps", [("BB", 1e-2), ("CV", 1e-2)])
def test_stall_plateau_matches_its_prediction(family, eps):
    p = ci("stall", family=family, L=2, M=16, eps=eps, steps=400, snapshots=1)
    v = chapter.stall(p, key=KEY).values
    assert v["plateau_dev"] <= STALL_RTOL, (
        f"{family}: plateau off by {v['plateau_dev']:.3%} from (c^T r0)^2/2N = {v['R_inf']:.4e}"
    )
    if family == "BB":
        assert v["R_inf"] == pytest.approx(eps**2 / 20, rel=1e-12)
    assert np.isfinite(v["R_end"])
