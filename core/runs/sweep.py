"""Running a sweep: every (point, seed, mode) of a SweepSpec, in parallel, one result row per run.

``run_sweep(spec)`` trains every run of a ``core.runs.sweep_spec.SweepSpec`` and returns a
DataFrame of final metrics. Runs that share shapes go to a worker together and train as one batch
(core.engine.batched); a run's numbers do not depend on its batch, its worker or the backend, so
the same sweep gives the same table on loky and on Dask.

Backends:
* ``loky`` (default): local processes through joblib; workers x torch threads never exceed the cores.
* ``dask``: the Dask scheduler at ``scheduler`` (this project's code is shipped to it, failures are
  reported: core.runs.cluster), or a LocalCluster on the loopback started for this sweep.
* any other joblib backend name, e.g. ``ray`` after ``ray.util.joblib.register_ray()``
  (docs/cluster.md; not tested here).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from ..engine.config import Config
from ..engine.metrics import METRICS
from .cluster import ClusterError, dask_client, run_tasks
from .sweep_spec import SweepSpec, device_type, sweep_points
from .sweep_task import run_task

CSV_DECIMALS = 6  # identical CSVs across backends and thread counts: float noise sits far below this
MAX_BATCH = {"cpu": 8, "cuda": 256}  # a GPU wants big batches; on a CPU small ones also stream results sooner

__all__ = ["ClusterError", "run_sweep", "sweep_csv", "plan_workers", "make_tasks", "CSV_DECIMALS"]


# ---- planning: workers, threads, batches -----------------------------------------------------


def plan_workers(n_runs: int, base: Config, backend: str, jobs: int | None, remote: bool = False) -> tuple[int, int]:
    """(workers, torch threads per worker) with workers * threads <= cores on this machine.

    On a remote Dask cluster the cores are not ours to count: one torch thread per task
    (a Dask worker runs as many tasks as it has threads) unless the config sets threads.
    """
    from joblib import cpu_count

    cores = max(1, cpu_count())
    if remote:
        return jobs or cores, base.threads or 1
    if base.threads > 0:
        threads = min(base.threads, cores)
        return max(1, min(jobs or cores, cores // threads, n_runs)), threads
    if jobs:
        workers = max(1, min(jobs, cores, n_runs))
    elif device_type(base) == "cuda":
        workers = 1  # one process feeds the GPU with big batches
    else:
        workers = max(1, min(cores, n_runs))
    return workers, max(1, cores // workers)


def make_tasks(items: Sequence[tuple[Config, str]], workers: int, batch: int | None = None) -> list[list[int]]:
    """Indices of runs grouped into tasks: batchable runs of one shape share a task.

    A group's indices are dealt out with a stride, so the first tasks to finish already
    cover the whole grid coarsely (a phase diagram fills in everywhere at once).
    """
    from ..engine.batched import batch_key
    from ..engine.resources import estimate_memory, memory_budget, resolve_device

    groups: dict = {}
    for index, (cfg, mode) in enumerate(items):
        key = batch_key(cfg, mode)
        groups.setdefault(("alone", index) if key is None else key, []).append(index)
    tasks = []
    for key, indices in groups.items():
        if key[0] == "alone":
            tasks.append(indices)
            continue
        cfg = items[indices[0]][0]
        device = resolve_device(cfg.device)
        size = batch or min(MAX_BATCH[device.type], _cpu_stack(cfg, device), math.ceil(len(indices) / (2 * workers)))
        fits = memory_budget(device) // max(1, workers * estimate_memory(cfg, device))
        size = max(1, min(size, fits))
        count = math.ceil(len(indices) / size)
        tasks += [indices[j::count] for j in range(count)]
    return sorted(tasks, key=lambda t: t[0])


def _cpu_stack(cfg: Config, device) -> int:
    """Runs worth stacking on a CPU: as many as share one cache-sized chunk of a training step.

    Measured (bench/bench_sweep.py): when one run's step already fills the chunk (classroom
    size), stacking gains nothing and costs cache locality (~10 % slower under load); for
    small runs (n_train=30) it saves ~15 % of per-step overhead.
    """
    from ..engine.batched import CPU_BUDGET

    if device.type != "cpu":
        return MAX_BATCH[device.type]
    return max(1, CPU_BUDGET // (cfg.n_train * cfg.P * max(cfg.k * cfg.m, cfg.d)))


class _StopSignal:
    """Polls should_stop in a thread (the parent may be blocked waiting for a result) and, when
    it says stop, creates the flag file that workers check."""

    def __init__(self, should_stop: Callable[[], bool] | None):
        self.should_stop = should_stop
        self.folder = tempfile.mkdtemp(prefix="sweep-stop-")
        self.path = os.path.join(self.folder, "stop")
        self.event = threading.Event()
        self._closed = threading.Event()
        if should_stop is not None:
            threading.Thread(target=self._watch, daemon=True, name="sweep-stop").start()

    def _watch(self):
        while not self._closed.wait(0.1):
            if self.poll():
                return

    def poll(self) -> bool:
        if not self.event.is_set() and self.should_stop is not None and self.should_stop():
            self.event.set()
            Path(self.path).touch()
        return self.event.is_set()

    def close(self):
        self._closed.set()
        shutil.rmtree(self.folder, ignore_errors=True)


# ---- the sweep ----------------------------------------------------------------------------------


def _row(point: dict, seed: int, mode: str, payload: dict) -> dict:
    final = payload["history"][-1] if payload["history"] else {}
    row = {**point, "seed": seed, "mode": mode}
    row.update({name: final.get(name, math.nan) for name in METRICS})
    pts = payload.get("phase_transition_step")
    row["phase_transition_step"] = math.nan if pts is None else pts
    row["status"] = payload["status"]
    return row


def run_sweep(
    spec: SweepSpec,
    *,
    backend: str = "loky",
    scheduler: str | None = None,
    jobs: int | None = None,
    callback: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    store=None,
    batch: int | None = None,
    preset: str | None = None,
    on_task: Callable[[str, int], None] | None = None,
):
    """Train every run of the sweep; return a DataFrame, one row per (point, seed, mode).

    callback(row) hears each run as it finishes (rows arrive out of order); on_task(worker, runs)
    hears which worker finished each task (Dask workers by name; "this machine" otherwise).
    should_stop is polled between and, through a flag file or a Dask event, within points; a
    stopped sweep ends its workers' tasks and returns the rows finished so far. With a store (a
    RunStore or a path), every run is recorded there from this process, as it finishes, and the
    rows get a run_id. A cluster that fails raises ClusterError (one line: the cause, and how many
    runs finished), whose ``frame`` holds the finished rows; they are in the store too.
    """
    import pandas as pd

    runs = sweep_points(spec)
    workers, threads = plan_workers(len(runs), spec.base, backend, jobs,
                                    remote=backend == "dask" and scheduler is not None)
    tasks = [[(i, runs[i][3], runs[i][2]) for i in task]
             for task in make_tasks([(cfg, mode) for _, _, mode, cfg in runs], workers, batch)]
    recorder = _Recorder(store, runs, preset) if store is not None else None
    signal = _StopSignal(should_stop)
    rows: dict[int, dict] = {}
    columns = [*spec.fields, "seed", "mode", *METRICS, "phase_transition_step", "status"]
    columns += ["run_id"] if recorder is not None else []

    def take(finished: list[tuple[int, dict]]) -> None:
        for index, payload in finished:
            point, seed, mode, _ = runs[index]
            rows[index] = _row(point, seed, mode, payload)
            if recorder is not None:
                rows[index]["run_id"] = recorder.record(index, payload)
            if callback is not None:
                callback(dict(rows[index]))
        if on_task is not None and finished:
            on_task(finished[0][1].get("worker") or "this machine", len(finished))

    try:
        if backend == "dask":
            with dask_client(scheduler, workers) as client:
                run_tasks(client, [(task, threads, None) for task in tasks], on_result=take, should_stop=signal.poll)
        else:
            _run_joblib(backend, tasks, workers, threads, signal, take)
    except ClusterError as err:
        err.frame = pd.DataFrame([rows[i] for i in sorted(rows)], columns=columns)
        err.args = (f"{err.args[0]}; {len(rows)} of {len(runs)} runs finished",)
        raise
    finally:
        signal.close()
        if recorder is not None:
            recorder.cancel_rest(rows)
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=columns)


def _run_joblib(backend: str, tasks: list, workers: int, threads: int, signal: _StopSignal, take) -> None:
    """loky (or any joblib backend): results stream back as tasks finish; a stop aborts joblib,
    and loky kills its workers."""
    from joblib import Parallel, delayed, parallel_config

    options = {"inner_max_num_threads": threads} if backend == "loky" else {}
    with parallel_config(backend=backend, **options):
        results = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1)(
            delayed(run_task)(task, threads, signal.path) for task in tasks
        )
        try:
            for finished in results:
                take(finished)
                if signal.poll():
                    break
        finally:
            with warnings.catch_warnings():  # joblib warns that tasks were cancelled: that was the point
                warnings.simplefilter("ignore", UserWarning)
                results.close()  # on a break: joblib aborts, and loky kills its workers


class _Recorder:
    """Writes runs into the run store from the parent process only (one SQLite writer)."""

    def __init__(self, store, runs, preset):
        from .store import RunStore

        self.store = store if isinstance(store, RunStore) else RunStore(store)
        pairs = {}
        self.ids = []
        for point, seed, mode, cfg in runs:  # std and adv of one point and seed are twins
            pair = pairs.setdefault((tuple(point.items()), seed), uuid.uuid4().hex[:12])
            self.ids.append(self.store.create_run(cfg, mode, pair_id=pair, preset=preset, client_id="sweep"))

    def record(self, index: int, payload: dict) -> str:
        run_id = self.ids[index]
        self.store.start_run(run_id, payload["device"])
        if payload["history"]:
            self.store.log_batch(run_id, rows=payload["history"], step=payload["history"][-1]["step"],
                                 snapshots=[(payload["history"][-1]["step"], payload["weights"])])
        self.store.finish_run(run_id, payload["status"], payload["reason"])
        return run_id

    def cancel_rest(self, done: dict):
        for index, run_id in enumerate(self.ids):
            if index not in done:
                self.store.finish_run(run_id, "cancelled", "the sweep was stopped before this run finished",
                                      only_if_active=True)


def sweep_csv(frame, path=None) -> str:
    """The CSV of a sweep table, metrics rounded to CSV_DECIMALS; written to path if given."""
    text = frame.round(CSV_DECIMALS).to_csv(index=False)
    if path is not None:
        Path(path).write_text(text)
    return text
