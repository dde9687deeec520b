"""Training progress into the run store, in batches: the callback that train() calls every step.

One SQLite transaction per step would cost more than a small run's step, so metrics rows and
weight snapshots wait in a buffer and go out together. The first point goes out at once (the
dashboard's first plotted point), later ones at most ``flush_s`` plus one step after they
happen, and whatever is left when the run ends goes out with ``flush()``.
"""

from __future__ import annotations

import time


class RunRecorder:
    def __init__(self, store, run_id: str, *, flush_s: float = 0.5, snapshots: bool = True):
        self.store = store
        self.run_id = run_id
        self.flush_s = flush_s
        self.snapshots = snapshots
        self.rows: list[dict] = []
        self.snaps: list[tuple] = []
        self.step: int | None = None  # last step seen
        self.flushed_step: int | None = None  # last step the store knows of
        self.next_flush = 0.0  # monotonic time; 0 = the first event flushes at once
        self.gone = False  # the run was deleted from the store while it ran

    def __call__(self, event) -> None:
        if event.metrics is not None:
            self.rows.append({"step": event.step, **event.metrics})
            if self.snapshots and event.weights is not None:
                self.snaps.append((event.step, event.weights))
        self.step = event.step
        if time.monotonic() >= self.next_flush and (self.rows or self.step != self.flushed_step):
            self.flush()

    def flush(self) -> None:
        if self.gone or not (self.rows or self.snaps or self.step != self.flushed_step):
            return
        rows, snaps = self.rows, self.snaps
        self.rows, self.snaps = [], []
        self.gone = not self.store.log_batch(self.run_id, rows=rows, snapshots=snaps, step=self.step)
        self.flushed_step = self.step
        self.next_flush = time.monotonic() + self.flush_s
