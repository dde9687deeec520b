"""A command-line run on the cores other processes leave idle, as the job manager does for the app's runs.

Torch's default thread count is every core, whatever else the machine is doing. A run with 2 threads
on 2 cores that another process also uses waits at each parallel region for its second thread, and
runs several times slower than on one (docs/performance.md). The follower reads the other processes'
cores over windows of 2 s (foreign_load.py, with this process as "ours") and sets the thread count
between two steps; a run's numbers do not depend on it (tests/test_shared_cores.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ..engine.resources import set_threads
from ..runs.foreign_load import ForeignLoad


class ThreadsFollowLoad:
    """A progress callback: at most the threads the run started with, less the cores others keep busy."""

    def __init__(self, load: ForeignLoad | None = None, apply: Callable[[int], None] = set_threads):
        self._load, self._apply = load or ForeignLoad(), apply
        self._pid = os.getpid()
        self.most = torch.get_num_threads()  # torch's default, or what OMP_NUM_THREADS / --set threads asked
        self.threads = self.most
        self._load.cores([self._pid])  # the first window starts now

    def __call__(self, event=None) -> None:
        threads = max(1, self.most - self._load.whole_cores([self._pid]))
        if threads != self.threads:
            self._apply(threads)
            self.threads = threads
