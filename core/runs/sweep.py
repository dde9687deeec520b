"""Sweeps: one or two knobs x seeds x modes, run in parallel, one result row per run.

``parse_grid("eps=0.1,0.3")`` or ``parse_grid("s=1:9:5")`` reads a knob's values;
``SweepSpec`` holds the base config, the grid, the seeds and the modes; ``run_sweep``
trains every (point, seed, mode) and returns a DataFrame of final metrics. Runs that
share shapes go to a worker together and train as one batch (core.engine.batched); a run's
numbers do not depend on its batch, its worker or the backend, so the same sweep gives
the same table on loky and on Dask.

Backends (all through joblib, so results stream back as tasks finish):
* ``loky`` (default): local processes; workers x torch threads never exceed the cores.
* ``dask``: a Dask distributed scheduler at ``scheduler``, or a LocalCluster on the
  loopback started for this sweep when none is given.
* any other joblib backend name, e.g. ``ray`` after ``ray.util.joblib.register_ray()``
  (documented in docs/phase-diagram.md, not tested here).
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from ..engine.config import MODES, Config, ConfigError, parse_value
from ..engine.metrics import METRICS

MODE_CHOICES = {"std": ("std",), "adv": ("adv",), "both": MODES}
CSV_DECIMALS = 6  # identical CSVs across backends and thread counts: float noise sits far below this
MAX_BATCH = {"cpu": 8, "cuda": 256}  # a GPU wants big batches; on a CPU small ones also stream results sooner
_KINDS = {f.name: str(f.type) for f in fields(Config)}
# Bounds on what a grid may name, checked before anything is built: a typed "0:1:100000000" must not make
# a list of 10^8 values (and 10^8 configs) in the server. Generous for any phase diagram.
MAX_GRID_VALUES = 200
MAX_SEEDS = 1000
MAX_RUNS = 100_000


# ---- grids -------------------------------------------------------------------------------


def parse_grid(spec: str, base: Config | None = None) -> tuple[str, list]:
    """``FIELD=V1,V2,...`` or ``FIELD=A:B:N`` (N evenly spaced points, both ends included).

    Values are parsed by the field's type (ints stay ints); with a base config, each value
    is also checked by building the config. Any problem raises ConfigError naming the field.
    """
    if "=" not in spec:
        raise ConfigError(spec.strip() or "grid", "expected FIELD=V1,V2,... or FIELD=A:B:N")
    name, raw = (part.strip() for part in spec.split("=", 1))
    if name not in _KINDS:
        raise ConfigError(name, f"unknown field; known fields are {', '.join(sorted(_KINDS))}")
    if name == "seed":
        raise ConfigError(name, "sweep seeds with --seeds N (or SweepSpec seeds), not a grid")
    kind = _KINDS[name]
    if ":" in raw:
        values = _range(name, kind, raw)
    else:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if len(items) > MAX_GRID_VALUES:
            raise ConfigError(name, f"{len(items)} values; a grid has at most {MAX_GRID_VALUES} per field")
        values = [parse_value(name, kind, item) for item in items]
    if not values:
        raise ConfigError(name, f"no values in {spec!r}")
    if len(set(values)) != len(values):
        raise ConfigError(name, f"repeated values in {raw!r}")
    if base is not None:
        for value in values:
            base.replace(**{name: value})  # raises ConfigError naming the field
    return name, values


def _range(name: str, kind: str, raw: str) -> list:
    parts = raw.split(":")
    if len(parts) != 3 or kind not in ("int", "float"):
        raise ConfigError(name, f"expected A:B:N for a numeric field, got {raw!r}")
    low, high = (float(parse_value(name, "float", p)) for p in parts[:2])
    count = parse_value(name + " (N)", "int", parts[2])
    if not 1 <= count <= MAX_GRID_VALUES:
        raise ConfigError(name, f"N = {count} in {raw!r}; allowed 1 <= N <= {MAX_GRID_VALUES}")
    step = (high - low) / (count - 1) if count > 1 else 0.0
    values = [round(low + i * step, 12) for i in range(count)]  # round off 0.30000000000000004
    if kind == "int":
        if any(not float(v).is_integer() for v in values):
            raise ConfigError(name, f"{raw!r} gives non-integer points; choose N so that (B-A)/(N-1) is whole")
        values = [int(v) for v in values]
    return values


@dataclass(frozen=True)
class SweepSpec:
    """base config, grid ((field, values), ...) of one or two fields, seeds, modes."""

    base: Config
    grid: tuple
    seeds: tuple = (0,)
    modes: tuple = MODES

    def __post_init__(self):
        pairs = self.grid.items() if isinstance(self.grid, dict) else self.grid
        # numpy scalars (from a UI's arrays) become plain numbers, which Config's type checks accept
        grid = tuple((name, tuple(v.item() if hasattr(v, "item") else v for v in values)) for name, values in pairs)
        if not 1 <= len(grid) <= 2:
            raise ConfigError("grid", f"sweep one or two fields, got {len(grid)}")
        if len(grid) == 2 and grid[0][0] == grid[1][0]:
            raise ConfigError(grid[0][0], "the same field is swept twice")
        seeds = self.seeds
        if isinstance(seeds, int):  # N seeds from the base's seed on
            if not 1 <= seeds <= MAX_SEEDS:
                raise ConfigError("seeds", f"{seeds} seeds; allowed 1 <= seeds <= {MAX_SEEDS}")
            seeds = range(self.base.seed, self.base.seed + seeds)
        modes = MODE_CHOICES.get(self.modes) if isinstance(self.modes, str) else self.modes
        if not modes or any(m not in MODES for m in modes):
            raise ConfigError("mode", f"unknown mode {self.modes!r}; choose std, adv or both")
        if not seeds or any(not values for _, values in grid):
            raise ConfigError("grid", "every swept field and the seeds need at least one value")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
        object.__setattr__(self, "modes", tuple(modes))
        runs = math.prod(len(values) for _, values in grid) * len(self.seeds) * len(self.modes)
        if runs > MAX_RUNS:
            raise ConfigError("grid", f"{runs} runs; a sweep has at most {MAX_RUNS}: fewer values or seeds")
        for point in self.points():  # every value, and cross-field checks (s <= P, d >= 2k), by name
            self.base.replace(**point)

    @classmethod
    def from_strings(cls, base: Config, grids: Sequence[str], seeds: int = 1, mode: str = "both") -> SweepSpec:
        return cls(base, tuple(parse_grid(g, base) for g in grids), seeds, mode)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.grid)

    def points(self) -> list[dict]:
        return [dict(zip(self.fields, combo, strict=True)) for combo in itertools.product(*(v for _, v in self.grid))]

    def __len__(self) -> int:
        return len(self.points()) * len(self.seeds) * len(self.modes)


def sweep_points(spec: SweepSpec) -> list[tuple[dict, int, str, Config]]:
    """Every run of the sweep, point-major: (point, seed, mode, config)."""
    return [(point, seed, mode, spec.base.replace(**point, seed=seed))
            for point in spec.points() for seed in spec.seeds for mode in spec.modes]


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
    elif _device(base) == "cuda":
        workers = 1  # one process feeds the GPU with big batches
    else:
        workers = max(1, min(cores, n_runs))
    return workers, max(1, cores // workers)


def _device(cfg: Config) -> str:
    from ..engine.resources import resolve_device

    return resolve_device(cfg.device).type


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


def estimate_seconds(spec: SweepSpec, *, workers: int | None = None, gflops_per_core: float = 20.0) -> float:
    """Rough wall time: floating-point work of training and evaluation over the machine's rate.

    20 GFLOP/s per core is what the fused CPU kernels reach at classroom size (measured); a
    GPU is taken as 50 cores. Plus ~5 s for starting workers (spawn, import torch).
    """
    from joblib import cpu_count

    from ..engine.estimate import run_work  # the same count of a run's matrix products as the Lab's estimate

    total = sum(run_work(cfg, mode).flops for _, _, mode, cfg in sweep_points(spec))
    cores = 50 if _device(spec.base) == "cuda" else (workers or max(1, cpu_count()))
    return 5.0 + total / (gflops_per_core * 1e9 * cores * 0.85)


# ---- workers ----------------------------------------------------------------------------------


def run_task(task: list[tuple[int, Config, str]], threads: int, stop_path: str | None) -> list[tuple[int, dict]]:
    """Worker side: train a task's runs (batched where possible); plain data comes back.

    The stop flag is a file the parent creates when the sweep is cancelled: checking it each
    step ends a point within milliseconds (on this machine; remote Dask workers finish theirs).
    """
    import torch

    from ..engine.batched import train_many
    from ..engine.resources import resolve_device

    torch.set_num_threads(threads)

    def should_stop() -> bool:
        return stop_path is not None and os.path.exists(stop_path)

    device = resolve_device(task[0][1].device)
    device_name = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    try:
        results = train_many([(cfg, mode) for _, cfg, mode in task], should_stop=should_stop)
    except Exception as err:  # a failing batch fails its runs, not the sweep
        return [(index, {"status": "failed", "reason": f"{type(err).__name__}: {err}", "history": [],
                         "weights": None, "device": device_name}) for index, _, _ in task]
    return [(index, {"status": r.status, "reason": r.reason, "history": r.history, "weights": r.weights.numpy(),
                     "phase_transition_step": r.phase_transition_step, "device": device_name})
            for (index, _, _), r in zip(task, results, strict=True)]


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


@contextmanager
def _backend(backend: str, scheduler: str | None, workers: int, threads: int):
    """joblib parallel_config for the backend; a Dask client (and a loopback cluster if needed)."""
    from joblib import parallel_config

    if backend == "loky":
        with parallel_config(backend="loky", inner_max_num_threads=threads):
            yield workers
        return
    if backend != "dask":
        with parallel_config(backend=backend):
            yield workers
        return
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:  # a private cluster on the loopback, closed (workers killed) at the end
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        with parallel_config(backend="dask", client=client):
            yield -1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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
):
    """Train every run of the sweep; return a DataFrame, one row per (point, seed, mode).

    callback(row) hears each run as it finishes (rows arrive out of order); should_stop is
    polled between and, through a flag file, within points; a stopped sweep kills its loky
    workers (or its own Dask cluster) and returns the rows finished so far. With a store
    (a RunStore or a path), every run is recorded there from this process, as it finishes,
    and the rows get a run_id.
    """
    import pandas as pd
    from joblib import Parallel, delayed

    runs = sweep_points(spec)
    workers, threads = plan_workers(len(runs), spec.base, backend, jobs,
                                    remote=backend == "dask" and scheduler is not None)
    tasks = make_tasks([(cfg, mode) for _, _, mode, cfg in runs], workers, batch)
    recorder = _Recorder(store, runs, preset) if store is not None else None
    signal = _StopSignal(should_stop)
    rows: dict[int, dict] = {}
    try:
        with _backend(backend, scheduler, workers, threads) as n_jobs:
            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)(
                delayed(run_task)([(i, runs[i][3], runs[i][2]) for i in task], threads, signal.path)
                for task in tasks
            )
            try:
                for finished in results:
                    for index, payload in finished:
                        point, seed, mode, _ = runs[index]
                        rows[index] = _row(point, seed, mode, payload)
                        if recorder is not None:
                            rows[index]["run_id"] = recorder.record(index, payload)
                        if callback is not None:
                            callback(dict(rows[index]))
                    if signal.poll():
                        break
            finally:
                with warnings.catch_warnings():  # joblib warns that tasks were cancelled: that was the point
                    warnings.simplefilter("ignore", UserWarning)
                    results.close()  # on a break: joblib aborts, and loky kills its workers
    finally:
        signal.close()
        if recorder is not None:
            recorder.cancel_rest(rows)
    columns = [*spec.fields, "seed", "mode", *METRICS, "phase_transition_step", "status"]
    columns += ["run_id"] if recorder is not None else []
    return pd.DataFrame([rows[i] for i in sorted(rows)], columns=columns)


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
