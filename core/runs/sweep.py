"""Running a sweep: every (point, seed, mode) of a SweepSpec, in parallel, one result row per run.

``run_sweep(spec)`` trains every run of a ``core.runs.sweep_spec.SweepSpec`` and returns a
DataFrame of final metrics. Runs that share shapes go to a worker together and train as one batch
(core.engine.batched); a run's numbers do not depend on its batch, its worker or the backend, so
the same sweep gives the same table on loky and on Dask.

Backends:
* ``loky`` (default): local processes through joblib; workers x torch threads never exceed the cores.
* ``dask``: the Dask scheduler at ``scheduler`` (this project's code is shipped to it, failures are
  reported: core.runs.cluster), or a LocalCluster on the loopback started for this sweep.
* ``inline``: in this process, one task after the other (a job worker's sweep: core/runs/jobs.py).
* any other joblib backend name, e.g. ``ray`` after ``ray.util.joblib.register_ray()``
  (docs/cluster.md; not tested here).

With a store, every run is written there as it finishes, under a sweep row (a run of mode ``sweep``
whose step counts the runs done): nothing is written for a run before it ends, so a stopped sweep
leaves its finished runs and nothing else (runs cut short by the stop are not written).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from ..engine.metrics import METRICS
from .cluster import ClusterError, dask_client, run_tasks
from .sweep_plan import make_tasks, plan_workers
from .sweep_spec import SweepSpec, sweep_points
from .sweep_task import run_task

CSV_DECIMALS = 6  # identical CSVs across backends and thread counts: float noise sits far below this

__all__ = ["ClusterError", "run_sweep", "sweep_csv", "sweep_frame", "plan_workers", "make_tasks", "CSV_DECIMALS"]
ROW_ARTIFACT = "sweep_row"  # each run of a stored sweep keeps its table row, so the sweep's table reads back


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
    sweep_id: str | None = None,
    client_id: str | None = None,
    threads: int | None = None,
):
    """Train every run of the sweep; return a DataFrame, one row per (point, seed, mode).

    callback(row) hears each run as it finishes (rows arrive out of order); on_task(worker, runs)
    hears which worker finished each task (Dask workers by name; "this machine" otherwise).
    should_stop is polled between and, through a flag file or a Dask event, within points; a
    stopped sweep ends its workers' tasks and returns the rows finished so far. With a store (a
    RunStore or a path), every run is recorded there from this process, as it finishes, and the
    rows get a run_id: under ``sweep_id`` (a sweep row its caller made: a job's), else under a sweep
    row made here and ended here. ``threads`` fixes the torch threads of each task (a job worker's
    share). A cluster that fails raises ClusterError (one line: the cause, and how many runs
    finished), whose ``frame`` holds the finished rows; they are in the store too.
    """
    import pandas as pd

    runs = sweep_points(spec)
    workers, planned = plan_workers(len(runs), spec.base, backend, 1 if backend == "inline" else jobs,
                                    remote=backend == "dask" and scheduler is not None)
    threads = threads or planned
    tasks = [[(i, runs[i][3], runs[i][2]) for i in task]
             for task in make_tasks([(cfg, mode) for _, _, mode, cfg in runs], workers, batch)]
    recorder = _Recorder(store, spec, runs, preset, sweep_id, client_id) if store is not None else None
    signal = _StopSignal(should_stop)
    rows: dict[int, dict] = {}
    columns = [*spec.fields, "seed", "mode", *METRICS, "phase_transition_step", "status"]
    columns += ["run_id"] if recorder is not None else []

    def take(finished: list[tuple[int, dict]]) -> None:
        for index, payload in finished:
            point, seed, mode, _ = runs[index]
            rows[index] = _row(point, seed, mode, payload)
            if recorder is not None and not (payload["status"] == "cancelled" and signal.event.is_set()):
                rows[index]["run_id"] = recorder.record(index, rows[index], payload)  # a run cut short stays out
            if callback is not None:
                callback(dict(rows[index]))
        if recorder is not None and finished:
            recorder.progress(sum("run_id" in row for row in rows.values()))
        if on_task is not None and finished:
            on_task(finished[0][1].get("worker") or "this machine", len(finished))

    try:
        if backend == "dask":
            with dask_client(scheduler, workers) as client:
                run_tasks(client, [(task, threads, None) for task in tasks], on_result=take, should_stop=signal.poll)
        elif backend == "inline":
            for task in tasks:
                if signal.poll():
                    break
                take(run_task(task, threads, signal.path))
        else:
            _run_joblib(backend, tasks, workers, threads, signal, take)
    except ClusterError as err:
        err.frame = pd.DataFrame([rows[i] for i in sorted(rows)], columns=columns)
        err.args = (f"{err.args[0]}; {len(rows)} of {len(runs)} runs finished",)
        if recorder is not None:
            recorder.end("failed", str(err))
        raise
    except BaseException as err:
        if recorder is not None:
            recorder.end("interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                         f"{type(err).__name__}: {err}".splitlines()[0])
        raise
    finally:
        signal.close()
    if recorder is not None:
        stopped = signal.event.is_set() and len(rows) < len(runs)
        recorder.end("cancelled" if stopped else "finished",
                     f"stopped after {len(rows)} of {len(runs)} runs" if stopped else None)
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
    """Writes each finished run into the run store, from the parent process only (one SQLite writer), under
    the sweep's row; makes that row (and ends it) itself when the caller has none."""

    def __init__(self, store, spec, runs, preset, sweep_id, client_id):
        from .store import RunStore

        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.runs, self.preset, self.client_id = runs, preset, client_id
        self.own = sweep_id is None
        self.sweep_id = sweep_id or self.store.create_run(spec, "sweep", preset=preset, client_id=client_id or "cli",
                                                          status="running")
        self.pairs: dict = {}

    def record(self, index: int, row: dict, payload: dict) -> str:
        import json

        point, seed, mode, cfg = self.runs[index]
        pair = self.pairs.setdefault((tuple(point.items()), seed), uuid.uuid4().hex[:12])  # std and adv are twins
        kept = {**row, "worker": payload.get("worker")}
        return self.store.record_run(cfg, mode, status=payload["status"], error=payload["reason"],
                                     device=payload["device"], history=payload["history"], snapshot=payload["weights"],
                                     pair_id=pair, preset=self.preset, client_id=self.client_id, sweep_id=self.sweep_id,
                                     artifacts={ROW_ARTIFACT: json.dumps(kept)})

    def progress(self, done: int) -> None:
        self.store.log_progress(self.sweep_id, done)

    def end(self, status: str, error: str | None) -> None:
        if self.own:
            self.store.finish_run(self.sweep_id, status, error, only_if_active=True)


def sweep_frame(store, sweep_id: str):
    """The table of a stored sweep, as run_sweep returned it (with run_id and the worker of each run): the rows
    of the runs it has finished so far."""
    import json

    import pandas as pd

    rows = []
    for run_id, text in store.sweep_artifacts(sweep_id, ROW_ARTIFACT):
        row = json.loads(text)
        row["run_id"] = run_id
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_csv(frame, path=None) -> str:
    """The CSV of a sweep table, metrics rounded to CSV_DECIMALS; written to path if given."""
    text = frame.round(CSV_DECIMALS).to_csv(index=False)
    if path is not None:
        Path(path).write_text(text)
    return text
