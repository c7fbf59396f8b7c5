"""Checkpointed training runs: gradient descent in chunks, saved after each, resumable.

The mathematics is :func:`mftransformer.solver.gradflow.train`; this module adds what touches
files: the run's hash, the state file (written by :func:`~.files.atomic_write`, so a reader sees
the previous state or the new one, never half of one) and the progress bar. A resumed run ends
bit-identical to an uninterrupted one.
"""

import hashlib
import io
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..solver.adjoint import GRADIENT_METHODS, Targets
from ..solver.attention import Heads
from ..solver.errors import ParameterError, check_choice, check_positive, check_steps
from ..solver.gradflow import DEFAULT_METHOD, TrainingHistory, train
from ..solver.measures import EmpiricalMeasure
from ..solver.types import Array, Float
from .files import atomic_write

__all__ = ["train_chunked", "run_hash"]


def train_chunked(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    chunk: int,
    checkpoint: str | os.PathLike | None = None,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    tag: str = "",
    progress: bool = False,
) -> TrainingHistory:
    """Gradient descent in chunks of :func:`~mftransformer.solver.gradflow.train`, optionally
    saving the state after each chunk.

    Every chunk reuses one compiled ``train`` (``steps = chunk``), so runs of different lengths
    compile once. With ``checkpoint``, the state (heads, step, history so far) is written to
    ``checkpoint`` atomically, with :func:`run_hash` of everything that determines the
    trajectory. If the file exists it is resumed from. ``steps`` is not hashed, so a finished
    run can be extended. Progress shows with tqdm when ``progress`` is true and ``TQDM_DISABLE``
    is unset.

    Args:
        chunk: steps per chunk (divides ``steps``).
        snapshot_every: keep the heads every this many steps: a divisor or a multiple of
            ``chunk`` that divides ``steps``; None keeps the first and last only.
        checkpoint: path of the ``.npz`` state file, or None (no file).
        tag: extra text hashed with the run (e.g. a parameter-set hash).
        theta0, mu, xi, targets, eta, steps, method, scheme: as in ``train``.

    Raises:
        ParameterError: bad sizes or step; a checkpoint written for other parameters or
            unreadable; one beyond ``steps``.
        SolveFailed: the risk became non-finite (names the step; the state up to it is saved).
    """
    settings = {"eta": eta, "chunk": chunk, "snapshot_every": snapshot_every}
    settings |= {"method": method, "scheme": scheme, "tag": tag}
    _check_chunking(steps, chunk, snapshot_every, eta, method)
    inner = snapshot_every if snapshot_every is not None and chunk % snapshot_every == 0 else None
    path = None if checkpoint is None else Path(checkpoint)
    digest = "" if path is None else run_hash(theta0, mu, xi, targets, **settings)
    resume = path is not None and path.exists()
    state = _load_state(path, digest, steps) if resume else _first_state(theta0)
    run = {"eta": eta, "method": method, "scheme": scheme, "snapshot_every": inner}
    state = _run_chunks(
        state, (mu, xi, targets), run, steps, chunk, snapshot_every, progress, path, digest
    )
    return _history_from_state(state, eta).raise_if_diverged("train_chunked", eta)


def run_hash(theta0, mu, xi, targets, **settings) -> str:
    """SHA-256 of the arrays and settings that determine a training trajectory."""
    h = hashlib.sha256()
    arrays = [theta0.A, theta0.V, mu.x, mu.a, xi, targets.T, targets.W, targets.y]
    for a in arrays:
        if a is None:
            h.update(b"none")
        else:
            a = np.asarray(a)
            h.update(str((a.shape, str(a.dtype))).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(sorted(settings.items())).encode())
    return h.hexdigest()


# ---------------------------------------------------------------- private
def _run_chunks(state, data, run, steps, chunk, snapshot_every, progress, path, digest):
    """Advance ``state`` chunk by chunk to ``steps`` (or the first bad step), saving each."""
    from tqdm import tqdm  # plain text bars: tqdm.auto warns inside notebooks without ipywidgets

    disable = not progress or bool(os.environ.get("TQDM_DISABLE"))
    with tqdm(total=steps, initial=state["k"], disable=disable, desc="train", unit="step") as bar:
        while state["k"] < steps and state["first_bad"] < 0:
            theta = Heads(jnp.asarray(state["A"]), jnp.asarray(state["V"]))
            part = train(theta, *data, steps=chunk, throw=False, **run)
            state = _extend_state(state, part, chunk, snapshot_every or steps)
            if path is not None:
                _save_state(path, state, digest)
            bar.update(chunk)
    return state


def _check_chunking(steps, chunk, snapshot_every, eta, method):
    check_positive("train_chunked", "eta", eta)
    check_steps("train_chunked", steps, chunk, name="chunk")
    if snapshot_every is not None:
        check_steps("train_chunked", steps, snapshot_every)
        if chunk % snapshot_every and snapshot_every % chunk:
            raise ParameterError(
                f"train_chunked: snapshot_every = {snapshot_every}; allowed a divisor or a "
                f"multiple of chunk = {chunk}."
            )
    check_choice("train_chunked", "method", method, GRADIENT_METHODS)


def _first_state(theta0):
    A, V = np.asarray(theta0.A), np.asarray(theta0.V)
    empty = np.zeros((0,), A.dtype)
    return {
        "A": A,
        "V": V,
        "k": 0,
        "first_bad": -1,
        "R": empty,
        "g2": empty,
        "R_last": empty,
        "g2_last": empty,
        "snapA": A[None],
        "snapV": V[None],
        "snapk": np.zeros((1,), np.int64),
    }


def _extend_state(state, part, chunk, snapshot_every):
    k0 = state["k"]
    bad = int(part.first_bad_step)
    every = chunk // (part.snapshot_t.shape[0] - 1)
    snap_k = k0 + every * np.arange(1, part.snapshot_t.shape[0])
    keep = 1 + np.flatnonzero(snap_k % snapshot_every == 0)
    return {
        "A": np.asarray(part.theta.A),
        "V": np.asarray(part.theta.V),
        "k": k0 + chunk,
        "first_bad": (k0 + bad) if bad >= 0 else -1,
        # each chunk's last entry is the next chunk's first (same heads): keep it once
        "R": np.concatenate([state["R"], np.asarray(part.R[:-1])]),
        "g2": np.concatenate([state["g2"], np.asarray(part.g2[:-1])]),
        "R_last": np.asarray(part.R[-1:]),
        "g2_last": np.asarray(part.g2[-1:]),
        "snapA": np.concatenate([state["snapA"], np.asarray(part.snapshots.A)[keep]]),
        "snapV": np.concatenate([state["snapV"], np.asarray(part.snapshots.V)[keep]]),
        "snapk": np.concatenate([state["snapk"], snap_k[keep - 1]]),
    }


def _save_state(path, state, digest):
    buffer = io.BytesIO()
    np.savez(buffer, digest=np.array(digest), **{k: np.asarray(v) for k, v in state.items()})
    atomic_write(path, buffer.getvalue())


def _load_state(path, digest, steps):
    try:
        with np.load(path) as f:
            saved = str(f["digest"])
            state = {k: f[k] for k in f.files if k != "digest"}
    except Exception as exc:  # a truncated or foreign file
        raise ParameterError(
            f"train_chunked: checkpoint {path} is unreadable ({exc}); delete it to start afresh."
        ) from None
    if saved != digest:
        raise ParameterError(
            f"train_chunked: checkpoint {path} was written for other parameters (hash "
            f"{saved[:12]} ≠ {digest[:12]}); delete it or choose another checkpoint path."
        )
    state["k"], state["first_bad"] = int(state["k"]), int(state["first_bad"])
    if state["k"] > steps:
        raise ParameterError(
            f"train_chunked: steps = {steps}; allowed >= {state['k']}, the "
            f"step already saved in {path}."
        )
    return state


def _history_from_state(state, eta):
    theta = Heads(jnp.asarray(state["A"]), jnp.asarray(state["V"]))
    k = state["k"]
    # unflatten, not Heads(...): the snapshot axis makes A, V 5-dimensional
    snaps = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(theta),
        [jnp.asarray(state["snapA"]), jnp.asarray(state["snapV"])],
    )
    return TrainingHistory(
        theta,
        jnp.asarray(eta * np.arange(k + 1)),
        jnp.asarray(np.concatenate([state["R"], state["R_last"]])),
        jnp.asarray(np.concatenate([state["g2"], state["g2_last"]])),
        snaps,
        jnp.asarray(eta * state["snapk"]),
        jnp.asarray(state["first_bad"]),
    )
