"""Sweeps on a Dask cluster: connect within a bound, ship this project's code, run, report failures.

A cluster is a ``dask scheduler`` and ``dask worker`` processes started by hand (docs/cluster.md)
on machines that have the dependencies (requirements.txt) but not this project. ``dask_client``
connects (``CONNECT_TIMEOUT_S`` at most), uploads a zip of the ``core`` package to the scheduler
and every worker (workers that join later get it too), and checks that each can import the
sweep's task before any task is sent. ``run_tasks`` submits the tasks and streams results back;
every way a cluster can fail ends in a ``ClusterError`` with one line naming the cause:

* the scheduler cannot be reached, or has no workers  -> before any work (exit code 2 in the CLI);
* a worker cannot import or run a task                 -> the worker's exception, after ``RETRIES``;
* a worker dies                                        -> its tasks run again elsewhere (Dask
  reschedules them); a task whose workers keep dying ends as ``KilledWorker``;
* every worker leaves, or the scheduler goes away      -> after ``NO_WORKERS_GRACE_S``.

Results come back to the client, which alone writes the run store.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CONNECT_TIMEOUT_S = 10.0  # a scheduler that does not answer within this is reported, not waited on
STATUS_TIMEOUT_S = 3.0  # the Sweep page asks within this, so a page never hangs on a dead address
NO_WORKERS_GRACE_S = 30.0  # workers restarting (a nanny brings a killed one back) get this long to return
RETRIES = 2  # a task that raises on a worker runs again this many times before the sweep fails
POLL_S = 0.2  # how often the client looks at stop requests while waiting for results
CODE_PLUGIN = "rfl-core-code"  # one plugin name: shipping new code replaces the old, never piles up
PACKAGE = Path(__file__).resolve().parents[1]  # the core package, the only code the workers need


class ClusterError(RuntimeError):
    """A cluster failure in one line. ``started`` says whether tasks had been sent; ``frame`` holds
    the runs finished before it (filled in by ``run_sweep``)."""

    def __init__(self, message: str, *, started: bool = False):
        super().__init__(message)
        self.started = started
        self.frame = None


def one_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}"[:300] if text else type(err).__name__


# ---- connecting -------------------------------------------------------------------------------


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Client of the scheduler at ``address``; ClusterError within ``timeout`` when it does not answer."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except Exception as err:  # OSError (timed out, refused), ValueError (a malformed address), ...
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({one_line(err)}); check the address, or start `dask scheduler` there") from None


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    address: str
    threads: int
    memory_limit: int  # bytes; 0 when the worker has none
    memory: int  # bytes in use now


@dataclass(frozen=True)
class ClusterStatus:
    address: str
    workers: tuple[WorkerInfo, ...] = ()
    error: str | None = None  # one line when the scheduler cannot be reached

    @property
    def threads(self) -> int:
        return sum(w.threads for w in self.workers)


def workers_of(client) -> tuple[WorkerInfo, ...]:
    info = client.scheduler_info(n_workers=-1)["workers"]
    return tuple(sorted((WorkerInfo(name=str(w.get("name", addr)), address=addr, threads=int(w.get("nthreads", 0)),
                                    memory_limit=int(w.get("memory_limit") or 0),
                                    memory=int((w.get("metrics") or {}).get("memory") or 0))
                         for addr, w in info.items()), key=lambda w: w.name))


def cluster_status(address: str, timeout: float = STATUS_TIMEOUT_S) -> ClusterStatus:
    """The workers of the cluster at ``address`` (for a page), or its one-line error; never longer than ~timeout."""
    try:
        client = connect(address, timeout)
    except ClusterError as err:
        return ClusterStatus(address, error=str(err))
    try:
        return ClusterStatus(address, workers_of(client))
    except Exception as err:
        return ClusterStatus(address, error=f"the scheduler at {address} did not answer ({one_line(err)})")
    finally:
        client.close(timeout=timeout)


# ---- shipping the code ------------------------------------------------------------------------


def code_files(package: Path = PACKAGE) -> list[Path]:
    """The package's Python sources: no __pycache__, no data, nothing but *.py (runs/ is code here)."""
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def code_archive(folder: Path, package: Path = PACKAGE) -> Path:
    """A zip of the package, ``rfl-core-<hash of its sources>.zip``: same code, same name, same bytes."""
    files = code_files(package)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(package.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    archive = Path(folder) / f"rfl-core-{digest.hexdigest()[:12]}.zip"
    entries = {path.relative_to(package.parent).as_posix(): path.read_bytes() for path in files}
    for folder_path in {path.parent for path in files}:  # zipimport knows no namespace packages: every folder
        entries.setdefault((folder_path.relative_to(package.parent) / "__init__.py").as_posix(), b"")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), entries[name], zipfile.ZIP_DEFLATED)
    return archive


def _forget_other_code(archive_name: str) -> Callable[[], int]:
    """A function for the scheduler and workers (sent by value: it needs nothing of this project) that
    drops every other version of the code, so the import after the upload takes this one."""

    def forget() -> int:
        import sys

        def other_version(entry: str) -> bool:
            name = entry.replace("\\", "/").rsplit("/", 1)[-1]
            return name.startswith("rfl-core-") and name != archive_name

        sys.path[:] = [entry for entry in sys.path if not other_version(entry)]
        stale = [name for name, module in list(sys.modules.items()) if (name == "core" or name.startswith("core."))
                 and archive_name not in str(getattr(module, "__file__", ""))]
        for name in stale:
            del sys.modules[name]
        return len(stale)

    return forget


def _can_run_tasks(train: bool) -> Callable[[], str | None]:
    """None where the sweep's task imports (and with ``train``, torch and the training code: a worker);
    otherwise the one-line reason. Sent by value. The scheduler only unpickles tasks: no torch there."""

    def probe() -> str | None:
        import importlib

        try:
            for module in ("core.runs.sweep_task", "core.engine.config") + (("core.engine.batched",) if train else ()):
                importlib.import_module(module)  # the worker's torch import happens here, before any task
        except BaseException as err:
            return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
        return None

    return probe


def _where() -> Callable[[], tuple[str, int]]:
    """(host, process id), as a function sent by value (a module-level one would need ``core`` there)."""

    def where() -> tuple[str, int]:
        import os
        import socket

        return socket.gethostname(), os.getpid()

    return where


def _in_this_process(client) -> bool:
    """A LocalCluster's scheduler may live in this very process: it has our code, and must keep our modules."""
    return client.run_on_scheduler(_where()) == _where()()


def ship_code(client, folder: Path) -> str:
    """Upload the core package to the scheduler and every worker; ClusterError naming any that cannot import it."""
    from distributed.diagnostics.plugin import SchedulerUploadFile, UploadFile

    archive = code_archive(folder)
    forget = _forget_other_code(archive.name)
    try:
        client.run_on_scheduler(forget)
        client.run(forget, on_error="ignore")
        client.register_plugin(SchedulerUploadFile(str(archive), load=True), name=CODE_PLUGIN)
        client.register_plugin(UploadFile(str(archive), load=True), name=CODE_PLUGIN)
    except Exception as err:
        raise ClusterError(f"could not ship the code to the cluster ({one_line(err)}); "
                           "every machine needs the packages of requirements.txt") from None
    return archive.name


def check_workers(client, timeout: float = CONNECT_TIMEOUT_S) -> tuple[WorkerInfo, ...]:
    """Wait (bounded) for a worker; ClusterError naming the first scheduler or worker that cannot run the task."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:
        raise ClusterError(f"the scheduler at {client.scheduler.address} has no workers (waited {timeout:g} s); "
                           "start some with `dask worker ADDRESS`") from None
    problems = {"scheduler": client.run_on_scheduler(_can_run_tasks(train=False))}
    problems.update(client.run(_can_run_tasks(train=True), on_error="return"))
    for where, problem in problems.items():
        if problem is not None:
            reason = one_line(problem) if isinstance(problem, BaseException) else problem
            raise ClusterError(f"{where} cannot import the sweep's code ({reason}); "
                               "install requirements.txt there (see docs/cluster.md)")
    return workers_of(client)


@contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator:
    """A ready Client: of the scheduler at ``scheduler`` (code shipped, workers checked), or of a private
    LocalCluster on the loopback (same machine, same code; closed, workers killed, at the end)."""
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster, set_as_default=False)
    else:
        client = connect(scheduler)
    try:
        if scheduler is not None and not _in_this_process(client):
            with tempfile.TemporaryDirectory(prefix="rfl-code-") as folder:
                ship_code(client, Path(folder))
        check_workers(client)
        yield client
    finally:
        client.close(timeout=CONNECT_TIMEOUT_S)
        if cluster is not None:
            cluster.close()


# ---- running ----------------------------------------------------------------------------------


def run_tasks(client, calls: Sequence[tuple], *, on_result: Callable[[list], None],
              should_stop: Callable[[], bool]) -> bool:
    """Submit ``run_task(*call, stop_event=...)`` for every call and hand each result to ``on_result``.

    Returns False when all finished, True when ``should_stop`` said stop (running tasks are told
    through a Dask Event and end at their next step; queued ones are cancelled). Raises ClusterError
    on a task that failed for good, on a lost scheduler, or when no worker has been left for
    ``NO_WORKERS_GRACE_S``.
    """
    from distributed import Event, as_completed

    from .sweep_task import run_task

    tag = uuid.uuid4().hex[:10]
    stop_name = f"rfl-sweep-stop-{tag}"
    futures = [client.submit(run_task, *call, stop_event=stop_name, key=f"rfl-sweep-{tag}-{j}", pure=False,
                             retries=RETRIES) for j, call in enumerate(calls)]
    pending = set(futures)
    finished = as_completed(futures, loop=client.loop)  # not the default client: a server may hold several
    health = _Health(client)
    stopped = False
    try:
        while pending:
            done = finished.next_batch(block=False)
            if not done:
                time.sleep(POLL_S)
            for future in done:
                pending.discard(future)
                if future.status == "finished":
                    on_result(future.result())
                elif future.status == "error":
                    raise ClusterError(f"a task failed on the cluster ({one_line(future.exception())})", started=True)
                else:
                    raise ClusterError(f"the cluster dropped a task ({future.status}): lost the scheduler?",
                                       started=True)
            if should_stop():
                stopped = True
                break
            health.check()
    finally:
        if pending:  # stopped or failed: running tasks end at their next step, queued ones never start
            try:
                Event(stop_name, client=client).set()
                client.cancel(list(pending))
            except Exception:  # the scheduler is gone: nothing left to tell
                pass
    return stopped


class _Health:
    """Every few seconds: is the scheduler still there, and has it had a worker in the last grace period?"""

    EVERY_S = 2.0

    def __init__(self, client):
        self.client = client
        self.last = time.monotonic()
        self.had_workers = time.monotonic()

    def check(self) -> None:
        now = time.monotonic()
        if now - self.last < self.EVERY_S:
            return
        self.last = now
        if self.client.status not in ("running", "connecting"):
            raise ClusterError(f"lost the connection to the Dask scheduler (client {self.client.status})", started=True)
        try:
            threads = sum(self.client.nthreads().values())
        except Exception as err:
            raise ClusterError(f"the Dask scheduler stopped answering ({one_line(err)})", started=True) from None
        if threads:
            self.had_workers = now
        elif now - self.had_workers > NO_WORKERS_GRACE_S:
            raise ClusterError(f"no workers left in the cluster for {NO_WORKERS_GRACE_S:g} s", started=True)
