"""Sweeps (mftransformer.companion.sweep): tasks keyed by their inputs, a killed job loses only
itself and is resumed, bad entries are recomputed, a missing cluster engine submits nothing."""

import os
import signal
import time
import warnings

import numpy as np
import pytest

import mftransformer as mft
from mftransformer.companion import results, sweep
from mftransformer.companion.cache import CacheWarning
from mftransformer.companion.cli import main
from mftransformer.solver.errors import ParameterError

mft.configure()
# forward.trajectories at ci with a longer network: a few seconds per task
OVERRIDES = {"trajectories.L": 256, "trajectories.n": 64}


def _plan(store, seeds=2):
    return sweep.plan("forward", "trajectories", "ci", OVERRIDES, seeds=seeds, store=store)


def test_tasks_are_keyed_by_their_inputs(tmp_path):
    tasks = _plan(tmp_path)
    assert [dict(t.overrides)["seed"] for t in tasks] == [0, 1]
    assert len({t.key for t in tasks}) == 2
    assert [t.key for t in _plan(tmp_path)] == [t.key for t in tasks]  # deterministic
    varied = sweep.plan(
        "forward",
        "trajectories",
        "ci",
        OVERRIDES,
        seeds=1,
        vary={"trajectories.M": [2, 4]},
        store=tmp_path,
    )
    assert [dict(t.overrides)["trajectories.M"] for t in varied] == [2, 4]
    assert varied[0].key == tasks[0].key  # M = 2 is the ci value: the same inputs, the same key
    assert sweep.missing(tasks) == tasks


def test_bad_input_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ParameterError, match="allowed for forward"):
        sweep.plan("forward", "trajectory", "ci", store=tmp_path)
    with pytest.raises(ParameterError):
        sweep.plan("forward", "trajectories", "ci", {"trajectories.L": 0}, store=tmp_path)
    with pytest.raises(ParameterError, match="seeds"):
        sweep.plan("forward", "trajectories", "ci", seeds=0, store=tmp_path)


def test_an_entry_of_another_type_or_shape_is_discarded(tmp_path):
    (task,) = _plan(tmp_path, seeds=1)
    results.save(tmp_path, task.key, {"not": "a result"})  # right checksum, wrong type
    with pytest.warns(CacheWarning, match="TrajectoriesResult is expected"):
        assert sweep.missing([task]) == [task]
    assert not (tmp_path / f"{task.key}.pkl").exists()
    results.save(tmp_path, "k", {"z": np.zeros((3, 2))})
    manifest = tmp_path / "k.json"
    manifest.write_text(manifest.read_text().replace("[3, 2]", "[4, 2]"))  # another shape
    with pytest.warns(CacheWarning, match="shapes differ"):
        assert results.load(tmp_path, "k") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results.save(tmp_path, "k", {"z": np.zeros((3, 2))})
        assert results.load(tmp_path, "k")["z"].shape == (3, 2)


def test_slurm_without_sbatch_submits_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("submitit", reason="submitit (extra [cluster]) is not installed")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="sbatch"):
        sweep.sweep("forward", "trajectories", "ci", executor="slurm", store=tmp_path / "s")
    code = main(
        [
            "sweep",
            "--chapter",
            "01",
            "--params",
            "ci",
            "--experiment",
            "trajectories",
            "--executor",
            "slurm",
            "--store",
            str(tmp_path / "s"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "nothing was submitted" in err[0]
    assert not (tmp_path / "s").exists() and not (tmp_path / "sweeps").exists()


def test_slurm_without_submitit_submits_nothing(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    with pytest.raises(RuntimeError, match=r"mftransformer\[cluster\]"):
        sweep.sweep("forward", "trajectories", "ci", executor="slurm", store=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def _wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _pid_of(job):
    """The task's process id, which run_task prints first (``sweep: start ... pid=N``)."""
    try:
        text = job.paths.stdout.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("sweep: start") and "pid=" in line:
            return int(line.rsplit("pid=", 1)[1])
    return None


def test_a_killed_task_loses_only_itself_and_resumes(tmp_path):
    """Two tasks as a submitit job array (LocalExecutor); the second task's process is killed
    while it runs; the sweep run again finds the first stored (not recomputed) and completes
    the second."""
    pytest.importorskip("submitit", reason="submitit (extra [cluster]) is not installed")
    store, folder = tmp_path / "results", tmp_path / "jobs"
    first, second = tasks = _plan(store)
    executor = sweep.submitit_executor("submitit-local", folder, timeout_min=10)
    job_a, job_b = sweep.submit(executor, tasks)
    assert _wait_for(lambda: _pid_of(job_b) is not None, 60), job_b.paths.stdout
    os.kill(_pid_of(job_b), signal.SIGKILL)  # the node dies under the task
    assert job_a.result() == "done"
    assert _wait_for(job_b.done, 30)
    assert not (store / f"{second.key}.pkl").exists(), "killed too late: it had finished"
    stamp = (store / f"{first.key}.pkl").stat().st_mtime_ns

    assert sweep.missing(_plan(store)) == [second]
    (job,) = sweep.submit(executor, sweep.missing(_plan(store)))
    assert job.result() == "done"
    assert sweep.missing(_plan(store)) == []
    assert (store / f"{first.key}.pkl").stat().st_mtime_ns == stamp  # not recomputed
    assert isinstance(results.load(store, second.key), mft.experiments.forward.TrajectoriesResult)


def test_process_pool_finds_stored_tasks(tmp_path, monkeypatch):
    """The local executor's pool: a task already stored is taken from the store, not recomputed."""
    (task,) = sweep.plan("forward", "trajectories", "ci", seeds=1, store=tmp_path)
    monkeypatch.setenv(results.ENV, str(tmp_path))
    assert sweep.run_task(task) == "done"  # computed here, stored
    assert sweep.run_local([task], jobs=1) == {task.label: "cached"}
