"""The network three ways, on the same inputs: the package (public API only), plain JAX, PyTorch.

One Euler layer (MATH.md §2), the ``n`` atoms and the query attending to the ``n`` atoms:

.. math::

    z^{\\ell+1}_k = z^\\ell_k + \\frac{1}{LM} \\sum_m V_m \\sum_j w_{mkj} z^\\ell_j,\\qquad
    w_{mkj} = \\mathrm{softmax}_j(\\langle A_m z^\\ell_k, z^\\ell_j\\rangle + \\log a_j),

and the risk of task T + C (MATH.md §1.5). ``plain_*`` is what a JAX user writes first (a Python
loop over layers, ``vmap`` over heads, ``jax.grad``, no checkpointing; jitted, since an unjitted
loop would only measure dispatch); ``torch_*`` is PyTorch eager with autograd. The package's
gradient is the COT gradient ``L M ∇_θ R``; the others' ``∇_θ R`` is scaled by ``L M`` before
they are compared.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

import mftransformer as mft

#: The sizes of the issue: small, the ``ci`` size of chapter 2 (``adjoint.agreement``), and S2.
SIZES = {
    "small": {"B": 2, "n": 8, "d": 2, "M": 2, "L": 4},
    "ci": {"B": 3, "n": 7, "d": 2, "M": 4, "L": 6},
    "S2": {"B": 32, "n": 64, "d": 4, "M": 32, "L": 32},
}


def ci_size() -> dict:
    """``(B, n, d, M, L)`` of chapter 2's ``adjoint.agreement`` in ``notebooks/params/ci.yaml``
    (``N`` contexts is ``B``); :data:`SIZES` ``["ci"]`` is checked against it by the tests."""
    p = mft.params.load("adjoint", "ci").agreement
    return {"B": p.N, "n": p.n, "d": p.d, "M": p.M, "L": p.L}


# ---------------------------------------------------------------- inputs
def instance(B, n, d, M, L, *, dtype=jnp.float64, seed=0, scale=0.5):
    """Numpy arrays ``x (B,n,d)``, ``a (B,n)`` (Dirichlet, all positive), ``xi (B,d)``, heads
    ``A, V ~ scale·N(0,1)/√d`` ``(L,M,d,d)``, targets ``T (B,n,d)``, ``W (1,d)``, ``y (B,1)``."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x": rng.standard_normal((B, n, d)),
        "a": rng.dirichlet(np.ones(n), B),
        "xi": rng.standard_normal((B, d)),
        "A": scale * rng.standard_normal((L, M, d, d)) / math.sqrt(d),
        "V": scale * rng.standard_normal((L, M, d, d)) / math.sqrt(d),
        "T": rng.standard_normal((B, n, d)),
        "W": rng.standard_normal((1, d)),
        "y": rng.standard_normal((B, 1)),
    }
    return {k: v.astype(np.dtype(dtype)) for k, v in arrays.items()}


def jax_inputs(arrays):
    """``(theta, mu, xi, targets)`` for the package."""
    j = {k: jnp.asarray(v) for k, v in arrays.items()}
    theta = mft.Heads(j["A"], j["V"])
    mu = mft.empirical(j["x"], j["a"])
    return theta, mu, j["xi"], mft.Targets(T=j["T"], W=j["W"], y=j["y"])


# ---------------------------------------------------------------- the package
def mft_programs():
    """Jitted ``forward`` (final states) and ``forward+gradient`` (risk and COT gradient) of the
    package, each ``(theta, mu, xi, targets) -> pytree``; the gradient both by ``jax.grad``
    through the checkpointed scan (``autodiff``, the default) and by the discrete adjoint
    (``exact``)."""
    return {
        "forward": jax.jit(lambda th, mu, xi, tg: mft.forward(th, mu, xi).z),
        "autodiff": jax.jit(lambda th, mu, xi, tg: mft.cot_gradient(th, mu, xi, tg)),
        "exact": jax.jit(lambda th, mu, xi, tg: mft.cot_gradient(th, mu, xi, tg, method="exact")),
    }


def mft_grad_arrays(out):
    R, g = out
    return float(R), np.asarray(g.A), np.asarray(g.V)


# ---------------------------------------------------------------- plain JAX
def plain_states(A, V, x, a, xi):
    """The network as a JAX user writes it: loop over layers, ``vmap`` over heads."""
    L, M = A.shape[:2]
    n = x.shape[1]
    loga = jnp.log(a)
    z = jnp.concatenate([x, xi[:, None, :]], axis=1)

    def one_head(Am, Vm, z):  # (a three-operand einsum here measured 2x slower)
        keys = z[:, :n]
        q = z @ Am.T
        w = jax.nn.softmax(q @ keys.transpose(0, 2, 1) + loga[:, None, :], axis=-1)
        return (w @ keys) @ Vm.T

    for l in range(L):
        heads = jax.vmap(one_head, in_axes=(0, 0, None))(A[l], V[l], z)
        z = z + heads.mean(0) / L
    return z


def plain_risk(A, V, x, a, xi, T, W, y):
    n = x.shape[1]
    z = plain_states(A, V, x, a, xi)
    B = x.shape[0]
    task_t = 0.5 * jnp.sum(a * jnp.sum((z[:, :n] - T) ** 2, axis=-1)) / B
    r = z[:, n] @ W.T - y
    return task_t + 0.5 * jnp.sum(r**2) / B


def plain_programs():
    grad = jax.jit(jax.value_and_grad(plain_risk, argnums=(0, 1)))
    return {
        "forward": jax.jit(lambda A, V, x, a, xi, T, W, y: plain_states(A, V, x, a, xi)),
        "gradient": grad,
    }


def plain_args(arrays):
    return tuple(jnp.asarray(arrays[k]) for k in ("A", "V", "x", "a", "xi", "T", "W", "y"))


def plain_grad_arrays(out, L, M):
    R, (gA, gV) = out
    return float(R), L * M * np.asarray(gA), L * M * np.asarray(gV)


# ---------------------------------------------------------------- PyTorch
def torch_module():
    """``torch`` or ``None`` (with the reason printed) when it is not installed."""
    try:
        import torch
    except ImportError:
        print(
            "PyTorch is not installed: the PyTorch comparison is skipped "
            "(pip install -e '.[bench]' installs the pinned CPU build)."
        )
        return None
    return torch


def torch_states(torch, A, V, x, a, xi):
    L, M = A.shape[:2]
    n = x.shape[1]
    loga = torch.log(a)[:, None, None, :]  # (B, 1, 1, n)
    z = torch.cat([x, xi[:, None, :]], dim=1)
    for l in range(L):
        keys = z[:, :n]
        q = torch.einsum("mij,bkj->bmki", A[l], z)  # A_m z_k
        w = torch.softmax(q @ keys.transpose(1, 2)[:, None] + loga, dim=-1)  # (B, M, k, n)
        m = w @ keys[:, None]  # (B, M, k, d)
        z = z + torch.einsum("mij,bmkj->bki", V[l], m) / (L * M)
    return z


def torch_risk(torch, A, V, x, a, xi, T, W, y):
    n = x.shape[1]
    B = x.shape[0]
    z = torch_states(torch, A, V, x, a, xi)
    task_t = 0.5 * torch.sum(a * torch.sum((z[:, :n] - T) ** 2, dim=-1)) / B
    r = z[:, n] @ W.T - y
    return task_t + 0.5 * torch.sum(r**2) / B


def torch_programs(torch, arrays):
    """Zero-argument callables: forward (no graph kept) and forward+gradient (autograd)."""
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}

    def forward():
        with torch.no_grad():
            return torch_states(torch, t["A"], t["V"], t["x"], t["a"], t["xi"])

    def gradient():
        A = t["A"].clone().requires_grad_(True)
        V = t["V"].clone().requires_grad_(True)
        R = torch_risk(torch, A, V, t["x"], t["a"], t["xi"], t["T"], t["W"], t["y"])
        gA, gV = torch.autograd.grad(R, (A, V))
        return R.detach(), gA, gV

    return {"forward": forward, "gradient": gradient}


def torch_grad_arrays(out, L, M):
    R, gA, gV = out
    return float(R), L * M * gA.numpy(), L * M * gV.numpy()


# ---------------------------------------------------------------- agreement
def max_rel(a, b) -> float:
    """``max |a − b| / max |b|`` (one number for a whole array)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def grad_agreement(ours, theirs) -> float:
    """Largest relative difference of ``(R, gA, gV)`` triples."""
    return max(max_rel(o, t) for o, t in zip(ours, theirs, strict=True))
