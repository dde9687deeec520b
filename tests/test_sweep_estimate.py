"""A sweep's estimate: its runs' estimated seconds handed out to workers as run_sweep hands them out, and
a bounded number of timed steps however many shapes the grid has."""

import pytest

from core.engine.measure import estimate
from core.engine.presets import get_preset
from core.runs import sweep_spec
from core.runs.sweep_spec import PROBED_SHAPES, WORKER_START_S, SweepSpec, estimate_seconds, parse_grid

BASE = get_preset("classroom").config(steps=20, n_train=30, n_test=30, eval_every=10, threads=1, device="cpu")
SECONDS = {"std": 1.0, "adv": 5.0}


def fixed_seconds(cfg, mode, threads, scale=None, overhead_s=0.0):
    return SECONDS[mode] * (scale or 1)


@pytest.fixture
def fixed_runs(monkeypatch):
    """Every run takes SECONDS[mode] times its scale; timed_scale records the shapes it was asked to time."""
    asked = []

    def timed_scale(cfg, mode, threads):
        asked.append((cfg.d, mode))
        return 1.0 + cfg.d / 1000  # a different scale per shape, so the median's use shows

    monkeypatch.setattr(estimate, "timed_scale", timed_scale)
    monkeypatch.setattr(estimate, "run_seconds", fixed_seconds)
    return asked


def spec(grid: str, **changes) -> SweepSpec:
    return SweepSpec(BASE.replace(**changes), (parse_grid(grid, BASE),), 1, "both")


def test_tasks_go_to_the_first_free_worker_as_run_sweep_hands_them_out(fixed_runs, monkeypatch):
    monkeypatch.setattr("joblib.cpu_count", lambda: 2)  # run_sweep's default: a worker per core (16 on a GPU host)
    # eps=0.1,0.3 on 2 workers: std(0.1) and adv(0.1) start; std(0.3) follows the short std, then adv(0.3) too:
    # 1 + 1 + 5 on one worker, not the 6 that the runs' sum over two workers would say
    scale = 1.0 + BASE.d / 1000
    assert estimate_seconds(spec("eps=0.1,0.3")) == pytest.approx(WORKER_START_S + 7 * scale)
    assert estimate_seconds(spec("eps=0.1,0.3"), jobs=1) == pytest.approx(WORKER_START_S + 12 * scale)


def test_a_cluster_runs_one_thread_per_task_on_all_its_threads(fixed_runs):
    # 4 points x 2 modes on 8 threads: every run at once, the longest decides
    scale = 1.0 + BASE.d / 1000
    assert estimate_seconds(spec("eps=0.1,0.2,0.3,0.4"), cluster_threads=8) == pytest.approx(WORKER_START_S + 5 * scale)


def test_a_grid_of_many_shapes_times_only_the_biggest_of_each_mode_and_the_rest_take_their_median(fixed_runs):
    grid = spec("d=20,40,60,80,100,120")  # six shapes x two modes
    total = estimate_seconds(grid, jobs=1)
    assert len(fixed_runs) == PROBED_SHAPES == 4
    timed = set(fixed_runs)
    assert timed == {(120, "std"), (100, "std"), (120, "adv"), (100, "adv")}  # the most work of each mode
    median = (1.0 + 120 / 1000 + 1.0 + 100 / 1000) / 2
    expected = sum(SECONDS[mode] * ((1.0 + d / 1000) if (d, mode) in timed else median)
                   for d in (20, 40, 60, 80, 100, 120) for mode in ("std", "adv"))
    assert total == pytest.approx(WORKER_START_S + expected)


def test_shapes_too_big_to_time_fall_back_to_the_model(monkeypatch):
    monkeypatch.setattr(estimate, "timed_scale", lambda cfg, mode, threads: None)
    monkeypatch.setattr(estimate, "run_seconds", fixed_seconds)
    assert estimate_seconds(spec("eps=0.1,0.3"), jobs=1) == pytest.approx(WORKER_START_S + 12)


def test_a_real_estimate_grows_with_the_work_and_its_second_look_times_nothing(monkeypatch):
    small, large = spec("eps=0.1,0.3"), spec("eps=0.1,0.3", steps=200)
    assert 0 < estimate_seconds(small) < estimate_seconds(large)
    timed = []
    monkeypatch.setattr(estimate, "_time_own_step", lambda *args: timed.append(args))
    estimate_seconds(large)  # within RECALIBRATE_S: the shapes' timings are kept
    assert timed == [] and sweep_spec.PROBED_SHAPES >= 2
