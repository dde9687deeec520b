"""The run store: lifecycle, metrics as a frame, exact snapshots, cache keys, orphans, concurrent readers."""

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import torch
from _subprocess_env import with_project  # tests/ is on the path

import core.runs.store as store_module
from core.engine.config import Config
from core.engine.metrics import METRICS
from core.engine.presets import get_preset
from core.runs.store import RunStore, code_version, default_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


@pytest.fixture
def cfg():
    return get_preset("classroom").config(steps=30, n_train=40, eval_every=10, threads=1, device="cpu")


def row(step, base=0.0):
    return {"step": step, **{name: base + i / 100 for i, name in enumerate(METRICS)}}


def test_lifecycle_and_get_run(store, cfg):
    run_id = store.create_run(cfg, "adv", pair_id="p1", preset="classroom", client_id="alice")
    run = store.get_run(run_id)
    assert run["status"] == "queued" and run["mode"] == "adv" and run["pair_id"] == "p1"
    assert run["preset"] == "classroom" and run["client_id"] == "alice" and run["steps"] == 30
    assert Config.from_dict(run["config"]) == cfg and run["final"] == {} and run["seed"] == cfg.seed
    store.start_run(run_id, "cpu")
    store.log_metrics(run_id, [row(0), row(10, 1.0)])
    assert store.log_progress(run_id, 12)
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["device"] == "cpu" and run["step"] == 12 and run["started"]
    assert run["final"] == pytest.approx({k: v for k, v in row(10, 1.0).items() if k != "step"})
    assert store.finish_run(run_id, "finished")
    assert not store.finish_run(run_id, "failed", "late", only_if_active=True)  # an ended run stays ended
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["finished"] >= run["started"] and run["error"] is None
    assert store.get_run("nope") is None
    with pytest.raises(ValueError):
        store.finish_run(run_id, "done")


def test_metrics_frame_is_sorted_wide_and_complete(store, cfg):
    run_id = store.create_run(cfg, "std")
    empty = store.metrics_frame(run_id)
    assert list(empty.columns) == ["step", *METRICS] and len(empty) == 0
    store.log_metrics(run_id, [row(20), row(0)])
    store.log_metrics(run_id, [{**row(10), "acc_pgd": float("nan")}])
    frame = store.metrics_frame(run_id)
    assert list(frame.columns) == ["step", *METRICS]
    assert frame["step"].tolist() == [0, 10, 20] and str(frame["step"].dtype) == "int64"
    assert math.isnan(frame.loc[1, "acc_pgd"]) and frame.loc[2, "corr_robust"] == 0.0
    assert store.metrics_frame(run_id, since_step=0)["step"].tolist() == [10, 20]
    store.log_metrics(run_id, [row(20, 5.0)])  # the same step again replaces, never duplicates
    assert len(store.metrics_frame(run_id)) == 3


def test_snapshots_round_trip_exactly_as_raw_float32(store, cfg):
    run_id = store.create_run(cfg, "adv")
    W = torch.randn(50, 40, generator=torch.Generator().manual_seed(0))
    store.log_snapshots(run_id, [(10, W * 2), (0, W)])
    store.log_snapshot(run_id, 20, W.double())
    assert store.snapshot_steps(run_id) == [0, 10, 20]
    back = store.load_snapshot(run_id, 10)
    assert back.dtype == torch.float32 and torch.equal(back, W * 2)
    shape, dtype, data = store._read("SELECT shape, dtype, data FROM snapshots WHERE step=0")[0]
    assert json.loads(shape) == [50, 40] and dtype == "<f4" and len(data) == W.numel() * 4
    with pytest.raises(KeyError):
        store.load_snapshot(run_id, 5)


def test_list_pairs_and_delete(store, cfg):
    std = store.create_run(cfg, "std", pair_id="pair")
    adv = store.create_run(cfg, "adv", pair_id="pair")
    other = store.create_run(cfg.replace(seed=1), "std")
    store.finish_run(other, "failed", "boom")
    assert [r["id"] for r in store.list_runs()] == [other, adv, std]
    assert [r["id"] for r in store.list_runs(limit=1)] == [other]
    assert [r["id"] for r in store.list_runs(status="failed")] == [other]
    assert [r["mode"] for r in store.pair_runs("pair")] == ["std", "adv"]
    store.log_metrics(adv, [row(0)])
    store.log_snapshot(adv, 0, torch.zeros(2, 2))
    assert store.delete_run(adv) and not store.delete_run(adv)
    assert store.get_run(adv) is None and store.snapshot_steps(adv) == [] and len(store.metrics_frame(adv)) == 0
    assert not store.log_batch(adv, rows=[row(10)], step=10)  # a deleted run takes no more rows
    assert store._read("SELECT COUNT(*) FROM metrics WHERE run_id=?", (adv,))[0][0] == 0
    assert store.ids_with_prefix(std[:5]) == [std]


def test_find_cached_ignores_device_and_threads_only(store, cfg):
    run_id = store.create_run(cfg, "std")
    assert store.find_cached(cfg, "std") is None  # only finished runs count
    store.finish_run(run_id, "finished")
    assert store.find_cached(cfg.replace(device="auto", threads=0), "std") == run_id
    assert store.find_cached(cfg, "adv") is None
    assert store.find_cached(cfg.replace(seed=1), "std") is None
    assert store.find_cached(cfg.replace(eps=0.25), "std") is None


def test_orphans_of_a_dead_process_become_interrupted(store, cfg):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = store.create_run(cfg, "std")
    orphan = store.create_run(cfg, "adv")
    queued = store.create_run(cfg, "std")
    store.start_run(orphan, "cpu")
    store.log_progress(orphan, 7)
    owner = f"{socket.gethostname()}:{dead.pid}:1.00"
    with store._write() as db:
        db.execute("UPDATE runs SET owner=? WHERE id IN (?, ?)", (owner, orphan, queued))
    assert store.mark_orphans_interrupted() == 2
    assert store.get_run(mine)["status"] == "queued"  # this process lives: its run is not an orphan
    run = store.get_run(orphan)
    assert run["status"] == "interrupted" and "step 7" in run["error"] and str(dead.pid) in run["error"]
    assert store.get_run(queued)["status"] == "interrupted"
    assert store.mark_orphans_interrupted() == 0


def test_a_live_owner_stays_alive_when_the_clock_steps_and_a_reused_pid_does_not_pass_for_it(monkeypatch):
    """A time sync or a virtual machine's resume moves the clock, and with it every start time read from it
    (psutil's create_time); a server's runs must not then look orphaned to another process (seen once: in a run
    of the suite during which the VM was snapshotted and resumed, this process's own runs marked interrupted)."""
    psutil = pytest.importorskip("psutil")
    owner = store_module.owner_id()
    host, pid = owner.split(":")[:2]
    if len(owner.split(":")) < 4:
        pytest.skip("this OS does not tell a process's start since boot")
    assert store_module.owner_alive(owner) and store_module.owner_pid(owner) == str(os.getpid())
    stepped = psutil.Process.create_time
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: stepped(self) + 3600.0)  # the clock jumps
    assert store_module.owner_alive(owner)
    since_boot = float(owner.split(":")[3])
    assert not store_module.owner_alive(f"{host}:{pid}:0.00:{since_boot + 5:.2f}")  # the pid, another process
    monkeypatch.undo()
    legacy = ":".join(owner.split(":")[:3])  # written before the start since boot was: still read
    assert store_module.owner_alive(legacy) and store_module.owner_pid(legacy) == pid
    assert store_module.owner_alive(f"another-host:{pid}:0.00:0.00")  # cannot be told: taken as alive
    assert not store_module.owner_alive(None) and store_module.owner_pid(None) == "?"


READER = """
import json, sys, time
from core.runs.store import RunStore
store = RunStore(sys.argv[1])
print("ready", flush=True)
seen = []
deadline = time.time() + 20
while time.time() < deadline:
    run = store.get_run(sys.argv[2])
    seen.append([run["status"], run["step"], len(run["final"])])
    if run["status"] == "finished":
        break
    time.sleep(0.02)
print(json.dumps(seen))
"""


def test_reader_in_another_process_sees_rows_while_writing(store, cfg):
    run_id = store.create_run(cfg, "std")
    store.start_run(run_id, "cpu")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store.path), run_id], stdout=subprocess.PIPE,
                              text=True, env=with_project())
    assert reader.stdout.readline().strip() == "ready"
    for step in range(20):
        store.log_batch(run_id, rows=[row(step)], step=step)
        time.sleep(0.03)
    store.finish_run(run_id, "finished")
    seen = json.loads(reader.communicate(timeout=30)[0])
    partial = [step for status, step, n in seen if status == "running" and step is not None and 0 < step < 19]
    assert partial, seen  # the reader saw the run mid-way, rows and all
    assert all(n == len(METRICS) for status, step, n in seen if step is not None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(store, cfg):
    run_id = store.create_run(cfg, "std")
    store.run_status(run_id)  # the parent's connection is open before the fork
    pid = os.fork()
    if pid == 0:
        try:
            store.log_metrics(run_id, [row(5)])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    store.log_metrics(run_id, [row(6)])
    assert store.metrics_frame(run_id)["step"].tolist() == [5, 6]


def test_wal_default_path_and_code_version(store, tmp_path, monkeypatch):
    assert store._read("PRAGMA journal_mode")[0][0] == "wal"
    monkeypatch.setenv("RFL_STORE", str(tmp_path / "elsewhere.sqlite"))
    assert default_path() == tmp_path / "elsewhere.sqlite"
    assert code_version().endswith("+" + store_module.source_hash())


@pytest.fixture
def core_copy(tmp_path, monkeypatch):
    """A copy of core/ that the store hashes instead of the real one; the cached hash is dropped both ways."""
    copy = shutil.copytree(store_module.CORE_DIR, tmp_path / "core", ignore=shutil.ignore_patterns("__pycache__"))
    store_module.source_hash.cache_clear()
    monkeypatch.setattr(store_module, "CORE_DIR", copy)
    yield copy
    store_module.source_hash.cache_clear()


def _rehash() -> str:
    store_module.source_hash.cache_clear()
    return store_module.source_hash()


def test_code_hash_follows_the_result_code_only(core_copy, cfg):
    """Same code, same key; an edit to core/engine or core/real, a new key; an edit elsewhere keeps the cache."""
    first, first_key = _rehash(), store_module.config_key(cfg, "adv")
    assert _rehash() == first and store_module.config_key(cfg, "adv") == first_key
    assert set(store_module.RESULT_CODE_DIRS) == {"engine", "real"}
    for elsewhere in ("cli/main.py", "runs/jobs.py", "runs/store.py"):
        with open(core_copy / elsewhere, "a") as f:
            f.write("\n# an edit that cannot change a result\n")
        assert _rehash() == first, elsewhere
    assert store_module.config_key(cfg, "adv") == first_key
    seen = {first}
    for result_code in ("engine/train.py", "real/pipeline.py"):
        with open(core_copy / result_code, "a") as f:
            f.write("\n# an edit to the code that produces results\n")
        assert _rehash() not in seen, result_code
        seen.add(_rehash())
    (core_copy / "engine" / "new_metric.py").write_text("X = 1\n")  # a new result-code file counts too
    assert _rehash() not in seen
    assert store_module.config_key(cfg, "adv") != first_key
