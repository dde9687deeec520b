"""Worker supervision: the pool of warm ``python -m core.runs.worker`` processes under the job manager.

The supervisor starts the workers (spreading them over the GPUs), reads their events on one
thread each into the manager's event queue, hands a job to an idle worker, kills the worker of
a job past its deadline (a stop past the grace, the wall-time limit), replaces a worker that
died, and gives up when workers keep dying before they are ready. It never writes the store
and never decides what runs next: that is the queue's part, core.runs.jobs.JobManager.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import protocol
from .job import Job, JobState

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_START_FAILURES = 3  # workers that die before they are ready: respawning more would only loop


class Worker:
    """One worker process and the thread that files its events as ("event", worker, (kind, fields))."""

    def __init__(self, slot: int, env: dict, events: queue.Queue, args: list[str], background: bool = False):
        self.slot = slot
        self.background = background  # at the lowest priority, for long jobs (core/runs/jobs.py)
        self.proc = subprocess.Popen([sys.executable, "-m", "core.runs.worker", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT, text=True, bufsize=1)
        self.pid = self.proc.pid
        self.ready = False
        self.imported_streamlit = None  # reported by the worker when ready; checked by the tests
        self.job: Job | None = None
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, args=(events,), daemon=True, name=f"rfl-worker-{self.pid}").start()

    def _read(self, events: queue.Queue) -> None:
        for line in self.proc.stdout:
            try:
                events.put(("event", self, protocol.decode(line)))
            except protocol.ProtocolError:  # not an event: pass it on rather than lose the worker
                print(line, end="", file=sys.stderr)
        self.proc.wait()
        events.put(("exit", self, None))

    def send(self, line: str) -> bool:
        with self._send_lock:
            try:
                self.proc.stdin.write(line)
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


class Supervisor:
    """The manager's workers. Every method is called under the manager's lock."""

    def __init__(self, store_path: str, max_workers: int, events: queue.Queue, *, worker_env: dict, gpus: int,
                 background: int = 0):
        self.store_path = store_path
        self.events = events
        self._worker_env = worker_env
        self._gpus = gpus
        self.regular = max_workers
        self.background = background  # workers after the regular ones, at niceness 19
        self.start_failures = 0
        self.workers = [self._spawn(slot) for slot in range(max_workers + background)]

    def _spawn(self, slot: int) -> Worker:
        env = {**os.environ, **self._worker_env, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)}
        if self._gpus > 1:  # spread workers over the GPUs; each sees one as cuda:0
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(map(str, range(self._gpus)))).split(",")
            env["CUDA_VISIBLE_DEVICES"] = visible[slot % len(visible)]
        background = slot >= self.regular
        if background:
            env["RFL_WORKER_NICE"] = "19"  # the lowest: whatever else wants a core gets it first
        return Worker(slot, env, self.events, [self.store_path, *(["--cuda"] if self._gpus else [])], background)

    def all_ready(self) -> bool:
        return all(w.ready for w in self.workers)

    def idle(self) -> list[Worker]:
        return [w for w in self.workers if w.ready and w.job is None]

    def on_ready(self, worker: Worker, fields: dict) -> None:
        worker.ready, worker.imported_streamlit, self.start_failures = True, fields.get("streamlit"), 0

    def assign(self, worker: Worker, job: Job, order: protocol.JobOrder) -> bool:
        """Hand a job to an idle worker; False (and nothing changed) if the worker is dying."""
        job.move(JobState.RUNNING)
        worker.job, job.worker, job.started = job, worker, time.monotonic()
        if worker.send(protocol.job_line(order)):
            return True
        worker.job, job.worker, job.started = None, None, None
        job.move(JobState.QUEUED)
        return False

    def ask_to_stop(self, job: Job, status: str, reason: str) -> None:
        """A running job stops at its next step; check_deadlines kills its worker after the grace."""
        job.move(JobState.STOPPING)
        job.cancel_at, job.cancel = time.monotonic(), (status, reason)
        job.worker.send(protocol.cancel_line(job.seq, status, reason))

    def check_deadlines(self, jobs, grace_s: float, wall_time_s: float) -> None:
        now = time.monotonic()
        for job in jobs:
            if job.state is JobState.STOPPING and now > job.cancel_at + grace_s:
                status, reason = job.cancel
                job.kill = (status, f"{reason}; the run did not stop within {grace_s:g} s, so its worker was "
                                    f"killed; metrics so far are kept")
            elif job.state in (JobState.RUNNING, JobState.STOPPING) and now > job.started + wall_time_s + grace_s:
                job.kill = ("failed", f"wall-time limit of {wall_time_s:g} s exceeded; the worker was killed; "
                                      f"metrics so far are kept")
            else:
                continue
            job.move(JobState.KILLING)
            job.worker.proc.kill()  # its exit event records job.kill and starts a replacement

    def on_exit(self, worker: Worker, *, respawn: bool) -> tuple[Job | None, tuple[str, str] | None, bool]:
        """A worker ended: (its job, (status, error) to record for it, whether the pool is now broken)."""
        if worker in self.workers:
            self.workers.remove(worker)
        job, worker.job = worker.job, None
        record = None
        if job is not None:
            code = worker.proc.returncode
            name = f" ({signal.Signals(-code).name})" if code and code < 0 and -code in signal.valid_signals() else ""
            record = job.kill or ("failed", f"worker process died with exit code {code}{name}; metrics so far are kept")
        if not worker.ready:
            self.start_failures += 1
        broken = self.start_failures >= MAX_START_FAILURES
        if respawn and not broken:
            self.workers.append(self._spawn(worker.slot))
        return job, record, broken

    def stop_all(self) -> None:
        workers = list(self.workers)
        for worker in workers:
            worker.send(protocol.stop_line())
            worker.close()
        for worker in workers:
            try:
                worker.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
