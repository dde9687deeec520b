"""The run-time estimate's calibration follows the machine: a slow first timing (a server's workers
starting beside it) ages out, and the estimate is timed again at most once a minute."""

from __future__ import annotations

import pytest

from core.engine.config import Config
from core.engine.measure import estimate

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
    monkeypatch.setattr(estimate, "_time_own_step", lambda cfg, mode, threads: None)  # the model alone
    monkeypatch.setattr(estimate, "cpu_count", lambda: 1)  # one core: no second thread count to time for the pair
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


# ---- the probe: a step at the config's own shapes -------------------------------------------------------

@pytest.fixture
def probe(monkeypatch):
    """A step's seconds from a fixed part and a part per example, instead of a clock; the probed configs."""
    probed = []

    def fake(cfg, mode, repeats=5):
        probed.append(cfg)
        return 0.010 + 0.002 * cfg.n_train

    monkeypatch.setattr(estimate, "_probed", {})
    monkeypatch.setattr(estimate, "_time_step", fake)
    return probed


def test_a_large_batch_is_timed_on_a_few_examples_and_its_fixed_part_not_scaled(probe):
    cfg = Config(k=10, P=100, s=2, d=1000, m=10, n_train=2000, device="cpu", train_attack="pgd")
    for mode in ("std", "adv"):
        probe.clear()
        seconds = estimate.own_step_s(cfg, mode, threads=1, now=0.0)
        assert seconds == pytest.approx(0.010 + 0.002 * 2000)  # the two timings separate the fixed part
        assert len(probe) == 2 and 0 < probe[1].n_train < probe[0].n_train < 2000
        for timed in probe:  # within the probe's bounds: work and memory an estimate may spend in the server
            assert estimate.step_work(timed, mode).flops <= estimate.PROBE_FLOPS
            assert timed.n_train * timed.P * timed.d <= estimate.PROBE_FLOATS
            assert (timed.steps, timed.n_test, timed.device) == (1, 1, "cpu")


def test_a_small_batch_is_timed_whole(probe):
    assert estimate.own_step_s(SMALL, "adv", threads=1, now=0.0) == pytest.approx(0.010 + 0.002 * SMALL.n_train)
    assert [c.n_train for c in probe] == [SMALL.n_train]


def test_a_shape_too_big_for_the_server_is_not_timed_and_the_model_stands(probe, monkeypatch):
    huge = Config(k=10, P=1000, s=2, d=100_000, m=10, n_train=100, n_test=10, steps=10, device="cpu")
    assert estimate.own_step_s(huge, "std", threads=1, now=0.0) is None
    pgd = Config(k=10, P=10, s=2, d=20_000, m=10, n_train=10, device="cpu", train_attack="pgd")
    assert estimate.own_step_s(pgd, "adv", threads=1, now=0.0) is None  # its start pool alone is 80M floats
    assert probe == []
    monkeypatch.setattr(estimate, "_timings", {})  # fixed readings: the model's number, not the clock's
    monkeypatch.setattr(estimate, "_time_shapes", lambda threads: (0.004, 0.002))
    a, b = estimate.calibrate(1)
    work = estimate.run_work(huge, "std")
    est = estimate.estimate_runtime(huge, threads=1)
    assert est.std_s == pytest.approx(estimate.RUN_OVERHEAD_S + a * work.flops + b * work.elements)


def test_a_probe_is_kept_a_minute_for_every_config_of_the_same_shapes(probe):
    estimate.own_step_s(SMALL, "std", threads=1, now=0.0)
    for other in (SMALL.replace(seed=7), SMALL.replace(steps=500, eta=0.1), SMALL.replace(train_attack="pgd")):
        estimate.own_step_s(other, "std", threads=1, now=30.0)
    assert len(probe) == 1
    estimate.own_step_s(SMALL.replace(d=12), "std", threads=1, now=30.0)  # another shape
    estimate.own_step_s(SMALL, "std", threads=1, now=estimate.RECALIBRATE_S)  # a minute on
    assert len(probe) == 3


def test_the_estimate_follows_the_timed_step(monkeypatch):
    """With the probe's step twice as slow, both runs' estimates double (less the fixed hand-off)."""
    monkeypatch.setattr(estimate, "_timings", {})
    monkeypatch.setattr(estimate, "_time_shapes", lambda threads: (0.004, 0.002))
    seconds = {}
    for slow in (1.0, 2.0):
        monkeypatch.setattr(estimate, "_probed", {})
        monkeypatch.setattr(estimate, "_time_step", lambda cfg, mode, repeats=5, slow=slow: slow * 0.01)
        seconds[slow] = estimate.estimate_runtime(SMALL, threads=1)
    for mode in ("std_s", "adv_s"):
        fast, slow = (getattr(seconds[s], mode) - estimate.RUN_OVERHEAD_S for s in (1.0, 2.0))
        assert slow == pytest.approx(2 * fast)


def test_a_probe_of_pgd_training_leaves_no_start_pool_behind():
    from core.engine import random_starts as threats

    cfg = SMALL.replace(d=37, train_attack="pgd")  # a d no other test draws a pool for
    before = set(threats._pools)
    assert estimate.own_step_s(cfg, "adv", threads=1) is not None  # timed for real: a step with its pool
    assert set(threats._pools) == before


def test_an_adversarial_run_is_never_estimated_shorter_than_the_standard_one(monkeypatch):
    """At a tiny config both probes are noise-sized; a noisy pair of readings must not invert the order."""
    monkeypatch.setattr(estimate, "_timings", {})
    monkeypatch.setattr(estimate, "_time_shapes", lambda threads: (0.004, 0.002))
    monkeypatch.setattr(estimate, "_probed", {})
    monkeypatch.setattr(estimate, "_time_own_step", lambda cfg, mode, threads: 0.02 if mode == "std" else 0.01)
    est = estimate.estimate_runtime(SMALL, threads=1)
    assert est.std_s <= est.wall_s <= est.adv_s


def test_an_estimate_reads_at_one_precision_and_long_ones_in_minutes_or_hours():
    from core.engine.measure.estimate import format_seconds

    # Below 10 s every figure carries one decimal, so "both runs" never reads "2 s" beside "1.9 s".
    assert [format_seconds(s) for s in (1.04, 1.94, 2.4, 9.94)] == ["1.0 s", "1.9 s", "2.4 s", "9.9 s"]
    assert [format_seconds(s) for s in (9.96, 23.4, 89.4, 150, 3600, 7200)] == [
        "10 s", "23 s", "89 s", "2 min", "60 min", "2.0 h"]
