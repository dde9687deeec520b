"""The worker side of a sweep: train one task's runs and hand back plain data.

This is all a worker process runs (a loky process here, or a Dask worker on another machine,
which receives this package shipped by ``core.runs.cluster``). It imports only the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

EVENT_POLL_S = 0.5  # a Dask event lives on the scheduler: ask it at most twice a second, not every step


def run_task(task: list, threads: int, stop_path: str | None, stop_event: str | None = None) -> list[tuple[int, dict]]:
    """Train a task's runs, [(index, config, mode), ...], batched where possible.

    A sweep is stopped through a flag file that the parent creates (``stop_path``, workers on
    this machine) or a Dask ``Event`` of that name (``stop_event``, workers anywhere); both are
    checked every training step, so a stopped point ends within a step or half a second.
    """
    import torch

    from ..engine.batched import train_many
    from ..engine.resources import resolve_device

    torch.set_num_threads(threads)
    should_stop = _stop_check(stop_path, stop_event)
    device = resolve_device(task[0][1].device)
    device_name = str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)
    worker = _worker_name() if stop_event is not None else None
    try:
        results = train_many([(cfg, mode) for _, cfg, mode in task], should_stop=should_stop)
    except Exception as err:  # a failing batch fails its runs, not the sweep
        return [(index, {"status": "failed", "reason": f"{type(err).__name__}: {err}", "history": [],
                         "weights": None, "device": device_name, "worker": worker}) for index, _, _ in task]
    return [(index, {"status": r.status, "reason": r.reason, "history": r.history, "weights": r.weights.numpy(),
                     "phase_transition_step": r.phase_transition_step, "device": device_name, "worker": worker})
            for (index, _, _), r in zip(task, results, strict=True)]


def _stop_check(stop_path: str | None, stop_event: str | None) -> Callable[[], bool]:
    event = None
    if stop_event is not None:
        from distributed import Event

        event = Event(stop_event)  # through this worker's own client
    state = {"asked": 0.0, "stop": False}

    def should_stop() -> bool:
        if state["stop"]:
            return True
        if stop_path is not None and os.path.exists(stop_path):
            state["stop"] = True
        elif event is not None and time.monotonic() - state["asked"] > EVENT_POLL_S:
            state["asked"] = time.monotonic()
            try:
                state["stop"] = event.is_set()
            except Exception:  # the scheduler is gone: the client has stopped listening anyway
                state["stop"] = True
        return state["stop"]

    return should_stop


def _worker_name() -> str:
    """The Dask worker's name (its --name, or its address), shown per worker on the Sweep page."""
    try:
        from distributed import get_worker

        worker = get_worker()
        return str(worker.name if worker.name is not None else worker.address)
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"
