"""Sweeps on a real Dask cluster: a `dask scheduler` and `dask worker` processes that do not have this project.

One cluster serves the module: the scheduler and two workers run in a temporary folder without the
project on PYTHONPATH, so ``import core`` fails there until a sweep ships the code (checked first). The
tests compare the cluster's CSV with loky's, kill a worker mid-sweep, stop a sweep, fail a task,
and point the command line at a closed port. Every process is killed in teardown.
"""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _dask_processes import START_S, Cluster, free_port

from core.engine.presets import get_preset
from core.runs.cluster import ClusterError, cluster_status, run_tasks
from core.runs.store import RunStore
from core.runs.sweep import run_sweep, sweep_csv
from core.runs.sweep_spec import SweepSpec, parse_grid

ROOT = Path(__file__).resolve().parents[1]
BASE = get_preset("classroom").config(steps=40, threads=1, device="cpu")


def by_value_probe():
    """Where ``core`` comes from on a worker (None: not importable). Nested, so it is sent by value."""

    def where():
        import importlib.util

        spec = importlib.util.find_spec("core")
        return None if spec is None else str(spec.origin)

    return where


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from distributed import Client

    cluster = Cluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.scheduler()
        cluster.worker("w1")
        cluster.worker("w2")
        with Client(cluster.address, timeout=START_S, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_S)
            # the premise: these workers cannot import the project before a sweep ships it
            assert set(client.run(by_value_probe()).values()) == {None}
        yield cluster
    finally:
        cluster.close()


def spec(points: str = "eps=0.1,0.3", seeds: int = 2) -> SweepSpec:
    return SweepSpec(BASE, (parse_grid(points, BASE),), seeds, "std")


def sweep_cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", "sweep", "--preset", "classroom", "--set", "steps=40",
                           "--set", "threads=1", "--mode", "std", "--quiet", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_cluster_without_the_project_gives_loky_s_csv(cluster):
    from distributed import Client

    loky = run_sweep(spec(), jobs=2)
    dask = run_sweep(spec(), backend="dask", scheduler=cluster.address)
    assert sweep_csv(dask) == sweep_csv(loky) and len(dask) == 4 and (dask["status"] == "finished").all()
    with Client(cluster.address, timeout=START_S, set_as_default=False) as client:
        origins = list(client.run(by_value_probe()).values())
    assert len(origins) == 2 and all("/rfl-core-" in o and ".zip/core/" in o for o in origins)  # the shipped zip
    status = cluster_status(cluster.address)
    assert status.error is None and [w.name for w in status.workers] == ["w1", "w2"] and status.threads == 2


def test_a_killed_worker_s_points_run_on_the_others(cluster):
    from distributed import Client

    cluster.worker("victim")
    with Client(cluster.address, timeout=START_S, set_as_default=False) as monitor:
        monitor.wait_for_workers(3, timeout=START_S)
        victim = next(a for a, w in monitor.scheduler_info(n_workers=-1)["workers"].items() if w["name"] == "victim")
        sweep = spec("eps=0.1,0.2,0.3", seeds=2)
        out: dict = {}
        thread = threading.Thread(target=lambda: out.update(frame=run_sweep(sweep, backend="dask",
                                                                              scheduler=cluster.address)))
        thread.start()
        killed = False
        for _ in range(int(START_S / 0.05)):  # bounded: until the victim holds a task of the sweep
            if monitor.processing(workers=[victim]).get(victim):
                cluster.kill("victim")
                killed = True
                break
            if not thread.is_alive():
                break
            time.sleep(0.05)
        thread.join(timeout=180)
    assert killed and not thread.is_alive()
    frame = out["frame"]
    assert len(frame) == len(sweep) and (frame["status"] == "finished").all()


def test_a_stopped_cluster_sweep_keeps_what_finished(cluster, tmp_path):
    store = RunStore(tmp_path / "runs.db")  # written by this process alone, as results come back
    sweep = spec("eps=0.1,0.15,0.2,0.25", seeds=2)
    rows = []
    frame = run_sweep(sweep, backend="dask", scheduler=cluster.address, callback=rows.append,
                      should_stop=lambda: bool(rows), store=store)
    assert 1 <= len(frame) < len(sweep) and (frame["status"] == "finished").all()
    statuses = [r["status"] for r in store.list_runs()]  # runs never started are not written; none left active
    assert statuses.count("finished") == len(frame) and set(statuses) <= {"finished", "cancelled"}


def test_a_task_that_raises_reaches_the_client_in_one_line(cluster):
    from core.runs.cluster import dask_client

    with dask_client(cluster.address, 2) as client, pytest.raises(ClusterError) as err:
        run_tasks(client, [([], 1, None)], on_result=lambda _: None, should_stop=lambda: False)
    assert "IndexError" in str(err.value) and "\n" not in str(err.value) and err.value.started


def test_a_closed_port_ends_the_command_with_one_line_and_code_2(tmp_path):
    # The command bounds its own connect (cluster.CONNECT_TIMEOUT_S): it ends with a message rather than waiting.
    # A hang fails at the subprocess's timeout; how long it takes is measured by hand, not asserted (loaded CI).
    result = sweep_cli("--grid", "eps=0.1", "--scheduler", f"tcp://127.0.0.1:{free_port()}", timeout=60)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the Dask scheduler") and "0 of 1 runs finished" in last
