"""Bad input gets the package's own error (issue 18): random malformed arrays fed to every public
function reachable, and named cases whose messages are matched.

Every call either works or raises :class:`ParameterError`, never another exception type. The
test-time jaxtyping hints are off here (``shape_hints_off``): a user's session has none, and the
hints would answer before the library's own checks. Functions whose validation the lead inserts
(``Heads``, ``forward``'s ``xi``) are reached through the measure constructors, where most inputs
enter; their direct cases are marked until the insert lands.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mftransformer as mft
from mftransformer.solver import laws, lazy, measures, ntk, tasks
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)
MUTATIONS = (
    "nan", "inf", "-inf", "negative", "scale", "add_axis", "drop_axis", "empty", "list", "int",
    "float32", "none", "ragged", "string", "transpose",
)  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def shape_hints_off():
    import jaxtyping

    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", False)


def mutate(value, kind, where):
    """``value`` (a float array) made malformed in one way; ``where`` picks the entry."""
    a = np.array(value, dtype=float)
    flat = a.reshape(-1)
    i = where % max(flat.size, 1)
    if kind in ("nan", "inf", "-inf", "negative") and flat.size:
        flat[i] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(kind, -abs(flat[i]) - 0.5)
        return flat.reshape(a.shape)
    return {
        "scale": lambda: 1.7 * a,
        "add_axis": lambda: a[None],
        "drop_axis": lambda: a.reshape(-1) if a.ndim > 1 else a[0],
        "empty": lambda: a[..., :0],
        "list": lambda: a.tolist(),
        "int": lambda: np.round(a).astype(int),
        "float32": lambda: a.astype(np.float32),
        "none": lambda: None,
        "ragged": lambda: [[1.0, 2.0], [3.0]],
        "string": lambda: np.array([["a", "b"]]),
        "transpose": lambda: a.T,
    }.get(kind, lambda: a)()


def works_or_parameter_error(call):
    try:
        call()
    except ParameterError:
        pass


# ---------------------------------------------------------------- one valid input per target
X = np.array([[0.0, 1.0], [1.0, 0.5], [-0.5, 0.2]])
A = np.array([0.2, 0.3, 0.5])
MU = mft.empirical(np.stack([X, X + 0.1]), np.stack([A, A[::-1]]))
THETA = tasks.silent_init(1, 2, 2, key=KEY)
XI = np.array([[0.5, -0.2], [0.1, 0.3]])
W = np.array([[1.0, 0.5]])
LAW = laws.Discrete(X, A)
K2 = np.array([[2.0, 0.5], [0.5, 1.0]])

TARGETS = {
    "empirical.x": (X, lambda v: mft.empirical(v, A)),
    "empirical.a": (A, lambda v: mft.empirical(X, v)),
    "EmpiricalMeasure.x": (X[None], lambda v: mft.EmpiricalMeasure(v, A[None])),
    "EmpiricalMeasure.a": (A[None], lambda v: mft.EmpiricalMeasure(X[None], v)),
    "Discrete.x": (X, lambda v: laws.laws_of(laws.Discrete(v, A))),
    "Discrete.a": (A, lambda v: laws.laws_of(laws.Discrete(X, v))),
    "Gaussian.m": (np.zeros(2), lambda v: laws.laws_of(laws.Gaussian(v, np.eye(2)))),
    "Gaussian.Sigma": (np.eye(2), lambda v: laws.laws_of(laws.Gaussian(np.zeros(2), v))),
    "Box.high": (np.ones(2), lambda v: laws.laws_of(laws.Box(np.zeros(2), v))),
    "Mixture.weights": (
        np.array([0.4, 0.6]),
        lambda v: laws.laws_of(laws.Mixture(v, np.zeros((2, 1)), np.ones((2, 1, 1)))),
    ),
    "Law.lse.q": (np.array([[0.1, 0.2]]), lambda v: LAW.lse(v)),
    "Law.tilted.q": (np.array([0.1, 0.2]), lambda v: LAW.tilted(v)),
    "dirac.x": (np.array([0.3, 0.1]), lambda v: laws.dirac(v)),
    "sample_gaussian.cov": (np.eye(2), lambda v: mft.sample_gaussian(KEY, 2, 3, 2, cov=v)),
    "sample_gaussian.mean": (np.zeros(2), lambda v: mft.sample_gaussian(KEY, 2, 3, 2, mean=v)),
    "sample_box.low": (np.zeros(2), lambda v: mft.sample_box(KEY, 2, 3, v, np.ones(2))),
    "sample_mixture.weights": (
        np.array([0.5, 0.5]),
        lambda v: mft.sample_mixture(KEY, 2, 3, v, np.zeros((2, 2)), np.stack([np.eye(2)] * 2)),
    ),
    "translate.b": (np.array([1.0, 2.0]), lambda v: measures.translate(MU, v)),
    "readout.W": (W, lambda v: tasks.readout(THETA, MU, XI, v)),
    "small_loss_targets.zeta": (
        np.ones((2, 1)),
        lambda v: tasks.small_loss_targets(THETA, MU, XI, W, eps=0.1, zeta=v),
    ),
    "ntk_silent.xi": (XI, lambda v: ntk.ntk_silent(THETA, MU, v, W)),
    "ntk_silent.W": (W, lambda v: ntk.ntk_silent(THETA, MU, XI, v)),
    "spectrum.K": (K2, lambda v: ntk.spectrum(v)),
    "lazy_prediction.K": (
        K2,
        lambda v: lazy.lazy_prediction(v, np.ones(2), [0.0, 1.0], eta=None, N=2),
    ),
    "lazy_prediction.r0": (np.ones(2), lambda v: lazy.lazy_prediction(K2, v, [0.0], eta=0.1, N=2)),
    "plateau.K": (K2, lambda v: lazy.plateau(v, np.ones(2), N=2)),
    "gd_rate.lam": (np.array([0.5, 1.0]), lambda v: lazy.gd_rate(v, eta=0.1, N=4)),
    "lse_independence.queries": (
        np.random.default_rng(0).standard_normal((40, 2)),
        lambda v: ntk.lse_independence([LAW, laws.dirac([0.1, 0.2])], queries=v),
    ),
    # forward, gradients and training through the public API: the data enter as measures
    "forward(empirical(x))": (X, lambda v: mft.forward(THETA, mft.empirical(v[None], A[None]))),
    "cot_gradient(empirical(a))": (
        A,
        lambda v: mft.cot_gradient(
            THETA, mft.empirical(X, v), XI[:1], mft.Targets(W=W, y=np.zeros((1, 1)))
        ),
    ),
    "train(empirical(x))": (
        X,
        lambda v: mft.train(
            THETA, mft.empirical(v, A), None, mft.Targets(T=np.zeros((1, 3, 2))), eta=0.1, steps=1
        ),
    ),
}


@settings(max_examples=150)
@given(
    target=st.sampled_from(sorted(TARGETS)),
    kind=st.sampled_from(MUTATIONS),
    where=st.integers(0, 50),
)
def test_malformed_arrays_work_or_raise_parameter_error(target, kind, where):
    valid, call = TARGETS[target]
    works_or_parameter_error(lambda: call(mutate(valid, kind, where)))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_target_accepts_its_valid_input(target):
    valid, call = TARGETS[target]
    call(valid)


@pytest.mark.parametrize("kind", MUTATIONS)
def test_every_mutation_of_the_weights(kind):
    for where in (0, 2):
        works_or_parameter_error(lambda: mft.empirical(X, mutate(A, kind, where)))  # noqa: B023


# ---------------------------------------------------------------- named cases, messages matched
NAN_X = np.where(np.arange(6).reshape(3, 2) == 3, np.nan, X)
CASES = {
    "nan atom": (lambda: mft.empirical(NAN_X), r"empirical: x\[1, 1\] = nan; allowed finite"),
    "inf atom": (lambda: mft.empirical(X + np.inf), r"x\[0, 0\] = inf; allowed finite"),
    "int points keep uniform weights": (lambda: mft.empirical([[1, 2], [3, 4]]).a.dtype.kind, None),
    "empty measure": (lambda: mft.empirical(np.zeros((0, 2))), r"n tokens = 0.*at least one token"),
    "empty dimension": (lambda: mft.empirical(np.zeros((3, 0))), r"d dimensions = 0"),
    "negative weight": (lambda: mft.empirical(X, [0.5, -0.2, 0.7]), r"a\[0, 1\] = -0.2"),
    "weights off one": (lambda: mft.empirical(X, [0.5, 0.2, 0.2]), r"weights sum to 0.9"),
    "nan weight": (
        lambda: mft.empirical(X, [np.nan, 0.5, 0.5]),
        r"empirical: a\[0\] = nan; allowed finite",
    ),
    "weights rank 3": (lambda: mft.empirical(X, A[None, None]), r"a has shape \(1, 1, 3\)"),
    "x rank 1": (lambda: mft.empirical(A), r"x has shape \(3,\); allowed \(n, d\)"),
    "x strings": (lambda: mft.empirical(np.array([["a"]])), r"dtype <U1; allowed real numbers"),
    "x ragged": (lambda: mft.empirical([[1.0, 2.0], [3.0]]), r"not a rectangular array"),
    "x None": (lambda: mft.empirical(None), r"x = None; allowed an array"),
    "direct negative": (
        lambda: mft.EmpiricalMeasure(X[None], np.array([[1.2, -0.2, 0.0]])),
        r"EmpiricalMeasure: weights have negative.*a\[0, 1\] = -0.2",
    ),
    "direct row off one": (
        lambda: mft.EmpiricalMeasure(np.stack([X, X]), np.stack([A, 0.5 * A])),
        r"EmpiricalMeasure: weights sum to 0.5 \(row 1 of a\)",
    ),
    "direct nan": (lambda: mft.EmpiricalMeasure(NAN_X[None], A[None]), r"x\[0, 1, 1\] = nan"),
    "direct lists": (lambda: mft.EmpiricalMeasure([[[0.0, 1.0]]], [[1.0]]).x.shape, None),
    "direct shapes": (
        lambda: mft.EmpiricalMeasure(X[None], A[None, :2]),
        r"x has shape \(1, 3, 2\) and a has shape \(1, 2\)",
    ),
    "Discrete nan": (lambda: laws.Discrete(NAN_X, A), r"Discrete: x\[1, 1\] = nan"),
    "Discrete shapes": (lambda: laws.Discrete(X, A[:2]), r"Discrete: x \(3, 2\), a \(2,\)"),
    "Gaussian not PSD": (
        lambda: laws.laws_of(laws.Gaussian([0.0], [[-1.0]])),
        r"input 0: covariance is not symmetric PSD",
    ),
    "Gaussian shapes": (lambda: laws.Gaussian([0.0, 0.0], np.eye(3)), r"allowed m \(d\)"),
    "Box reversed": (lambda: laws.laws_of(laws.Box([1.0], [0.0])), r"box with high < low"),
    "Mixture weights off": (
        lambda: laws.laws_of(laws.Mixture([0.5, 0.6], np.zeros((2, 1)), np.ones((2, 1, 1)))),
        r"weights sum to 1.1",
    ),
    "lse query shape": (lambda: LAW.lse(np.zeros(3)), r"Law.lse: q has shape \(3,\)"),
    "lse query nan": (lambda: LAW.lse([np.nan, 0.0]), r"Law.lse: q\[0\] = nan"),
    "sample size": (lambda: laws.sample(LAW, 0, key=KEY), r"sample: n = 0; allowed integer >= 1"),
    "binomial p": (lambda: laws.binomial(2, 1.5), r"binomial: p = 1.5; allowed 0 < p < 1"),
    "sample_cloud B": (lambda: mft.sample_cloud(KEY, 0, 3, 2), r"sample_cloud: B = 0"),
    "sample_gaussian cov": (
        lambda: mft.sample_gaussian(KEY, 1, 3, 2, cov=np.eye(3)),
        r"cov has shape \(3, 3\); allowed \(2, 2\)",
    ),
    "sample_box reversed": (lambda: mft.sample_box(KEY, 1, 3, [1.0], [0.0]), r"low <= high"),
    "sample_mixture weights": (
        lambda: mft.sample_mixture(KEY, 1, 3, [0.5, 0.4], np.zeros((2, 1)), np.ones((2, 1, 1))),
        r"sample_mixture: weights sum to 0.9",
    ),
    "translate shape": (lambda: measures.translate(MU, [1.0, 2.0, 3.0]), r"b has shape \(3,\)"),
    "pad n": (lambda: measures.pad(MU, 1.5), r"pad: n = 1.5"),
    "family name": (lambda: mft.families.family(["BB"], key=KEY), r"family: name = \['BB'\]"),
    "clouds n": (lambda: mft.families.clouds(2, 0, key=KEY), r"clouds: n = 0"),
    "generic_init M": (lambda: tasks.generic_init(1, 0, 2, key=KEY), r"generic_init: M = 0"),
    "generic_init sigma": (
        lambda: tasks.generic_init(1, 2, 2, key=KEY, sigma_A=float("nan")),
        r"sigma_A = nan; allowed a finite float >= 0",
    ),
    "silent_init odd M": (lambda: tasks.silent_init(1, 3, 2, key=KEY), r"M = 3; allowed even M"),
    "readout W nan": (
        lambda: tasks.readout(THETA, MU, XI, [[np.nan, 1.0]]),
        r"readout: W\[0, 0\] = nan",
    ),
    "readout mu type": (lambda: tasks.readout(THETA, X, XI, W), r"mu of type ndarray"),
    "readout theta type": (lambda: tasks.readout(X, MU, XI, W), r"theta of type ndarray"),
    "zeta nan": (
        lambda: tasks.small_loss_targets(THETA, MU, XI, W, eps=0.1, zeta=[[np.nan], [0.0]]),
        r"zeta\[0, 0\] = nan",
    ),
    "teacher scale": (
        lambda: tasks.teacher_student(MU, XI, W, L=1, M=4, key=KEY, delta=0.1, scale=-1.0),
        r"scale = -1.0; allowed a finite float >= 0",
    ),
    "HeadMixture lists": (
        lambda: tasks.HeadMixture([[[0.0]]], [[[np.nan]]], 1.0),
        r"HeadMixture: V_bar\[0, 0, 0\] = nan",
    ),
    "ntk_jacobian nan xi": (
        lambda: ntk.ntk_jacobian(THETA, MU, np.where(XI > 0.4, np.nan, XI), W),
        r"ntk_jacobian: xi\[0, 0\] = nan",
    ),
    "ntk_jacobian nan theta": (
        lambda: ntk.ntk_jacobian(mft.Heads(THETA.A * jnp.nan, THETA.V), MU, XI, W),
        r"ntk_jacobian: theta.A\[0, 0, 0, 0\] = nan",
    ),
    "ntk_jacobian mu type": (lambda: ntk.ntk_jacobian(THETA, [LAW], XI, W), r"mu of type list"),
    "ntk_silent W inf": (lambda: ntk.ntk_silent(THETA, MU, XI, W * np.inf), r"W\[0, 0\] = inf"),
    "ntk_infinite_width nodes": (
        lambda: ntk.ntk_infinite_width(MU, XI[0], W, sigma_A=1.0, sigma_V=1.0, nodes=0),
        r"nodes = 0; allowed integer >= 1",
    ),
    "spectrum not square": (lambda: ntk.spectrum(np.ones((2, 3))), r"spectrum: K has shape"),
    "spectrum nan": (lambda: ntk.spectrum(K2 * np.nan), r"spectrum: K\[0, 0\] = nan"),
    "lse queries nan": (
        lambda: ntk.lse_independence(
            [LAW, laws.dirac([0.1, 0.2])], queries=np.full((40, 2), np.nan)
        ),
        r"lse_independence: queries\[0, 0\] = nan",
    ),
    "lse K": (lambda: ntk.lse_independence([LAW], K=0, key=KEY), r"lse_independence: K = 0"),
    "lse scale": (
        lambda: ntk.lse_independence([LAW], scale=-1.0, key=KEY),
        r"scale = -1.0; allowed a finite number > 0",
    ),
    "lazy r0 nan": (
        lambda: lazy.lazy_prediction(K2, [np.nan, 0.0], [0.0], eta=None, N=2),
        r"lazy_prediction: r0\[0\] = nan",
    ),
    "lazy N": (lambda: lazy.gd_rate(0.5, eta=0.1, N=0), r"gd_rate: N = 0; allowed integer >= 1"),
    "lazy eta": (lambda: lazy.gd_rate(0.5, eta=-0.1, N=2), r"gd_rate: eta = -0.1"),
    "plateau shapes": (lambda: lazy.plateau(K2, np.ones(3), N=2), r"plateau: K has shape \(2, 2\)"),
    "forward via nan measure": (
        lambda: mft.forward(THETA, mft.empirical(NAN_X)),
        r"empirical: x\[1, 1\] = nan",
    ),
    "train via bad weights": (
        lambda: mft.train(
            THETA, mft.empirical(X, 2 * A), None, mft.Targets(T=X[None]), eta=0.1, steps=1
        ),
        r"empirical: weights sum to 2",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_case(name):
    call, match = CASES[name]
    if match is None:  # a case that must now work
        call()
        return
    with pytest.raises(ParameterError, match=match):
        call()


def test_integer_points_get_float_uniform_weights():
    mu = mft.empirical([[1, 2], [3, 4]])
    assert mu.a.dtype.kind == "f" and mu.x.dtype.kind == "f"
    np.testing.assert_allclose(np.asarray(mu.a), [[0.5, 0.5]])


def test_the_cases_are_many():
    assert len(CASES) + len(TARGETS) + len(MUTATIONS) >= 40


def test_heads_from_lists_work():
    theta = mft.Heads(np.asarray(THETA.A).tolist(), np.asarray(THETA.V).tolist())
    assert theta.L == 1


def test_forward_refuses_nan_queries():
    with pytest.raises(ParameterError, match=r"forward: xi\[0, 0\] = nan"):
        mft.forward(THETA, MU, np.where(XI > 0.4, np.nan, XI))


# ---------------------------------------------------------------- checkpointed runs
def _problem():
    mu = mft.empirical(X, A)
    return THETA, mu, None, mft.Targets(T=np.asarray(mu.x) + 0.1)


def test_checkpoint_in_a_missing_folder_is_named(tmp_path):
    theta, mu, xi, targets = _problem()
    path = tmp_path / "nowhere" / "run.npz"
    with pytest.raises(ParameterError, match=r"folder '.*nowhere' does not exist"):
        mft.train_chunked(theta, mu, xi, targets, eta=0.1, steps=2, chunk=2, checkpoint=path)


def test_refused_checkpoint_names_the_parameter_that_differs(tmp_path):
    theta, mu, xi, targets = _problem()
    path = tmp_path / "run.npz"
    run = {"steps": 2, "chunk": 2, "checkpoint": path, "method": "autodiff"}
    mft.train_chunked(theta, mu, xi, targets, eta=0.1, **run)
    with pytest.raises(ParameterError, match=r"eta = 0.1 \(saved\) ≠ 0.2 \(now\)"):
        mft.train_chunked(theta, mu, xi, targets, eta=0.2, **run)
    moved = mft.Targets(T=np.asarray(targets.T) + 1.0)
    with pytest.raises(ParameterError, match=r"other parameters: targets.T = float64\[1, 3, 2\]"):
        mft.train_chunked(theta, mu, xi, moved, eta=0.1, **run)


def test_train_refuses_nan_data_up_front():
    mu = mft.empirical(X, A)
    bad = mft.Targets(T=np.where(np.asarray(mu.x) > 0.9, np.nan, np.asarray(mu.x)))
    with pytest.raises(ParameterError, match=r"train: targets.T\[0, 0, 1\] = nan"):
        mft.train(THETA, mu, None, bad, eta=0.1, steps=1)
    with pytest.raises(ParameterError, match=r"flow: xi\[0, 0\] = nan"):
        mft.flow(THETA, mu, [[np.nan, 0.0]], mft.Targets(W=W, y=[[0.0]]), T=0.1)
    with pytest.raises(ParameterError, match=r"risk: targets of type dict"):
        mft.risk(THETA, mu, None, {"T": X})


def test_heads_and_targets_refuse_non_arrays():
    with pytest.raises(ParameterError, match=r"Heads: A = None; allowed an array"):
        mft.Heads(None, THETA.V)
    with pytest.raises(ParameterError, match=r"Heads: A = of type str"):
        mft.Heads("A", THETA.V)
    assert mft.Targets(T=[[[1, 2]]]).T.dtype == np.float64
