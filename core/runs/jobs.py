"""Background training jobs: a FIFO queue over a pool of warm worker processes.

The dashboard server owns one JobManager. Submitting writes a 'queued' run to the store and
wakes a scheduler thread, which hands the job to an idle worker (core/worker.py, a separate
process that has imported torch already, so training starts within a fraction of a second).
Workers write metrics and snapshots straight to the store; the server only writes queued runs
and runs whose worker it lost. Anyone can therefore follow a run by its id from the store,
which is what lets a refreshed browser page reattach.

A run that is asked to stop gets ``grace_s`` to stop at its next step; after that its worker
is killed and replaced. A worker that dies on its own fails its run, not the others.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.config import MODES
from ..engine.resources import cpu_count, default_workers, gpu_count
from .store import RunStore, code_version, new_id, owner_id

REPO_ROOT = Path(__file__).resolve().parents[2]
TICK_S = 0.1  # how often deadlines (grace, wall time) are checked


class JobRefused(RuntimeError):
    """A submit the manager will not take (per-client cap, shutting down); the message says why."""


@dataclass(eq=False)
class _Job:
    run_id: str
    seq: int
    mode: str
    config: dict
    client_id: str
    debug: dict | None = None
    worker: _Worker | None = None
    started: float | None = None  # monotonic, when handed to a worker
    cancel_at: float | None = None  # monotonic, when a stop was asked for
    cancel: tuple[str, str] = ("cancelled", "cancelled by the user")  # (status, reason) of that stop
    kill: tuple[str, str] | None = field(default=None)  # what to record once its worker is killed


class _Worker:
    """One ``python -m core.runs.worker`` process and the thread that reads its events."""

    def __init__(self, slot: int, env: dict, events: queue.Queue, args: list[str]):
        self.slot = slot
        self.proc = subprocess.Popen([sys.executable, "-m", "core.runs.worker", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT, text=True, bufsize=1)
        self.pid = self.proc.pid
        self.ready = False
        self.imported_streamlit = None  # reported by the worker when ready; checked by the tests
        self.job: _Job | None = None
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, args=(events,), daemon=True, name=f"rfl-worker-{self.pid}").start()

    def _read(self, events: queue.Queue) -> None:
        for line in self.proc.stdout:
            try:
                events.put(("event", self, json.loads(line)))
            except json.JSONDecodeError:  # not an event: pass it on rather than lose the worker
                print(line, end="", file=sys.stderr)
        self.proc.wait()
        events.put(("exit", self, None))

    def send(self, **msg) -> bool:
        with self._send_lock:
            try:
                self.proc.stdin.write(json.dumps(msg) + "\n")
                self.proc.stdin.flush()
                return True
            except (OSError, ValueError):  # it died, or stdin is closed: its exit event follows
                return False

    def close(self) -> None:
        with self._send_lock:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


class JobManager:
    def __init__(self, store_path=None, max_workers: int | None = None, per_client_cap: int | None = 2,
                 wall_time_s: float = 3600, grace_s: float = 3.0, *, flush_s: float = 0.5,
                 worker_env: dict | None = None):
        self.store = RunStore(store_path)
        self.store_path = str(self.store.path.resolve())
        self.max_workers = max_workers or default_workers()
        self.per_client_cap = per_client_cap
        self.wall_time_s = wall_time_s
        self.grace_s = grace_s
        self.flush_s = flush_s
        self.threads_per_worker = max(1, cpu_count() // self.max_workers)
        self._worker_env = worker_env or {}
        self._gpus = gpu_count()
        self._debug: dict | None = None  # test hook, copied into each job: see core.runs.worker._stall
        self.store.mark_orphans_interrupted()
        code_version(), owner_id()  # computed once here rather than in the first submit
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._events: queue.Queue = queue.Queue()
        self._queue: deque[_Job] = deque()
        self._jobs: dict[str, _Job] = {}  # queued and running, in submission order
        self._seq = itertools.count(1)
        self._closing = self._stopped = False
        self._start_failures = 0
        self._broken: str | None = None
        self._workers = [self._spawn(slot) for slot in range(self.max_workers)]
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rfl-jobs")
        self._thread.start()
        atexit.register(_at_exit, weakref.ref(self))

    # -- submitting --------------------------------------------------------------------
    def submit(self, cfg, mode: str, *, client_id="local", preset=None, pair_id=None, fresh=False) -> str:
        """Queue one run; a finished run with the same config, mode and code is returned instead unless fresh."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not fresh and (cached := self.store.find_cached(cfg, mode)):
            return cached
        with self._lock:
            self._admit(client_id, 1)
            return self._enqueue(cfg, mode, client_id, preset, pair_id)

    def submit_twins(self, cfg, *, client_id="local", preset=None, modes=MODES, fresh=False) -> dict[str, str]:
        """Standard and adversarial runs of one config under one pair_id: same seed, so same data and init.

        Each run counts against the per-client cap; a cached mode is reused and not retrained.
        """
        if not modes or set(modes) - set(MODES):
            raise ValueError(f"modes must be some of {MODES}, got {modes!r}")
        ids = {mode: None if fresh else self.store.find_cached(cfg, mode) for mode in modes}
        todo = [mode for mode in modes if not ids[mode]]
        if todo:
            with self._lock:
                self._admit(client_id, len(todo))
                pair_id = new_id()
                for mode in todo:
                    ids[mode] = self._enqueue(cfg, mode, client_id, preset, pair_id)
        return ids

    def submit_real(self, real_cfg, *, client_id="local") -> str:
        """Queue one real-image experiment (a core.real.RealConfig): always a fresh run, mode 'real'.

        Its worker runs core.real.run_real; runs.step is the percent done (steps = 100), per-epoch
        metrics and the result land in the store as core/real_runs.py describes.
        """
        from .real_runs import MODE, PERCENT

        with self._lock:
            self._admit(client_id, 1)
            preset = f"{real_cfg.dataset}-{'quick' if real_cfg.quick else 'full'}"
            return self._enqueue(real_cfg, MODE, client_id, preset, None, steps=PERCENT)

    def _admit(self, client_id: str, n: int) -> None:
        if self._closing:
            raise JobRefused("the job manager is shutting down; no new runs are taken")
        if self._broken:
            raise JobRefused(self._broken)
        cap = self.per_client_cap
        if cap:
            mine = sum(job.client_id == client_id for job in self._jobs.values())
            if mine + n > cap:
                raise JobRefused(f"client {client_id!r} has {mine} run(s) queued or running and asked for {n} more; "
                                 f"the limit is {cap} per client: wait for one to end or stop it")

    def _enqueue(self, cfg, mode, client_id, preset, pair_id, steps=None) -> str:
        run_id = self.store.create_run(cfg, mode, pair_id=pair_id, preset=preset, client_id=client_id, steps=steps)
        job = _Job(run_id, next(self._seq), mode, cfg.to_dict(), client_id, self._debug)
        self._queue.append(job)
        self._jobs[run_id] = job
        self._events.put(("wake", None, None))
        return run_id

    # -- following and stopping ------------------------------------------------------------
    def status(self, run_id: str) -> str | None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None:
                return "running" if job.worker else "queued"
        return self.store.run_status(run_id)

    def queue_position(self, run_id: str) -> int | None:
        """0 = running; n >= 1 = the n-th queued run to start (1 starts next); None = not active here."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return None
            return 0 if job.worker else self._queue.index(job) + 1

    def active(self, client_id: str | None = None) -> list[str]:
        with self._lock:
            return [r for r, job in self._jobs.items() if client_id is None or job.client_id == client_id]

    def worker_pid(self, run_id: str) -> int | None:
        with self._lock:
            job = self._jobs.get(run_id)
            return job.worker.pid if job and job.worker else None

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers]

    def cancel(self, run_id: str, *, status: str = "cancelled", reason: str = "cancelled by the user") -> bool:
        """Stop a run: a queued one at once, a running one at its next step (killed after grace_s)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return False
            if job.worker is None:
                self._queue.remove(job)
                self.store.finish_run(run_id, status, f"{reason} before it started", only_if_active=True)
                self._end(job)
            elif job.cancel_at is None:
                job.cancel_at, job.cancel = time.monotonic(), (status, reason)
                job.worker.send(op="cancel", seq=job.seq, status=status, reason=reason)
            return True

    def delete(self, run_id: str) -> bool:
        """Stop the run if it is active here, then remove it and its data from the store."""
        self.cancel(run_id)
        return self.store.delete_run(run_id)

    def wait(self, run_ids, timeout: float | None = None) -> bool:
        """Block until none of the runs is queued or running here; False on timeout."""
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        with self._changed:
            return self._changed.wait_for(lambda: not any(r in self._jobs for r in ids), timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has imported the engine and waits for work."""
        with self._changed:
            return self._changed.wait_for(lambda: all(w.ready for w in self._workers), timeout)

    def shutdown(self, cancel_running: bool = True, *, status: str = "cancelled",
                 reason: str = "cancelled: the job manager shut down") -> None:
        """Cancel queued runs, stop (or, without cancel_running, wait for) running ones, end the workers."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            for job in list(self._queue):
                self.cancel(job.run_id, status=status, reason=reason)
            if cancel_running:
                for run_id in list(self._jobs):
                    self.cancel(run_id, status=status, reason=reason)
        self.wait(list(self._jobs))
        with self._lock:
            self._stopped = True
            workers = list(self._workers)
        for worker in workers:
            worker.send(op="stop")
            worker.close()
        for worker in workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
        self._events.put(("wake", None, None))
        self._thread.join(timeout=5)

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- the scheduler thread --------------------------------------------------------------
    def _spawn(self, slot: int) -> _Worker:
        env = {**os.environ, **self._worker_env, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
        if self._gpus > 1:  # spread workers over the GPUs; each sees one as cuda:0
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(map(str, range(self._gpus)))).split(",")
            env["CUDA_VISIBLE_DEVICES"] = visible[slot % len(visible)]
        return _Worker(slot, env, self._events, [self.store_path, *(["--cuda"] if self._gpus else [])])

    def _loop(self) -> None:
        while not self._stopped:
            try:
                item = self._events.get(timeout=TICK_S)
            except queue.Empty:
                item = None
            with self._lock:
                while item is not None:
                    self._handle(*item)
                    try:
                        item = self._events.get_nowait()
                    except queue.Empty:
                        item = None
                self._check_deadlines()
                self._dispatch()

    def _handle(self, kind: str, worker: _Worker | None, msg: dict | None) -> None:
        if kind == "event" and msg["event"] == "ready":
            worker.ready, worker.imported_streamlit, self._start_failures = True, msg.get("streamlit"), 0
            self._changed.notify_all()
        elif kind == "event" and msg["event"] == "done":
            job = worker.job
            if job is not None and job.seq == msg["seq"]:
                if msg["status"] == "error":  # the worker could not record the end itself
                    self.store.finish_run(job.run_id, "failed", msg.get("error"), only_if_active=True)
                worker.job = None
                self._end(job)
        elif kind == "exit":
            self._on_exit(worker)

    def _on_exit(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        job, worker.job = worker.job, None
        if job is not None:
            code = worker.proc.returncode
            name = f" ({signal.Signals(-code).name})" if code and code < 0 and -code in signal.valid_signals() else ""
            status, error = job.kill or ("failed", f"worker process died with exit code {code}{name}; "
                                                   f"metrics so far are kept")
            self.store.finish_run(job.run_id, status, error, only_if_active=True)
            self._end(job)
        if not worker.ready:
            self._start_failures += 1
        if self._closing:
            return
        if self._start_failures >= 3:  # workers die before they are ready: respawning would only loop
            self._broken = "the job workers fail to start; see the server's log"
            for queued in list(self._queue):
                self.cancel(queued.run_id, status="failed", reason=self._broken)
            return
        self._workers.append(self._spawn(worker.slot))
        self._changed.notify_all()

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for job in self._jobs.values():
            if job.worker is None or job.kill is not None:
                continue
            if job.cancel_at is not None and now > job.cancel_at + self.grace_s:
                status, reason = job.cancel
                job.kill = (status, f"{reason}; the run did not stop within {self.grace_s:g} s, so its worker was "
                                    f"killed; metrics so far are kept")
            elif now > job.started + self.wall_time_s + self.grace_s:
                job.kill = ("failed", f"wall-time limit of {self.wall_time_s:g} s exceeded; the worker was killed; "
                                      f"metrics so far are kept")
            else:
                continue
            job.worker.proc.kill()  # its exit event records job.kill and starts a replacement

    def _dispatch(self) -> None:
        idle = [w for w in self._workers if w.ready and w.job is None]
        while self._queue and idle and not self._stopped:
            job, worker = self._queue.popleft(), idle.pop(0)
            worker.job, job.worker, job.started = job, worker, time.monotonic()
            sent = worker.send(op="job", seq=job.seq, run_id=job.run_id, mode=job.mode, config=job.config,
                               store=self.store_path, flush_s=self.flush_s, wall_s=self.wall_time_s,
                               threads=self.threads_per_worker, debug=job.debug)
            if not sent:  # the worker is dying: the job goes back to the front
                worker.job, job.worker, job.started = None, None, None
                self._queue.appendleft(job)

    def _end(self, job: _Job) -> None:
        self._jobs.pop(job.run_id, None)
        self._changed.notify_all()


def _at_exit(ref) -> None:
    manager = ref()
    if manager is not None:
        manager.shutdown(status="interrupted", reason="interrupted: the server shut down")


_managers: dict[str, JobManager] = {}
_managers_lock = threading.Lock()


def get_manager(store_path=None, **kwargs) -> JobManager:
    """The process-wide manager of a store (the dashboard wraps this in st.cache_resource)."""
    key = str(RunStore(store_path).path.resolve())
    with _managers_lock:
        manager = _managers.get(key)
        if manager is None or manager._closing:
            manager = _managers[key] = JobManager(store_path, **kwargs)
        return manager
