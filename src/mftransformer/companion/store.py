"""Checkpointed training runs: gradient descent in chunks, saved after each, resumable.

The mathematics is :func:`mftransformer.solver.gradflow.train`; this module adds what touches
files: the run's hash, the state file (written by :func:`~.files.atomic_write`, so a reader sees
the previous state or the new one, never half of one) and the progress bar. A resumed run ends
bit-identical to an uninterrupted one.
"""

import hashlib
import io
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..solver.adjoint import GRADIENT_METHODS, Targets
from ..solver.attention import Heads
from ..solver.errors import ParameterError, check_choice, check_positive, check_steps
from ..solver.gradflow import DEFAULT_METHOD, TrainingHistory, train
from ..solver.measures import EmpiricalMeasure, require_measure
from ..solver.types import Array, Float
from ..solver.validate import check_heads
from .files import atomic_write

__all__ = ["train_chunked", "run_hash", "run_fields"]


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
    fields = _check_inputs(theta0, mu, xi, targets, path, settings)
    resume = path is not None and path.exists()
    state = _load_state(path, digest, steps, fields) if resume else _first_state(theta0)
    run = {"eta": eta, "method": method, "scheme": scheme, "snapshot_every": inner}
    sizes, ids = (steps, chunk, snapshot_every), (digest, fields)
    state = _run_chunks(state, (mu, xi, targets), run, *sizes, progress, path, ids)
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


def run_fields(theta0, mu, xi, targets, **settings) -> dict:
    """What :func:`run_hash` hashes, one entry per input: a short hash with the shape and dtype
    of each array (``None`` where absent) and the value of each setting; a refused checkpoint
    names the entries that differ."""
    arrays = {"theta0.A": theta0.A, "theta0.V": theta0.V, "mu.x": mu.x, "mu.a": mu.a, "xi": xi}
    arrays |= {"targets.T": targets.T, "targets.W": targets.W, "targets.y": targets.y}
    out = {name: None if a is None else _array_id(a) for name, a in arrays.items()}
    return out | {name: repr(value) for name, value in sorted(settings.items())}


# ---------------------------------------------------------------- private
def _array_id(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    return f"{a.dtype}{list(a.shape)} #{hashlib.sha256(a.tobytes()).hexdigest()[:12]}"


def _check_inputs(theta0, mu, xi, targets, path, settings) -> str:
    """Check the heads, the measure and the checkpoint's folder; the run's fields as JSON."""
    check_heads(theta0, "train_chunked", (Heads,))
    require_measure(mu, "train_chunked")
    if path is not None and not path.parent.is_dir():
        raise ParameterError(
            f"train_chunked: checkpoint = {str(path)!r}; allowed a file in an existing folder "
            f"(folder {str(path.parent)!r} does not exist). Create the folder first."
        )
    return "" if path is None else json.dumps(run_fields(theta0, mu, xi, targets, **settings))


def _differences(saved_fields: str, fields: str) -> str:
    """``name: saved ≠ now`` for each entry of :func:`run_fields` that differs."""
    try:
        saved, now = json.loads(saved_fields), json.loads(fields)
    except ValueError:
        return ""
    diff = [
        f"{k} = {saved.get(k)} (saved) ≠ {now.get(k)} (now)" for k in now if saved.get(k) != now[k]
    ]
    return "; ".join(diff)


def _run_chunks(state, data, run, steps, chunk, snapshot_every, progress, path, ids):
    """Advance ``state`` chunk by chunk to ``steps`` (or the first bad step), saving each."""
    from tqdm import tqdm  # plain text bars: tqdm.auto warns inside notebooks without ipywidgets

    disable = not progress or bool(os.environ.get("TQDM_DISABLE"))
    with tqdm(total=steps, initial=state["k"], disable=disable, desc="train", unit="step") as bar:
        while state["k"] < steps and state["first_bad"] < 0:
            theta = Heads(jnp.asarray(state["A"]), jnp.asarray(state["V"]))
            part = train(theta, *data, steps=chunk, throw=False, **run)
            state = _extend_state(state, part, chunk, snapshot_every or steps)
            if path is not None:
                _save_state(path, state, *ids)
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


def _save_state(path, state, digest, fields=""):
    buffer = io.BytesIO()
    arrays = {k: np.asarray(v) for k, v in state.items()}
    np.savez(buffer, digest=np.array(digest), fields=np.array(fields), **arrays)
    atomic_write(path, buffer.getvalue())


def _load_state(path, digest, steps, fields=""):
    try:
        with np.load(path) as f:
            saved = str(f["digest"])
            saved_fields = str(f["fields"]) if "fields" in f.files else ""
            state = {k: f[k] for k in f.files if k not in ("digest", "fields")}
    except Exception as exc:  # a truncated or foreign file
        raise ParameterError(
            f"train_chunked: checkpoint {path} is unreadable ({exc}); delete it to start afresh."
        ) from None
    if saved != digest:
        differ = _differences(saved_fields, fields)
        differ = f": {differ}" if differ else f" (hash {saved[:12]} ≠ {digest[:12]})"
        raise ParameterError(
            f"train_chunked: checkpoint {path} was written for other parameters{differ}; delete "
            "it or choose another checkpoint path."
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
