"""Sweeps are jobs like runs: admitted against the budget, trained by a job worker (niced, no extra processes),
written to the store as each run ends, stoppable by their owner and the admin, and the Runs page lists the
older runs as before. Long jobs (sweeps, long runs) take the background worker, never the class's."""

from pathlib import Path

import psutil
import pytest
from _waiting import wait_for  # tests/ is on the path
from streamlit.testing.v1 import AppTest

from core.engine.presets import get_preset
from core.runs.admission import Caps
from core.runs.jobs import JobManager, JobRefused, Requester
from core.runs.sweep import sweep_frame
from core.runs.sweep_spec import SweepSpec, parse_grid

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module
APP = str(Path(__file__).resolve().parents[1] / "app.py")
BASE = get_preset("classroom").config(steps=300, n_train=40, n_test=40, eval_every=300, device="cpu")


def spec(grid: str = "eps=0.1:0.35:6", seeds: int = 1) -> SweepSpec:
    return SweepSpec(BASE, (parse_grid(grid, BASE),), seeds, "both")


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """One class worker and one background worker, as the dashboard has (two per two cores there)."""
    with JobManager(tmp_path_factory.mktemp("sweeps") / "runs.sqlite", max_workers=1, background_workers=1,
                    grace_s=30.0) as m:
        assert m.wait_ready(300)
        yield m


def test_a_sweep_job_writes_each_run_as_it_ends_and_stops_leaving_only_those(manager):
    older = manager.submit(BASE.replace(steps=5, seed=9), "std", client_id="alice")
    assert manager.wait(older, 120)
    sweep_id = manager.submit_sweep(spec(), client_id="alice", preset="classroom")
    store = manager.store
    assert store.get_run(sweep_id)["mode"] == "sweep" and store.get_run(sweep_id)["steps"] == 12
    assert store.list_runs(status="queued", sweeps=True) == [] or all(
        r["id"] == sweep_id for r in store.list_runs(status="queued"))  # no queued rows of its runs, ever
    assert wait_for(lambda: len(sweep_frame(store, sweep_id)) >= 1, 240)
    worker = psutil.Process(manager.worker_pid(sweep_id))
    assert worker.nice() == 19 and worker.children() == []  # trained in the background worker itself
    with pytest.raises(Exception, match="another browser"):
        manager.cancel(sweep_id, requester=Requester("bob"))
    assert not manager.release(sweep_id, Requester("bob"))
    assert manager.release(sweep_id, Requester("alice"))  # its owner stops it
    assert manager.wait(sweep_id, 120)
    row = store.get_run(sweep_id)
    runs = [r for r in store.list_runs() if r["sweep_id"] == sweep_id]
    assert row["status"] == "cancelled" and 1 <= len(runs) == row["step"] < 12
    assert {r["status"] for r in runs} == {"finished"} and all(r["final"] for r in runs)
    frame = sweep_frame(store, sweep_id)
    assert len(frame) == len(runs) and set(frame["run_id"]) == {r["id"] for r in runs}
    listed = store.list_runs(limit=500, sweeps=False)
    assert [r["id"] for r in listed] == [older]  # the older run is listed; the sweep's are apart
    assert store.count_sweeps() == (1, len(runs))


def test_a_sweep_is_admitted_against_the_budget_and_never_takes_the_class_s_worker(manager):
    manager.caps = Caps(request_s=1.0, person_s=600, person_jobs=40, server_s=10_000)
    try:
        before = len(manager.store.list_runs())
        with pytest.raises(JobRefused, match="over this server's limit of 1.0 s per request"):
            manager.submit_sweep(spec("eps=0.05:0.45:60", seeds=5), client_id="mallory")
        assert len(manager.store.list_runs()) == before  # refused before anything was written
    finally:
        manager.caps = None
    first = manager.submit_sweep(spec("eps=0.1:0.35:6", seeds=2), client_id="mallory")
    second = manager.submit_sweep(spec("eps=0.1:0.35:6", seeds=3), client_id="mallory")
    assert wait_for(lambda: manager.status(first) == "running", 120)
    run = manager.submit(BASE.replace(steps=5, seed=10), "std", client_id="alice")
    assert manager.wait(run, 120)  # a run still gets the other worker
    assert manager.queue_position(second) == 1  # one sweep at a time on the one background worker
    admin = Requester("teacher", admin=True)
    assert manager.release(first, admin) and manager.release(second, admin)  # the admin stops anyone's sweep
    assert manager.wait([first, second], 120)
    assert {manager.store.run_status(s) for s in (first, second)} == {"cancelled"}


def test_the_runs_page_lists_the_older_runs_apart_from_the_sweeps(manager, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("RFL_STORE", str(manager.store.path))
    monkeypatch.setenv("RFL_PREWARM", "0")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.switch_page("pages/runs.py").run()
        assert not at.exception
        ids = set(at.dataframe[0].value["id"])
        assert {r["id"] for r in manager.store.list_runs(sweeps=False)} == ids
        assert any("of 3 sweep(s) are on the Sweep page" in c.value for c in at.caption)
        at.toggle(key="runs_with_sweeps").set_value(True).run()
        assert len(at.dataframe[0].value) == len(manager.store.list_runs())
    finally:
        st.cache_resource.clear()


def test_a_long_run_waits_for_the_background_worker_and_a_short_one_goes_first(manager):
    class Costs:
        @staticmethod
        def run(cfg, mode, threads):
            from core.runs.admission import Cost

            return Cost(600.0 if cfg.steps > 1000 else 3.0, 2**20)

    costs, manager._costs = manager._costs, Costs()
    try:
        blocker = manager.submit(BASE.replace(steps=5000, seed=20), "std", client_id="mallory")  # background
        long_second = manager.submit(BASE.replace(steps=5000, seed=21), "std", client_id="mallory")
        assert wait_for(lambda: manager.status(blocker) == "running", 120)
        assert manager._jobs[blocker].worker.background
        short = manager.submit(BASE.replace(steps=5, seed=22), "std", client_id="alice")
        assert manager.queue_position(short) <= 1  # the short run is next (or running), though submitted last
        assert manager.wait(short, 120) and manager.store.run_status(short) == "finished"
        assert manager.queue_position(long_second) == 1  # a long run never took the class's worker
    finally:
        manager._costs = costs
        for run_id in manager.active():
            manager.cancel(run_id)
        assert manager.wait(manager.active(), 120)
