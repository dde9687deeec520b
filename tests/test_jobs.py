"""Background jobs: streaming, cancel, hard kill, a killed worker, orphans, admission, watchers, the fair queue,
the cache, many jobs, a store that fails under the scheduler."""

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
from core.runs.admission import Caps, Cost
from core.runs.jobs import JobManager, JobRefused, NotAllowed, Requester
from core.runs.schema import StoreError
from core.runs.store import RunStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module
GRACE_S = 1.0


def tiny(**changes):
    base = dict(steps=40, n_train=40, n_test=40, eval_every=5, threads=1, device="cpu")
    return get_preset("classroom").config(**{**base, **changes})


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = JobManager(tmp_path_factory.mktemp("jobs") / "runs.sqlite", max_workers=2, grace_s=GRACE_S)
    assert m.wait_ready(300)
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
    """The deadlines here are bounds for a busy machine (a replacement worker imports torch and loads the
    kernels: a minute beside four busy processes on two cores), not timings: only the grace is the rule."""
    manager._debug = {"hang_at": 0}  # step 0 reaches the store at once, then the step never ends
    run_id = manager.submit(tiny(), "std", fresh=True)
    assert wait_for(lambda: len(manager.store.metrics_frame(run_id)) == 1, 120)
    pid = manager.worker_pid(run_id)
    manager.cancel(run_id)
    assert manager.wait(run_id, GRACE_S + 120)
    assert wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 60)
    run = manager.store.get_run(run_id)
    assert run["status"] == "cancelled" and f"did not stop within {GRACE_S:g} s" in run["error"] and run["final"]
    assert wait_for(lambda: len(manager.worker_pids()) == 2 and manager.wait_ready(0), 240)  # replaced


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
    assert wait_for(lambda: len(manager.worker_pids()) == 2 and manager.wait_ready(0), 240)


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


class FixedCosts:
    """A run costs 30 s (81 s from 1000 steps on) and 1 MiB: the caps' arithmetic without timing anything."""

    @staticmethod
    def run(cfg, mode, threads):
        return Cost(81.0 if cfg.steps >= 1000 else 30.0, 2**20)


@pytest.fixture
def capped(manager):
    costs = manager._costs
    manager.caps, manager._costs = Caps(request_s=80, person_s=89, person_jobs=40, server_s=10_000), FixedCosts()
    yield manager
    manager.caps, manager._costs = None, costs
    for run_id in manager.active():
        manager.cancel(run_id)
    assert manager.wait(manager.active(), GRACE_S + 60)


def test_admission_is_by_a_budget_of_compute_and_queue_positions_follow(capped):
    manager = capped
    manager._debug = {"delay_s": 0.05}
    twins = manager.submit_twins(tiny(steps=400), client_id="student")  # 60 s of 89
    assert set(twins) == {"std", "adv"}
    assert manager.store.get_run(twins["std"])["pair_id"] == manager.store.get_run(twins["adv"])["pair_id"]
    before = len(manager.store.list_runs())
    with pytest.raises(JobRefused, match=r"you have 60 s of computing .* 60 s more; .* share on this server is 89 s"):
        manager.submit_twins(tiny(seed=9), client_id="student")  # 60 more: over the person's share
    with pytest.raises(JobRefused, match="about 81 s of computing, over this server's limit of 80 s per request"):
        manager.submit(tiny(steps=1000, seed=9), "std", client_id="teacher")
    assert len(manager.store.list_runs()) == before  # refused before anything was written
    manager._is_admin = lambda client: client == "student"  # the admin token lifts the caps
    try:
        lifted = manager.submit(tiny(seed=10), "std", client_id="student")
    finally:
        manager._is_admin = lambda client: False
    third = manager.submit(tiny(seed=9), "std", client_id="other", fresh=True)
    assert wait_for(lambda: manager.queue_position(twins["std"]) == manager.queue_position(twins["adv"]) == 0)
    # the fair queue: "other" has used nothing yet, so its run starts before the student's older one
    assert manager.queue_position(third) == 1 and manager.status(third) == "queued"
    assert manager.queue_position(lifted) == 2
    assert sorted(manager.active("student")) == sorted([*twins.values(), lifted])
    assert [row["place"] for row in manager.queue_view()] == [0, 0, 1, 2]
    manager.cancel(third)
    assert manager.store.get_run(third)["status"] == "cancelled"


def test_memory_is_admitted_for_the_runs_together(manager):
    class Heavy:
        @staticmethod
        def run(cfg, mode, threads):
            return Cost(1.0, 600 * 2**20)

    budget, costs = manager.memory_budget, manager._costs
    manager.memory_budget, manager._costs = 1000 * 2**20, Heavy()
    manager._debug = {"delay_s": 0.05}
    try:
        first = manager.submit(tiny(steps=400, seed=31), "std", fresh=True)
        second = manager.submit(tiny(steps=400, seed=32), "std", fresh=True)  # fits alone, not beside the first
        assert wait_for(lambda: manager.status(first) == "running")
        for _ in range(5):  # several scheduler ticks, a worker idle: the second still waits for memory
            assert manager.queue_position(second) == 1
            time.sleep(TICK)
        manager.memory_budget = 500 * 2**20
        with pytest.raises(JobRefused, match="needs about 600 MiB .* may hold 500 MiB together"):
            manager.submit(tiny(seed=33), "std", fresh=True)
        manager.memory_budget = 1000 * 2**20
        manager.cancel(first)
        assert wait_for(lambda: manager.status(second) == "running", 60)  # memory freed: it starts
        manager.cancel(second)
        assert manager.wait([first, second], GRACE_S + 60)
    finally:
        manager.memory_budget, manager._costs = budget, costs


TICK = 0.15


def test_a_shared_run_is_stopped_by_its_last_watcher_or_the_admin(manager):
    manager._debug = {"delay_s": 0.05}
    cfg = tiny(steps=400, seed=41)
    mine = manager.submit_twins(cfg, client_id="alice")
    assert manager.submit_twins(cfg, client_id="bob") == mine  # bob attaches: a watcher
    assert manager.watching(mine["std"], "bob") and manager.may_change(mine["std"], Requester("bob"))
    assert not manager.release(mine["std"], Requester("carol"))  # not a watcher: nothing happens
    assert manager.release(mine["std"], Requester("alice"))  # alice leaves; bob still watches
    time.sleep(5 * TICK)
    assert manager.status(mine["std"]) in ("queued", "running") and manager.active("alice") == [mine["adv"]]
    assert manager.release(mine["std"], Requester("bob"))  # the last watcher: stopped
    assert manager.release(mine["adv"], Requester("mallory", admin=True))  # the admin stops it for everyone
    assert manager.wait(mine.values(), GRACE_S + 60)
    assert {manager.store.run_status(r) for r in mine.values()} == {"cancelled"}
    assert "admin" in manager.store.get_run(mine["adv"])["error"]


def test_the_admin_stops_everything_of_one_person(manager):
    manager._debug = {"delay_s": 0.05}
    flood = [manager.submit(tiny(steps=400, seed=50 + i), "std", client_id="mallory", fresh=True) for i in range(3)]
    shared = manager.submit(tiny(steps=400, seed=60), "adv", client_id="alice", fresh=True)
    manager.submit(tiny(steps=400, seed=60), "adv", client_id="mallory")  # mallory watches alice's run too
    with pytest.raises(NotAllowed):
        manager.stop_person("mallory", Requester("alice"))
    assert manager.stop_person("mallory", Requester("teacher", admin=True)) == 4
    assert manager.wait(flood, GRACE_S + 60)
    assert {manager.store.run_status(r) for r in flood} == {"cancelled"}
    assert manager.status(shared) in ("queued", "running") and not manager.watching(shared, "mallory")
    manager.cancel(shared)
    assert manager.wait(shared, GRACE_S + 60)


def test_a_store_that_fails_under_the_scheduler_does_not_stop_it(manager, monkeypatch):
    """A full disk used to kill the scheduler thread: recording a failure raised again, and every later Run
    stayed queued. Now the status waits until the store takes it, and the next run works."""
    manager._debug = {"delay_s": 0.05}
    run_id = manager.submit(tiny(steps=400, seed=70), "std", fresh=True)
    assert wait_for(lambda: manager.status(run_id) == "running")
    real = manager.store.finish_run

    def full(*args, **kwargs):
        raise StoreError(manager.store.path, "the disk is full", "free space, then retry")

    monkeypatch.setattr(manager.store, "finish_run", full)
    queued = manager.submit(tiny(steps=400, seed=71), "std", fresh=True)
    manager.cancel(queued)  # a queued run's end is the server's write: it fails now
    os.kill(manager.worker_pid(run_id), signal.SIGKILL)  # so is a lost worker's
    assert manager.wait([run_id, queued], 60) and manager._thread.is_alive()
    assert "disk is full" in manager.last_fault and set(manager._unrecorded) == {run_id, queued}
    monkeypatch.setattr(manager.store, "finish_run", real)  # space freed
    assert wait_for(lambda: not manager._unrecorded, 30)
    assert manager.store.run_status(queued) == "cancelled" and manager.store.run_status(run_id) == "failed"
    manager._debug = None
    after = manager.submit(tiny(seed=72), "std", fresh=True)  # the next Run works, no restart
    assert manager.wait(after, 60) and manager.store.run_status(after) == "finished"
    assert wait_for(lambda: len(manager.worker_pids()) == 2 and manager.wait_ready(0), 240)


def test_thirty_sessions_on_one_new_setup_share_one_twin_pair(manager):
    manager._debug = {"delay_s": 0.05}
    cfg = tiny(steps=400, seed=77)
    before = len(manager.store.list_runs())
    answers = [manager.submit_twins(cfg, client_id=f"session{i}") for i in range(30)]
    assert all(a == answers[0] for a in answers)  # every session attached to the first one's pair
    pair = manager.store.get_run(answers[0]["std"])["pair_id"]
    assert len(manager.store.list_runs()) == before + 2 and len(manager.store.pair_runs(pair)) == 2
    # everyone watches the pair; it counts against the first session's share only
    assert sorted(manager.active("session1")) == sorted(answers[0].values())
    assert {row["person"] for row in manager.queue_view()} == {"session0"}
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
    for student in range(20):
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
