"""Heads and batch sharded over devices (solver/sharding.py).

The several-device checks run in a subprocess with four CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``: the flag must be set before JAX starts),
comparing forward, the COT gradient of every method and ten training steps with the one-device
run of the same process (``mesh="off"``)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest
from jax.sharding import PartitionSpec
from tolerances import SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer.solver.sharding import resolve_mesh

RTOL = SAME_ALGEBRA_RTOL["float64"]

SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp
    import mftransformer as mft
    from mftransformer.solver.sharding import auto_mesh

    mft.configure()
    k = jax.random.split(jax.random.key(0), 6)
    B, n, d, M, L = 4, 6, 2, 8, 3
    theta = mft.Heads(0.5 * jax.random.normal(k[0], (L, M, d, d)),
                      0.5 * jax.random.normal(k[1], (L, M, d, d)))
    a = jnp.ones((B, n)).at[:, 0].set(0.0)
    mu = mft.EmpiricalMeasure(jax.random.normal(k[2], (B, n, d)), a / (n - 1))
    xi = jax.random.normal(k[3], (B, d))
    targets = mft.Targets(T=jax.random.normal(k[4], (B, n, d)), W=jnp.ones((1, d)),
                          y=jax.random.normal(k[5], (B, 1)))
    rel = lambda u, v: float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v)))
    out = {"devices": len(jax.devices())}
    mesh22 = jax.make_mesh((2, 2), ("batch", "heads"))
    for name, mesh in (("auto", None), ("2x2", mesh22)):
        one = mft.forward(theta, mu, xi, mesh="off").z
        out[f"forward/{name}"] = rel(mft.forward(theta, mu, xi, mesh=mesh).z, one)
        for method in ("autodiff", "exact", "continuous"):
            R1, g1 = mft.cot_gradient(theta, mu, xi, targets, method=method, mesh="off")
            R4, g4 = mft.cot_gradient(theta, mu, xi, targets, method=method, mesh=mesh)
            out[f"{method}/{name}"] = max(rel(R4, R1), rel(g4.A, g1.A), rel(g4.V, g1.V))
    h1 = mft.train(theta, mu, xi, targets, eta=0.1, steps=10, mesh="off")
    h4 = mft.train(theta, mu, xi, targets, eta=0.1, steps=10)
    out["train/auto"] = max(rel(h4.R, h1.R), rel(h4.theta.A, h1.theta.A),
                            rel(h4.theta.V, h1.theta.V))
    out["train_sharded_heads"] = str(h4.theta.A.sharding.spec)
    out["auto_mesh"] = dict(auto_mesh(B, M).shape)
    out["auto_mesh_3_devices_M32"] = dict(auto_mesh(4, 32, jax.devices()[:3]).shape)
    bad = jax.make_mesh((1, 3), ("batch", "heads"), devices=jax.devices()[:3])
    try:
        mft.forward(theta, mu, xi, mesh=bad)
    except mft.ParameterError as e:
        out["bad_mesh"] = str(e)
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def four_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    src = str(Path(mft.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_four_devices_equal_one(four_devices):
    assert four_devices["devices"] == 4
    errors = {k: v for k, v in four_devices.items() if "/" in k}
    assert len(errors) == 9 and max(errors.values()) < RTOL, errors


def test_the_automatic_mesh(four_devices):
    assert four_devices["auto_mesh"] == {"batch": 1, "heads": 4}  # heads first: M = 8 | 4
    assert four_devices["train_sharded_heads"] == str(PartitionSpec(None, "heads"))
    # 3 devices, M = 32, B = 4: no factorisation of 3 divides, so 2 devices shard the heads
    assert four_devices["auto_mesh_3_devices_M32"] == {"batch": 1, "heads": 2}


def test_a_mesh_that_does_not_divide_is_named(four_devices):
    message = four_devices["bad_mesh"]
    assert "mesh of 3 devices has batch = 1, heads = 3" in message
    assert "B = 4 contexts and M = 8 heads" in message


def test_one_device_needs_no_mesh():
    if len(jax.devices()) > 1:
        pytest.skip("this process sees several devices")
    assert resolve_mesh(None, 4, 8) is None and resolve_mesh("off", 4, 8) is None


@pytest.mark.parametrize("mesh", ["on", 4])
def test_a_bad_mesh_value_is_refused(mesh):
    with pytest.raises(mft.ParameterError, match=r"forward: mesh = .*; allowed None \(automatic\)"):
        resolve_mesh(mesh, 4, 8)


def test_a_mesh_with_other_axes_is_refused():
    mesh = jax.make_mesh((1,), ("data",))
    with pytest.raises(mft.ParameterError, match=r"mesh has axes \('data',\); allowed axes"):
        resolve_mesh(mesh, 4, 8, "train")
