"""Chapter 5 pinned: the decay rate against the NTK prediction, the stall against its plateau,
on several independent keys (the median in the claim's band, every key in its key band).

Both run the chapter's own experiment functions at small size (the chapter's "Exponential
decay" and "Stall" sections).
"""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import convergence as chapter
from mftransformer.experiments.convergence import setting
from mftransformer.solver import gradflow, ntk
from mftransformer.solver.lazy import lazy_prediction

KEY = jax.random.key(1)
RATE = chapter.CLAIMS["rate"]
STALL = chapter.CLAIMS["stall_plateau"]


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("convergence", "ci", {section: overrides}), section)


# L M = 128 split two ways (the chapter's size). At L M = 32 ((2, 16), (4, 8)) one of the five
# draws of this key has no fit window before T and another is 10 % off: with fewer heads the
# kernel moves more (the chapter's width_depth section follows the rate in L M).
@pytest.mark.parametrize("L, M", [(4, 32), (8, 16)])
def test_decay_rate_matches_the_ntk_prediction_on_every_key(L, M):
    p = ci("injective", L=L, M=M, keys=5, snapshots=1)
    r = chapter.injective(p, key=KEY)
    ratio = r.values["rate_ratio"]
    assert np.all(np.isfinite(ratio)), f"a key without a fit window before T: {ratio}"
    assert abs(np.median(ratio) - 1) <= RATE.band, f"median fitted/predicted rate {ratio}"
    assert np.all(np.abs(ratio - 1) <= RATE.key_band), f"fitted/predicted rate per key {ratio}"
    assert r.check["rate"].passed, str(r.check["rate"])


@pytest.mark.parametrize("family, eps", [("BB", 1e-2), ("CV", 1e-2)])
def test_stall_plateau_matches_its_prediction_on_every_key(family, eps):
    p = ci("stall", family=family, keys=5, L=2, M=16, eps=eps, steps=400, snapshots=1)
    v = chapter.stall(p, key=KEY).values
    assert np.all(v["plateau_dev"] <= STALL.band), (
        f"{family}: plateau off by {v['plateau_dev']} from (c^T r0)^2/2N = {v['R_inf']}"
    )
    if family == "BB":
        np.testing.assert_allclose(v["R_inf"], eps**2 / 20, rtol=1e-12)
    assert np.all(np.isfinite(v["R_end"]))


def test_lazy_deviation_does_not_come_from_the_step_size():
    """The lazy prediction carries the exact gradient-descent factor of each mode, so the
    deviation max_{t <= 60} |R/R_lin - 1| is the same at the design step eta = 0.02 as at the
    chapter's eta = 0.5 (it is the kernel's drift, not the step): within a tenth of itself."""
    p = ci("injective")
    mu, xi, W, theta0, targets = setting.task(p, KEY, p.eps)
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    r0 = setting.residual(theta0, mu, xi, targets)
    devs = []
    for eta in (0.02, 0.5):
        h = gradflow.train(theta0, mu, xi, targets, eta=eta, steps=round(60 / eta))
        t, R = np.asarray(h.t), np.asarray(h.R)
        devs.append(np.max(np.abs(R / lazy_prediction(K0, r0, t, eta=eta, N=p.N) - 1)))
    assert devs[1] == pytest.approx(devs[0], rel=0.1), f"lazy deviation at eta 0.02, 0.5: {devs}"
