"""LSE test against the theory on every family of chapter 4 (three verdicts), and the NTK
verdict beside it."""

import jax
import numpy as np
import pytest
from tolerances import LSE_DEPENDENT_BELOW, LSE_INDEPENDENT_ABOVE

from mftransformer import families as fam
from mftransformer import ntk
from mftransformer.solver.tasks import silent_init

KEY = jax.random.key(0)


@pytest.mark.parametrize("name", fam.FAMILIES)
def test_lse_verdict_matches_theory(name):
    family = fam.family(name, key=KEY)
    for modulo, expected in (("affine", family.affine), ("constant", family.constant)):
        report = ntk.lse_independence(family.laws, K=600, key=jax.random.key(1), modulo=modulo)
        where = f"{name} mod {modulo}: {report.ratio:.2e}"
        if expected == "dependent":
            assert report.ratio < LSE_DEPENDENT_BELOW, where
        elif expected == "independent":
            assert report.ratio > LSE_INDEPENDENT_ABOVE, where
        else:  # ill-conditioned: between the thresholds, with a decade to spare on either side
            assert 10 * LSE_DEPENDENT_BELOW < report.ratio < LSE_INDEPENDENT_ABOVE / 10, where
        assert report.verdict == expected, where
    if family.null is not None:
        c, c_pred = report_affine(family).null, np.asarray(family.null, float)
        cos = abs(c @ c_pred) / np.linalg.norm(c_pred)
        assert cos > 1 - 1e-8, f"{name}: null vector {c} vs predicted {c_pred}"


def report_affine(family):
    return ntk.lse_independence(family.laws, K=600, key=jax.random.key(1))


def test_centring_does_not_change_the_affine_verdict():
    laws = fam.family("T", key=KEY).laws
    plain = ntk.lse_independence(laws, K=600, key=jax.random.key(1))
    centred = ntk.lse_independence(laws, K=600, key=jax.random.key(1), centre=True)
    assert plain.verdict == centred.verdict == "dependent"
    # centred translates coincide: dependent even modulo constants
    const = ntk.lse_independence(laws, K=600, key=jax.random.key(1), centre=True, modulo="constant")
    assert const.ratio < LSE_DEPENDENT_BELOW


def test_diracs_have_affine_columns():
    report = ntk.lse_independence(fam.family("DD", key=KEY).laws, K=600, key=jax.random.key(1))
    assert report.verdict == "dependent" and report.ratio == 0.0
    assert np.all(report.residuals < LSE_DEPENDENT_BELOW)


@pytest.mark.parametrize("name", fam.FAMILIES)
def test_kernel_verdict_matches_the_lse_verdict(name):
    # Result 4: the kernel's feature ratio takes the LSE test's three-valued verdict
    laws = [law.centred() for law in fam.family(name, key=KEY).laws]
    d = laws[0].d
    theta = silent_init(2, 64, d, key=jax.random.key(2))
    xi = np.broadcast_to(np.array([1.0, 0.5])[:d], (len(laws), d))
    W = np.array([[1.0, -0.5][:d]])
    ratio = ntk.feature_ratio(*ntk.silent_features(theta, laws, xi, W))
    assert ntk.verdict(ratio) == fam.family(name, key=KEY).affine, f"{name}: {ratio:.2e}"
