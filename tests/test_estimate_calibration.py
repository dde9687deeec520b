"""The run-time estimate's calibration follows the machine: a slow first timing (a server's workers
starting beside it) ages out, and the estimate is timed again at most once a minute."""

from __future__ import annotations

import pytest

from core.engine import estimate
from core.engine.config import Config

SMALL = Config(k=3, P=6, s=1, d=9, m=2, n_train=12, n_test=8, steps=20, eval_every=10, n_eval_pgd=4,
               device="cpu", eps=0.1, eta_a=0.5)


@pytest.fixture
def timings(monkeypatch):
    """Replace the timing of the two shapes with a queue of readings; count how often it ran."""
    readings = []
    calls = []

    def fake(threads):
        calls.append(threads)
        return readings.pop(0)

    monkeypatch.setattr(estimate, "_timings", {})
    monkeypatch.setattr(estimate, "_time_shapes", fake)
    return readings, calls


def test_a_slow_first_timing_ages_out(timings):
    readings, calls = timings
    quiet = (0.004, 0.002)
    readings += [(0.012, 0.006), quiet, quiet, quiet]  # the first while the workers were starting
    t0 = 1000.0
    slow = estimate.calibrate(1, now=t0)
    assert estimate.calibrate(1, now=t0 + 30) == slow and len(calls) == 1  # within the minute: no timing
    fast = estimate.calibrate(1, now=t0 + estimate.RECALIBRATE_S)
    assert len(calls) == 2 and fast[0] < slow[0] and fast == pytest.approx(estimate._fit(*quiet))
    # The fastest recent timing rules, and once KEPT_TIMINGS newer ones are in, the slow one is gone
    for i in (2, 3):
        assert estimate.calibrate(1, now=t0 + i * estimate.RECALIBRATE_S) == pytest.approx(estimate._fit(*quiet))
    assert all(times == quiet for _, times in estimate._timings[1])


def test_a_machine_that_stays_slower_is_followed(timings):
    readings, _ = timings
    readings += [(0.004, 0.002)] + [(0.008, 0.004)] * estimate.KEPT_TIMINGS
    for i in range(1 + estimate.KEPT_TIMINGS):
        a, _ = estimate.calibrate(2, now=i * estimate.RECALIBRATE_S)
    assert a == pytest.approx(estimate._fit(0.008, 0.004)[0])


def test_the_estimate_shrinks_when_the_machine_is_quiet_again(timings):
    """Both estimates come from the fixed readings below, never from a clock: the comparison is the model's."""
    readings, _ = timings
    readings += [(0.012, 0.006), (0.004, 0.002)]
    first = estimate.estimate_runtime(SMALL, threads=1)
    estimate._timings[1][-1] = (estimate._timings[1][-1][0] - estimate.RECALIBRATE_S, (0.012, 0.006))  # a minute on
    later = estimate.estimate_runtime(SMALL, threads=1)
    assert later.adv_s < first.adv_s and later.std_s < first.std_s


def test_each_thread_count_has_its_own_timings(timings):
    readings, calls = timings
    readings += [(0.004, 0.002), (0.003, 0.0015)]
    estimate.calibrate(1, now=0.0)
    estimate.calibrate(2, now=1.0)
    assert calls == [1, 2]
