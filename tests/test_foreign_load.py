"""Cores other processes keep busy: measured from CPU times, so that idle cores are idle in fact."""

import os

import pytest

from core.runs.foreign_load import ForeignLoad, process_busy_s, system_busy_s


class Readings:
    """A machine whose clock and CPU counters the test moves by hand."""

    def __init__(self):
        self.now, self.machine, self.procs = 0.0, 0.0, {}

    def load(self, window_s=2.0):
        return ForeignLoad(window_s, clock=lambda: self.now, machine=lambda: self.machine,
                           process=lambda pid: self.procs.get(pid))

    def run(self, seconds, ours=None, other_cores=0.0):
        """`seconds` pass; each of our pids uses ours[pid] cores, other processes `other_cores`."""
        ours = ours or {}
        self.now += seconds
        for pid, cores in ours.items():
            self.procs[pid] = self.procs.get(pid, 0.0) + cores * seconds
        self.machine += (sum(ours.values()) + other_cores) * seconds


def test_other_processes_cores_are_what_the_machine_spent_beyond_ours():
    r = Readings()
    r.procs = {11: 0.0, 12: 0.0}
    load = r.load()
    assert load.cores([11, 12]) == 0.0  # nothing measured yet: no window
    r.run(2.0, ours={11: 2.0}, other_cores=0.0)  # our lone run on both cores: not foreign
    assert load.cores([11, 12]) == pytest.approx(0.0)
    r.run(2.0, ours={11: 1.0, 12: 1.0}, other_cores=2.0)  # a 2-thread job beside our pair
    assert load.cores([11, 12]) == pytest.approx(2.0)
    assert load.whole_cores([11, 12]) == 2


def test_the_reading_holds_for_a_window_and_a_page_drawn_now_and_then_counts_as_none():
    r = Readings()
    r.procs = {11: 0.0}
    load = r.load(window_s=2.0)
    load.cores([11])
    r.run(2.0, ours={11: 1.0}, other_cores=0.5)  # the server drawing a page half the time
    assert load.cores([11]) == pytest.approx(0.5)
    assert load.whole_cores([11]) == 0
    r.run(1.0, other_cores=2.0)  # within the window: the last reading stands
    assert load.cores([11]) == pytest.approx(0.5)
    r.run(1.0, other_cores=1.0)  # the window is over: 3 core-seconds of others' work in 2 s
    assert load.cores([11]) == pytest.approx(1.5)
    assert load.whole_cores([11]) == 1


def test_a_worker_that_starts_or_ends_within_a_window_is_not_taken_for_another_process():
    r = Readings()
    r.procs = {11: 5.0}
    load = r.load()
    load.cores([11])
    r.procs[12] = 0.0  # a respawned worker: all its CPU time was spent in this window
    r.run(2.0, ours={11: 1.0, 12: 1.0})
    assert load.cores([11, 12]) == pytest.approx(0.0)
    del r.procs[11]  # a worker gone: its pid reads nothing, and nothing goes negative
    r.run(2.0, ours={12: 1.0})
    assert load.cores([11, 12]) == pytest.approx(0.0)


def test_the_real_counters_read_this_machine_and_this_process():
    """The readers work where the manager runs them: CPU-time counters since boot and since this process
    started (it imported torch), never a speed, so load on the machine cannot make them fail."""
    assert system_busy_s() > 0
    assert process_busy_s(os.getpid()) > 0
    assert process_busy_s(2**22 + 12345) is None  # no such process
    assert ForeignLoad(window_s=0.0).cores([os.getpid()]) >= 0.0
