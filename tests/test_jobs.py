"""Background jobs: streaming, cancel, hard kill, a killed worker, orphans, the cap, the cache, many jobs."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from _subprocess_env import with_project  # tests/ is on the path
from _waiting import wait_for

from core.engine.metrics import METRICS
from core.engine.presets import get_preset
from core.runs.jobs import JobManager, JobRefused
from core.runs.store import RunStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module
GRACE_S = 1.0


def tiny(**changes):
    base = dict(steps=40, n_train=40, n_test=40, eval_every=5, threads=1, device="cpu")
    return get_preset("classroom").config(**{**base, **changes})


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = JobManager(tmp_path_factory.mktemp("jobs") / "runs.sqlite", max_workers=2, grace_s=GRACE_S)
    assert m.wait_ready(90)
    yield m
    m.shutdown()


@pytest.fixture(autouse=True)
def no_stall(manager):
    manager._debug = None
    yield
    manager._debug = None


def test_submit_streams_then_finishes(manager):
    manager._debug = {"delay_s": 0.03}  # about 1.5 s of training: long enough to watch it stream
    run_id = manager.submit(tiny(), "std", fresh=True)
    assert manager.status(run_id) in ("queued", "running")
    assert wait_for(lambda: len(manager.store.metrics_frame(run_id)) > 0)
    # streaming: the first point is in the store while the run is still running (how fast: bench/bench_store.py)
    assert manager.store.run_status(run_id) == "running" and manager.queue_position(run_id) == 0
    assert manager.wait(run_id, 30)
    run = manager.store.get_run(run_id)
    assert run["status"] == "finished" and run["step"] == 40 and run["device"] == "cpu"
    frame = manager.store.metrics_frame(run_id)
    assert frame["step"].tolist() == list(range(0, 41, 5)) and not frame[list(METRICS)].isna().any().any()
    assert manager.store.snapshot_steps(run_id) == list(range(0, 41, 5))
    assert manager.store.load_snapshot(run_id, 40).shape == (50, 40)
    assert manager.status(run_id) == "finished" and manager.queue_position(run_id) is None
    assert [w.imported_streamlit for w in manager._workers] == [False, False]


def test_workers_train_below_the_servers_priority(manager):
    """A class's runs fill every core; the server (and a page opened meanwhile) must still get one."""
    pids = manager.worker_pids()
    assert pids
    for pid in pids:
        assert psutil.Process(pid).nice() >= min(19, os.nice(0) + 10)


def test_cache_returns_the_stored_run(manager):
    cfg = tiny(steps=10, seed=3)
    first = manager.submit(cfg, "adv")
    assert manager.wait(first, 30) and manager.status(first) == "finished"
    count = len(manager.store.list_runs())
    assert manager.submit(cfg.replace(threads=2), "adv") == first  # where it runs does not matter
    assert manager.submit_twins(cfg, modes=("adv",)) == {"adv": first}
    assert len(manager.store.list_runs()) == count  # nothing new was queued
    fresh = manager.submit(cfg, "adv", fresh=True)
    assert fresh != first and manager.wait(fresh, 30)


def test_cancel_stops_at_the_next_step_and_keeps_metrics(manager):
    manager._debug = {"delay_s": 0.05}
    run_id = manager.submit(tiny(steps=400), "adv", fresh=True)
    assert wait_for(lambda: len(manager.store.metrics_frame(run_id)) >= 2)
    pid = manager.worker_pid(run_id)
    manager.grace_s = 60  # however slow a step on a busy machine, only a cooperative stop ends it in time
    try:
        assert manager.cancel(run_id)
        assert manager.wait(run_id, 60)
    finally:
        manager.grace_s = GRACE_S
    run = manager.store.get_run(run_id)
    assert run["status"] == "cancelled" and "cancelled by the user" in run["error"]
    assert "killed" not in run["error"]  # cooperative: it stopped at a step, no kill was needed
    assert 2 <= len(manager.store.metrics_frame(run_id)) < 81 and run["final"]
    assert psutil.pid_exists(pid) and pid in manager.worker_pids()  # the warm worker stays


def test_a_run_that_ignores_cancel_is_killed_after_grace(manager):
    manager._debug = {"hang_at": 0}  # step 0 reaches the store at once, then the step never ends
    run_id = manager.submit(tiny(), "std", fresh=True)
    assert wait_for(lambda: len(manager.store.metrics_frame(run_id)) == 1)
    pid = manager.worker_pid(run_id)
    manager.cancel(run_id)
    assert manager.wait(run_id, GRACE_S + 30)
    assert wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 5)
    run = manager.store.get_run(run_id)
    assert run["status"] == "cancelled" and f"did not stop within {GRACE_S:g} s" in run["error"] and run["final"]
    assert wait_for(lambda: len(manager.worker_pids()) == 2 and manager.wait_ready(0), 30)  # replaced


def test_a_worker_killed_from_outside_fails_only_its_run(manager):
    manager._debug = {"delay_s": 0.03}
    doomed = manager.submit(tiny(), "std", client_id="a", fresh=True)
    other = manager.submit(tiny(), "adv", client_id="b", fresh=True)
    assert wait_for(lambda: manager.worker_pid(doomed) and manager.store.run_status(doomed) == "running")
    os.kill(manager.worker_pid(doomed), signal.SIGKILL)
    assert manager.wait([doomed, other], 30)
    run = manager.store.get_run(doomed)
    assert run["status"] == "failed" and "worker process died with exit code -9" in run["error"]
    assert manager.store.run_status(other) == "finished"
    assert wait_for(lambda: len(manager.worker_pids()) == 2 and manager.wait_ready(0), 30)


def test_wall_time_limit_stops_a_run_and_keeps_metrics(manager):
    manager._debug = {"delay_s": 0.05}
    manager.wall_time_s = 0.6
    try:
        run_id = manager.submit(tiny(steps=400), "std", fresh=True)
        assert manager.wait(run_id, 10)
    finally:
        manager.wall_time_s = 3600
    run = manager.store.get_run(run_id)
    assert run["status"] == "failed" and "wall-time limit" in run["error"] and run["final"]


def test_deleting_a_running_run_stops_it_and_leaves_no_rows(manager):
    manager._debug = {"delay_s": 0.05}
    run_id = manager.submit(tiny(steps=400), "adv", fresh=True)
    assert wait_for(lambda: len(manager.store.metrics_frame(run_id)) >= 1)
    assert manager.delete(run_id)
    assert manager.wait(run_id, GRACE_S + 5)
    time.sleep(0.2)
    assert manager.store.get_run(run_id) is None and len(manager.store.metrics_frame(run_id)) == 0
    assert manager.store.snapshot_steps(run_id) == []


def test_per_client_cap_and_queue_positions(manager):
    manager._debug = {"delay_s": 0.05}
    twins = manager.submit_twins(tiny(steps=400), client_id="student")
    assert set(twins) == {"std", "adv"}
    assert manager.store.get_run(twins["std"])["pair_id"] == manager.store.get_run(twins["adv"])["pair_id"]
    with pytest.raises(JobRefused, match="limit is 2"):
        manager.submit(tiny(seed=9), "std", client_id="student")
    third = manager.submit(tiny(seed=9), "std", client_id="teacher", fresh=True)
    assert wait_for(lambda: manager.queue_position(twins["adv"]) == 0)
    assert manager.queue_position(third) == 1 and manager.status(third) == "queued"
    assert sorted(manager.active("student")) == sorted(twins.values())
    manager.cancel(third)
    assert manager.store.get_run(third)["status"] == "cancelled"
    for run_id in twins.values():
        manager.cancel(run_id)
    assert manager.wait(twins.values(), GRACE_S + 5)
    assert manager.active() == []


def test_thirty_sessions_on_one_new_setup_share_one_twin_pair(manager):
    manager._debug = {"delay_s": 0.05}
    cfg = tiny(steps=400, seed=77)
    before = len(manager.store.list_runs())
    answers = [manager.submit_twins(cfg, client_id=f"session{i}") for i in range(30)]
    assert all(a == answers[0] for a in answers)  # every session attached to the first one's pair
    pair = manager.store.get_run(answers[0]["std"])["pair_id"]
    assert len(manager.store.list_runs()) == before + 2 and len(manager.store.pair_runs(pair)) == 2
    # attaching costs no cap: the first session's two runs are its own; the others hold none
    assert sorted(manager.active("session0")) == sorted(answers[0].values()) and manager.active("session1") == []
    assert manager.submit(cfg.replace(threads=2), "adv", client_id="late") == answers[0]["adv"]
    for run_id in answers[0].values():
        manager.cancel(run_id)
    assert manager.wait(answers[0].values(), GRACE_S + 30)
    fresh = manager.submit_twins(cfg, client_id="session1")  # nothing active or finished: a new pair
    assert set(fresh.values()).isdisjoint(answers[0].values())
    for run_id in fresh.values():
        manager.cancel(run_id)
    assert manager.wait(fresh.values(), GRACE_S + 30)


def test_twenty_students_start_twins_and_no_row_is_lost(manager):
    ids = {}
    for student in range(20):  # cap 2 per client: one twin each is allowed
        ids.update({f"{student}-{m}": r for m, r in
                    manager.submit_twins(tiny(steps=4, eval_every=1, seed=100 + student), client_id=f"s{student}",
                                         fresh=True).items()})
    assert manager.wait(ids.values(), 60)
    for run_id in ids.values():
        run = manager.store.get_run(run_id)
        assert run["status"] == "finished", run
        frame = manager.store.metrics_frame(run_id)
        assert frame["step"].tolist() == [0, 1, 2, 3, 4] and not frame[list(METRICS)].isna().any().any()
        assert manager.store.snapshot_steps(run_id) == [0, 1, 2, 3, 4]


SERVER = """
import json, sys, time
from core.runs.jobs import JobManager
from core.engine.presets import get_preset
m = JobManager(sys.argv[1], max_workers=1)
m._debug = {"delay_s": 0.05}
cfg = get_preset("classroom").config(steps=400, n_train=40, n_test=40, eval_every=5, threads=1, device="cpu")
running = m.submit(cfg, "std", fresh=True)
queued = m.submit(cfg, "adv", fresh=True)
while m.store.run_status(running) != "running":
    time.sleep(0.02)
print(json.dumps([running, queued]), flush=True)
time.sleep(60)
"""


def test_a_dead_server_leaves_interrupted_runs(tmp_path):
    path = tmp_path / "runs.sqlite"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(path)], stdout=subprocess.PIPE, text=True,
                              env=with_project())
    running, queued = json.loads(server.stdout.readline())
    server.kill()  # no shutdown, no atexit: as if the machine lost the process
    server.wait()
    store = RunStore(path)
    # the worker sees its stdin close, stops at the next step and records why
    assert wait_for(lambda: store.run_status(running) == "interrupted", 10)
    assert "server stopped" in store.get_run(running)["error"]
    assert store.run_status(queued) == "queued"
    assert store.mark_orphans_interrupted() == 1  # what a restarted manager does first
    assert "stopped while this run was queued" in store.get_run(queued)["error"]
