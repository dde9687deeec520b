"""A Dask cluster of real processes for the tests: a `dask scheduler` and `dask worker`s that do not have
this project on their path, so a sweep must ship its code to them as to another machine.

The scheduler runs in a process of its own, never in the test's: code shipped to a scheduler replaces
the ``core`` modules of the process it runs in.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from _subprocess_env import without_project

START_S = 90  # bound on waiting for processes to come up on a loaded machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_env() -> dict:
    """This machine's environment without the project: the project's root off PYTHONPATH."""
    return without_project()


class Cluster:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=self.folder, env=bare_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def scheduler(self):
        port = self.address.rsplit(":", 1)[1]
        self.start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")

    def worker(self, name: str):
        self.start(name, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                   "--no-dashboard", "--name", name, "--local-directory", str(self.folder / name))

    def kill(self, name: str):
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its nanny: a machine that went away
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def close(self):
        for name in [n for n in self.procs if n != "scheduler"] + ["scheduler"]:
            if name in self.procs:
                self.kill(name)



def start_cluster(folder: Path, workers: int = 2) -> Cluster:
    """A scheduler and ``workers`` workers, up and connected (bounded wait); the caller closes it."""
    from distributed import Client

    cluster = Cluster(folder)
    try:
        cluster.scheduler()
        for i in range(workers):
            cluster.worker(f"w{i + 1}")
        with Client(cluster.address, timeout=START_S, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=START_S)
    except BaseException:
        cluster.close()
        raise
    return cluster
