"""How many cores other processes keep busy: the job manager hands idle cores to running runs only
when they are idle in fact.

A run given 2 threads on 2 cores that another process also uses runs slower than on 1 thread: its
threads wait for each other at every parallel region while the other process holds a core (with a
2-thread job beside it, 100 classroom adversarial steps took about three times as long on 2 threads as
on 1).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import psutil

WINDOW_S = 2.0  # measured over at least this long: a tick's 0.1 s would follow every page render
IGNORED_CORES = 0.25  # less than 0.75 of a core of other work counts as none (a page drawn now and then)


def system_busy_s() -> float:
    """CPU seconds the cores this process may run on have spent busy since boot, all together (on a
    big host with a few cores given to us, the others' work is not ours to count). Time stolen by a
    hypervisor counts: a core it takes is not ours either."""
    per_cpu = psutil.cpu_times(percpu=True)
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(len(per_cpu))
    return sum(_busy(per_cpu[i]) for i in allowed if i < len(per_cpu))


def _busy(t) -> float:
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


def process_busy_s(pid: int) -> float | None:
    """CPU seconds of one process (all its threads) since it started; None once it is gone."""
    try:
        t = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return t.user + t.system


class ForeignLoad:
    """Cores kept busy by everything but the given processes (the job workers), over the last window."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic,
                 machine: Callable[[], float] = system_busy_s,
                 process: Callable[[int], float | None] = process_busy_s):
        self.window_s, self._clock, self._machine, self._process = window_s, clock, machine, process
        self._last: tuple[float, float, dict[int, float]] | None = None  # (time, machine busy, ours by pid)
        self._cores = 0.0

    def cores(self, ours: Iterable[int]) -> float:
        """Cores busy with other work, as measured over the last completed window (0 before the first)."""
        now = self._clock()
        if self._last is not None and now - self._last[0] < self.window_s:
            return self._cores
        machine = self._machine()
        mine = {pid: s for pid in ours if (s := self._process(pid)) is not None}
        if self._last is not None:
            then, machine_then, mine_then = self._last
            # A worker started within the window brings all its CPU time: it was spent in the window.
            ours_s = sum(s - mine_then.get(pid, 0.0) for pid, s in mine.items())
            self._cores = max(0.0, (machine - machine_then - ours_s) / (now - then))
        self._last = (now, machine, mine)
        return self._cores

    def whole_cores(self, ours: Iterable[int]) -> int:
        """The cores to leave to other work: whole ones, a little of one counted as none."""
        return int(self.cores(ours) + IGNORED_CORES)
