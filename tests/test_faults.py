"""Nothing lost under faults: each fault of the run store ends in a clear state and a one-line StoreError
naming the file and what to do, and no committed run or metric row is lost (docs/store.md lists the promises).

Faults: a writer killed mid-write, a server killed mid-run, two servers on one store, a full disk
(SQLite's max_page_count), a file that is not a database, a file of a newer schema, an older file.
"""

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _subprocess_env import with_project  # tests/ is on the path
from streamlit.testing.v1 import AppTest

from core.engine.metrics import METRICS
from core.engine.presets import get_preset
from core.runs.schema import SCHEMA_VERSION, StoreError
from core.runs.store import RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ENV = with_project()


@pytest.fixture
def cfg():
    return get_preset("classroom").config(steps=30, n_train=40, eval_every=10, threads=1, device="cpu")


def row(step):
    return {"step": step, **{name: step + i / 100 for i, name in enumerate(METRICS)}}


def steps_complete(store: RunStore, run_id: str) -> list[int]:
    """Logged steps, after checking that each holds all its metrics (a batch is never half-written)."""
    frame = store.metrics_frame(run_id)
    assert not frame[list(METRICS)].isna().any().any(), "a metrics row was half-written"
    return frame["step"].tolist()


def one_line(err: StoreError, path: Path) -> str:
    message = str(err)
    assert len(message.splitlines()) == 1 and str(path) in message
    return message


# ---- files that cannot be a store ------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "runs.sqlite"
    junk = b"these are my lecture notes, not a database\n" * 200
    path.write_bytes(junk)
    with pytest.raises(StoreError) as err:
        RunStore(path).check()
    assert "not a readable SQLite database" in one_line(err.value, path) and "RFL_STORE" in str(err.value)
    assert path.read_bytes() == junk


def test_a_newer_schema_is_refused_and_never_altered(tmp_path, cfg):
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    run_id = store.create_run(cfg, "std")
    store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as err:
        RunStore(path).check()
    assert "newer version" in one_line(err.value, path) and "upgrade" in str(err.value)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT id FROM runs").fetchall() == [(run_id,)]


def test_a_store_from_before_versions_is_migrated_with_its_rows(tmp_path, cfg):
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    run_id = store.create_run(cfg, "std")
    store.log_metrics(run_id, [row(0), row(10)])
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=0")  # what every file written before schema versions holds
    store = RunStore(path)
    assert steps_complete(store, run_id) == [0, 10]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_pages_show_a_broken_store_in_one_line(app_env):
    app_env.write_bytes(b"not a database" * 100)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["pair"] = "abc123"  # the link's pair is looked up in the store
    at.run()
    shows_the_broken_store(at)
    at.switch_page("pages/runs.py").run()
    shows_the_broken_store(at)
    assert at.toggle(key="frame_presentation") is not None  # the frame stays usable


def shows_the_broken_store(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [len(e.value.splitlines()) for e in at.error] == [1], [e.value for e in at.error]
    assert "not a readable SQLite database" in at.error[0].value and "RFL\\_STORE" in at.error[0].value


# ---- a full disk -----------------------------------------------------------------------------------
def test_a_full_disk_fails_one_batch_whole_and_keeps_every_committed_row(tmp_path, cfg):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run(cfg, "std")
    store.start_run(run_id, "cpu")
    store.log_batch(run_id, rows=[row(0), row(10)], step=10)
    db = store._conn()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")  # the disk is full now
    big = [row(step) for step in range(20, 20 + 5000)]
    with pytest.raises(StoreError) as err:
        store.log_batch(run_id, rows=big, step=5019)
    assert "disk is full" in one_line(err.value, store.path)
    assert steps_complete(store, run_id) == [0, 10] and store.get_run(run_id)["step"] == 10
    db.execute("PRAGMA max_page_count=1073741823")  # space freed: the store takes writes again
    store.log_batch(run_id, rows=[row(20)], step=20)
    store.finish_run(run_id, "finished")
    assert steps_complete(store, run_id) == [0, 10, 20] and store.get_run(run_id)["status"] == "finished"
    store.close()


def test_an_os_error_in_the_write_path_is_a_store_error(tmp_path, cfg, monkeypatch):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run(cfg, "std")
    real = store._conn()

    class FullDisk:
        """The store's connection, except that inserting rows hits ENOSPC inside the transaction."""

        def __getattr__(self, name):
            return getattr(real, name)

        def executemany(self, *_args):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_db", FullDisk())
    with pytest.raises(StoreError, match="disk is full"):
        store.log_batch(run_id, rows=[row(0)], step=0)
    assert not real.in_transaction  # rolled back whole
    monkeypatch.setattr(store, "_db", real)
    assert store.get_run(run_id)["step"] is None and steps_complete(store, run_id) == []
    store.close()


# ---- processes killed, two servers -----------------------------------------------------------------
WRITER = """
import sys
from core.engine.metrics import METRICS
from core.engine.presets import get_preset
from core.runs.store import RunStore
store = RunStore(sys.argv[1])
cfg = get_preset("classroom").config()
run_id = store.create_run(cfg, "std")
store.start_run(run_id, "cpu")
print(run_id, flush=True)
step = 0
while True:  # killed from outside while writing: batches of 50 steps, each one transaction
    rows = [{"step": s, **{n: s + i / 100 for i, n in enumerate(METRICS)}} for s in range(step, step + 50)]
    store.log_batch(run_id, rows=rows, snapshots=[(step, [[float(step)] * 64] * 64)], step=step + 49)
    step += 50
    if step == 500:
        print("written", flush=True)
"""


def start_writer(path: Path) -> tuple[subprocess.Popen, str]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=ENV)
    return writer, writer.stdout.readline().strip()


def test_a_writer_killed_mid_write_leaves_whole_batches_and_an_interrupted_run(tmp_path):
    path = tmp_path / "runs.sqlite"
    writer, run_id = start_writer(path)
    assert writer.stdout.readline().strip() == "written"  # at least ten batches committed, more under way
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    store = RunStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    steps = steps_complete(store, run_id)
    assert len(steps) >= 500 and len(steps) % 50 == 0 and steps == list(range(len(steps)))  # whole batches
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["step"] == steps[-1]  # progress matches the last whole batch
    assert store.mark_orphans_interrupted() == 1  # the next server start: its owner is gone
    run = store.get_run(run_id)
    assert run["status"] == "interrupted" and f"step {steps[-1]}" in run["error"]
    assert steps_complete(store, run_id) == steps  # nothing lost by the clean-up
    store.close()


def test_two_servers_on_one_store_lose_nothing_and_leave_each_others_runs_alone(tmp_path, cfg):
    """Two processes write at once; this one also runs the start-up clean-up meanwhile, which must not
    touch the other's live run."""
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    other, other_run = start_writer(path)
    try:
        mine = store.create_run(cfg, "adv")
        store.start_run(mine, "cpu")
        for step in range(0, 300, 10):
            store.log_batch(mine, rows=[row(step)], step=step)
            assert store.mark_orphans_interrupted() == 0
        assert store.run_status(other_run) == "running"
        store.finish_run(mine, "finished")
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
    assert steps_complete(store, mine) == list(range(0, 300, 10))
    assert len(steps_complete(store, other_run)) % 50 == 0
    assert store.get_run(mine)["status"] == "finished"
    store.close()


def test_the_command_line_on_a_file_that_is_not_a_store_says_so_in_one_line(tmp_path, capsys):
    from core.cli.main import main

    bogus = tmp_path / "notes.sqlite"
    bogus.write_bytes(b"these are my notes, not a database" * 100)
    assert main(["runs", "list", "--store", str(bogus)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert bogus.read_bytes() == b"these are my notes, not a database" * 100  # left as it was


# ---- the job manager and the pages on a store that fails ---------------------------------------------
def test_a_full_disk_fails_a_run_and_the_next_run_works_without_a_restart(tmp_path):
    """A real full disk (a small tmpfs, root only): the run that hits it fails with the reason, the scheduler
    keeps serving, a submit meanwhile is refused in one line, and once space is freed the reason is recorded
    and the next run trains, in the same manager."""
    from _disks import fill, small_disk  # tests/ is on the path
    from _waiting import wait_for

    from core.runs.jobs import JobManager, JobRefused

    with small_disk(tmp_path / "disk", 3 * 1024) as disk:
        manager = JobManager(disk / "runs.sqlite", max_workers=1, grace_s=5.0)
        try:
            assert manager.wait_ready(240)
            manager._debug = {"delay_s": 0.02}
            cfg = get_preset("classroom").config(steps=2000, n_train=40, n_test=40, eval_every=1, threads=1,
                                                 device="cpu")
            doomed = manager.submit(cfg, "std")
            assert wait_for(lambda: len(manager.store.metrics_frame(doomed)) > 0, 120)
            filler = fill(disk)
            assert manager.wait(doomed, 240) and manager._thread.is_alive()
            with pytest.raises(JobRefused) as refused:
                manager.submit(cfg.replace(seed=5), "std")
            assert "disk is full" in str(refused.value) and "\n" not in str(refused.value)
            filler.unlink()  # space freed: no restart
            assert wait_for(lambda: manager.store.run_status(doomed) == "failed", 60)
            error = manager.store.get_run(doomed)["error"]
            assert "disk is full" in error and "\n" not in error
            manager._debug = None
            after = manager.submit(cfg.replace(steps=20, eval_every=10, seed=6), "std")
            assert manager.wait(after, 240) and manager.store.run_status(after) == "finished"
        finally:
            manager.shutdown()
            manager.store.close()


def test_a_read_only_store_refuses_runs_and_votes_in_one_line(app_env):
    """A store file nobody may write: the manager refuses a submit, the Lab and the Room say so in one line."""
    from _disks import read_only

    from core.classroom.rooms import Rooms

    store = RunStore(app_env)
    store.check()
    Rooms(app_env).close()  # the rooms' tables exist
    store.close()
    for extra in app_env.parent.glob("runs.sqlite-*"):
        extra.unlink()
    with read_only(app_env):
        lab = AppTest.from_file(APP, default_timeout=60)
        lab.session_state["client_id"] = "alice"
        lab.switch_page("pages/lab.py").run()
        from core.runs.jobs import get_manager

        manager = get_manager(app_env, max_workers=1)  # the page's manager, already made: no workers to wait for
        try:
            lab.button(key="lab_run").click().run()
            assert not lab.exception, [e.value for e in lab.exception]
            assert [len(e.value.splitlines()) for e in lab.error] == [1] and "cannot be written" in lab.error[0].value
            room = AppTest.from_file(APP, default_timeout=60).switch_page("pages/room.py").run()
            room.button(key="room_open").click().run()
            assert not room.exception, [e.value for e in room.exception]
            assert [len(e.value.splitlines()) for e in room.error] == [1] and "cannot be written" in room.error[0].value
        finally:
            manager.shutdown()


def test_every_page_shows_a_broken_store_in_one_line(app_env):
    """Not a database: the Room's own SQLite errors too, and the Sweep page's."""
    app_env.write_bytes(b"not a database" * 100)
    for page in ("pages/room.py", "pages/sweep.py", "pages/real.py", "pages/runs.py"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["room"] = "ABCDEF"
        at.query_params["real"] = "abc123"
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.error and all(len(e.value.splitlines()) == 1 for e in at.error), page
        assert any("not a readable" in e.value for e in at.error), (page, [e.value for e in at.error])
