"""A sweep in a background thread, for servers that must never train inside a request.

The thread only coordinates: run_sweep hands the training to joblib's worker processes and
records every finished run in the run store. Rows collect here as they arrive, so a page can
poll ``rows`` and draw partial phase diagrams; ``cancel()`` makes run_sweep stop its workers.
With ``backend="dask"`` and a scheduler address the runs go to that cluster; ``by_worker`` counts
the runs each worker has finished, and a cluster failure ends up in ``error`` as one line.
"""

from __future__ import annotations

import threading
import time
import uuid

from .cluster import ClusterError
from .sweep import run_sweep
from .sweep_spec import SweepSpec


class SweepRunner:
    def __init__(self, spec: SweepSpec, *, store_path=None, preset: str | None = None, jobs: int | None = None,
                 backend: str = "loky", scheduler: str | None = None):
        self.id = uuid.uuid4().hex[:12]
        self.spec = spec
        self.total = len(spec)  # runs: points x seeds x modes
        self.backend = backend
        self.scheduler = scheduler
        self.rows: list[dict] = []
        self.by_worker: dict[str, int] = {}
        self.error: str | None = None
        self.started = time.time()
        self.finished: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, args=(store_path, preset, jobs), name=f"sweep-{self.id}", daemon=True
        )

    def start(self) -> SweepRunner:
        self._thread.start()
        return self

    def _collect(self, row: dict) -> None:
        with self._lock:
            self.rows.append(row)

    def _count(self, worker: str, runs: int) -> None:
        with self._lock:
            self.by_worker[worker] = self.by_worker.get(worker, 0) + runs

    def _run(self, store_path, preset, jobs) -> None:
        from .store import RunStore

        try:
            run_sweep(self.spec, backend=self.backend, scheduler=self.scheduler, jobs=jobs, callback=self._collect,
                      on_task=self._count, should_stop=self._stop.is_set, store=RunStore(store_path), preset=preset)
        except ClusterError as err:  # already one line: the cause and how many runs finished
            self.error = str(err)
        except Exception as err:  # reported on the page; the server goes on
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.finished = time.time()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self.finished is None

    def finished_by_worker(self) -> dict[str, int]:
        with self._lock:
            return dict(self.by_worker)

    def frame(self):
        import pandas as pd

        with self._lock:
            return pd.DataFrame(list(self.rows))

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
