"""Sweeps: one chapter's experiment over seeds × sizes, as independent tasks in the results store.

``python -m mftransformer sweep --chapter 03 --params full --experiment meanfield --seeds 8
--vary meanfield.L=[4,8] --executor local|slurm|submitit-local``

A task is one call ``fn(p, key=key)`` of the experiment: the chapter's parameters with the task's
overrides (``seed`` = base seed + ``i`` for ``i < seeds``, one value of each ``--vary``), keyed
by :func:`~mftransformer.companion.results.result_key` of its inputs. :func:`plan` lists them and
:func:`missing` keeps those the store lacks; each runs :func:`run_task`, which takes the result
from the store or computes it, and the experiment's decorator writes it there atomically (the
checksummed entries of :mod:`.results`), so a killed job loses only its own task and a sweep
run again submits only what is missing. The store is the book's, ``book/_build/cache/results``:
what a sweep computed is what ``make book`` reads, for the same code, libraries and platform.

Executors: ``local``, a process pool (``concurrent.futures``, ``--jobs`` workers, spawned);
``slurm``, a SLURM job array by ``submitit`` (extra ``[cluster]``): one GPU per task, requeued
on preemption or timeout (:class:`Task` is a ``submitit.helpers.Checkpointable``: the requeued
task resumes from its checkpoint, the store, where a finished task is found and not recomputed);
``submitit-local``, the same path with submitit's ``LocalExecutor`` (tests, laptops).
"""

import dataclasses
import itertools
import os
import shutil
from pathlib import Path

from ..solver.errors import ParameterError

__all__ = [
    "STORE",
    "EXECUTORS",
    "Task",
    "plan",
    "missing",
    "run_task",
    "run_local",
    "submitit_executor",
    "submit",
    "sweep",
]

#: The book's results store, relative to the checkout.
STORE = Path("book") / "_build" / "cache" / "results"
EXECUTORS = ("local", "slurm", "submitit-local")


def _checkpointable():
    try:
        from submitit.helpers import Checkpointable
    except ImportError:
        return object
    return Checkpointable


@dataclasses.dataclass(frozen=True)
class Task(_checkpointable()):
    """One experiment call: ``chapter.experiment`` with ``params_set`` and ``overrides`` (the
    chapter's, dotted keys), stored under ``key`` in ``store``. Calling it runs
    :func:`run_task`; ``checkpoint()`` (submitit, on preemption) resubmits it unchanged."""

    chapter: str
    experiment: str
    params_set: str
    overrides: tuple  # ((dotted key, value), ...): hashable, picklable
    key: str
    store: str

    def __call__(self) -> str:
        return run_task(self)

    @property
    def label(self) -> str:
        sets = ", ".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.chapter}.{self.experiment}({sets}) [{self.key[:12]}]"


def _resolve(chapter, experiment, params_set, overrides: dict):
    """``(fn, p, key)`` of the experiment with these overrides."""
    from .. import experiments
    from .params import load

    if chapter not in experiments.CHAPTERS:
        raise ParameterError(f"sweep: chapter = {chapter!r}; allowed {list(experiments.CHAPTERS)}.")
    cfg = load(chapter, params_set, overrides)
    sections = [f.name for f in dataclasses.fields(cfg.values) if f.name != "seed"]
    if experiment not in sections:
        raise ParameterError(
            f"sweep: experiment = {experiment!r}; allowed for {chapter}: {', '.join(sections)}."
        )
    fn = getattr(experiments.CHAPTERS[chapter], experiment)
    return fn, getattr(cfg, experiment), cfg.key(experiment)


def plan(
    chapter, experiment, params_set="full", overrides=None, *, seeds=1, vary=None, store=None
) -> list[Task]:
    """Every task of the sweep: seeds ``base .. base + seeds − 1`` × the product of ``vary``
    (``{"meanfield.L": [4, 8]}``), with ``overrides`` (dotted keys of the chapter) fixed.

    Raises:
        ParameterError: unknown chapter, experiment or key, a value out of range (every task's
            parameters are validated before anything runs), ``seeds < 1``.
    """
    from .params import load
    from .results import result_key

    if seeds < 1:
        raise ParameterError(f"sweep: seeds = {seeds}; allowed an integer >= 1.")
    fixed = dict(overrides or {})
    base = load(chapter, params_set, fixed).seed
    names = sorted(vary or {})
    store = str(Path(store or STORE).resolve())
    tasks = []
    for values in itertools.product(*(list((vary or {})[n]) for n in names)):
        for i in range(seeds):
            ov = {**fixed, **dict(zip(names, values, strict=True)), "seed": base + i}
            fn, p, key = _resolve(chapter, experiment, params_set, ov)
            digest = result_key(fn, p, key)
            tasks.append(Task(chapter, experiment, params_set, tuple(ov.items()), digest, store))
    return tasks


def missing(tasks: list[Task]) -> list[Task]:
    """The tasks whose result the store lacks (an unusable entry is discarded, with a warning,
    by :func:`~mftransformer.companion.results.load`, and counts as missing)."""
    from .results import declared_type, load

    out = []
    for t in tasks:
        fn, _, _ = _resolve(t.chapter, t.experiment, t.params_set, dict(t.overrides))
        if load(Path(t.store), t.key, declared_type(fn)) is None:
            out.append(t)
    return out


def run_task(task: Task) -> str:
    """Run one task in this process: ``"cached"`` when the store has it, else ``"done"`` once the
    experiment has computed it and its decorator stored it.

    Raises:
        RuntimeError: the store's key of the computed result differs from the task's (the code
            or the environment changed between planning and running: plan again).
    """
    import mftransformer as mft

    from . import results

    os.environ[results.ENV] = task.store
    mft.configure()
    print(f"sweep: start {task.label} pid={os.getpid()}", flush=True)
    fn, p, key = _resolve(task.chapter, task.experiment, task.params_set, dict(task.overrides))
    if results.result_key(fn, p, key) != task.key:
        raise RuntimeError(f"sweep: {task.label}: the inputs' key changed since it was planned.")
    if results.load(Path(task.store), task.key, results.declared_type(fn)) is not None:
        print(f"sweep: cached {task.label}", flush=True)
        return "cached"
    fn(p, key=key)  # the experiment's decorator stores the result (results.cached_call)
    if not (Path(task.store) / f"{task.key}.pkl").exists():
        raise RuntimeError(f"sweep: {task.label}: computed but not stored in {task.store}.")
    print(f"sweep: done {task.label}", flush=True)
    return "done"


def run_local(tasks: list[Task], jobs: int = 1) -> dict:
    """The tasks in a pool of ``jobs`` spawned processes; ``{label: "done" | "cached" | error}``
    (a failed task is reported, the others still run)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    outcome = {}
    context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        futures = {pool.submit(run_task, t): t for t in tasks}
        for future, t in futures.items():
            try:
                outcome[t.label] = future.result()
            except Exception as exc:  # one task's failure is its own
                outcome[t.label] = f"failed: {exc}"
    return outcome


def submitit_executor(kind: str, folder, *, timeout_min=240, partition=None, gpus=1, **extra):
    """A submitit executor: ``slurm`` (one GPU per task, ``--signal=USR2@90``, requeued on
    preemption or timeout) or ``submitit-local``.

    Raises:
        RuntimeError: submitit is not installed, or ``slurm`` where ``sbatch`` is not on the PATH
            (one message; nothing is submitted).
    """
    try:
        import submitit
    except ImportError:
        raise RuntimeError(
            "sweep: --executor slurm needs submitit: pip install 'mftransformer[cluster]' "
            "(nothing was submitted)."
        ) from None
    if kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=timeout_min)
        return executor
    if shutil.which("sbatch") is None:
        raise RuntimeError(
            "sweep: --executor slurm needs SLURM's sbatch on the PATH (run on a login node of "
            "the cluster; nothing was submitted)."
        )
    executor = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=3)
    params = dict(time=timeout_min, gpus_per_node=gpus, ntasks_per_node=1, cpus_per_task=8)
    executor.update_parameters(**params, **({"partition": partition} if partition else {}), **extra)
    return executor


def submit(executor, tasks: list[Task]) -> list:
    """One job array of ``tasks`` (each task the job's callable, so that submitit checkpoints and
    requeues it); returns the submitit jobs."""
    if not tasks:
        return []
    with executor.batch():
        jobs = [executor.submit(t) for t in tasks]
    return jobs


def sweep(
    chapter,
    experiment,
    params_set="full",
    overrides=None,
    *,
    seeds=1,
    vary=None,
    executor="local",
    jobs=1,
    store=None,
    folder=None,
    wait=None,
    **slurm,
) -> dict:
    """Plan the sweep, run or submit the missing tasks; ``{"planned", "missing", "outcome"}``.

    ``wait`` (default: yes for ``local`` and ``submitit-local``, no for ``slurm``) waits for the
    jobs and reports each task's outcome.
    """
    if executor not in EXECUTORS:
        raise ParameterError(f"sweep: executor = {executor!r}; allowed {', '.join(EXECUTORS)}.")
    if executor != "local":  # fail before planning: nothing submitted without submitit/sbatch
        folder = Path(folder or Path(store or STORE).parent / "sweeps")
        ex = submitit_executor(executor, folder, **slurm)
    tasks = plan(chapter, experiment, params_set, overrides, seeds=seeds, vary=vary, store=store)
    todo = missing(tasks)
    print(f"sweep: {len(tasks)} tasks, {len(todo)} missing from {tasks[0].store}", flush=True)
    if executor == "local":
        return {"planned": tasks, "missing": todo, "outcome": run_local(todo, jobs)}
    jobs_ = submit(ex, todo)
    for job, t in zip(jobs_, todo, strict=True):
        print(f"sweep: submitted {t.label} as job {job.job_id}", flush=True)
    outcome = {}
    if wait if wait is not None else executor == "submitit-local":
        for job, t in zip(jobs_, todo, strict=True):
            try:
                outcome[t.label] = job.result()
            except Exception as exc:  # submitit's FailedJobError: the job's own failure
                outcome[t.label] = f"failed: {str(exc).splitlines()[0]}"
    return {"planned": tasks, "missing": todo, "outcome": outcome, "jobs": jobs_}
