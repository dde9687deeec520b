"""Planning a sweep: how many workers, how many threads each, and which runs go to a worker together.

``plan_workers`` keeps workers x threads within this machine's cores; ``make_tasks`` groups runs that can
train as one batch (core.engine.batched) into tasks. Both the running (core.runs.sweep) and the estimate
(core.runs.sweep_spec.estimate_seconds) read the same plan, so the estimate times what will run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..engine.config import Config

MAX_BATCH = {"cpu": 8, "cuda": 256}  # a GPU wants big batches; on a CPU small ones also stream results sooner


def device_type(cfg: Config) -> str:
    from ..engine.resources import resolve_device

    return resolve_device(cfg.device).type


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
