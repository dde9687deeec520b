"""Background training jobs: admission and a FIFO queue, in front of a pool of warm workers.

The dashboard server owns one JobManager. Submitting writes a 'queued' run to the store and
wakes a scheduler thread, which hands the job to an idle worker (the workers and their
deadlines are core/runs/supervisor.py's part; the messages core/runs/protocol.py's; a job's
state and its transitions core/runs/job.py's). Workers write metrics and snapshots straight to
the store; the server only writes queued runs and runs whose worker it lost. Anyone can
therefore follow a run by its id from the store, which is what lets a refreshed page reattach.

Admission: a finished run of the same setup (config key: config, mode, result code) is returned
instead of training again, and so is one that is queued or running here: thirty sessions
pressing Run on one new setup share one twin pair. A client may hold ``per_client_cap`` runs of
its own queued or running; attaching to someone else's costs nothing.

Ownership (core/runs/owners.py): cancel and delete take the requester; only the session that
started a run, or an admin, may change it. The default, LOCAL, is the command line's.

A run that is asked to stop gets ``grace_s`` to stop at its next step; after that its worker
is killed and replaced. A worker that dies on its own fails its run, not the others.
"""

from __future__ import annotations

import atexit
import itertools
import queue
import threading
import weakref
from collections import deque

from ..engine.config import MODES
from ..engine.resources import cores_per_run, cpu_count, default_workers, gpu_count
from . import protocol
from .foreign_load import ForeignLoad
from .job import Job, JobState
from .owners import LOCAL, NotAllowed, Requester, check
from .store import RunStore, code_version, config_key, new_id, owner_id
from .supervisor import Supervisor

__all__ = ["JobManager", "JobRefused", "NotAllowed", "Requester", "LOCAL", "get_manager"]

TICK_S = 0.1  # how often deadlines (grace, wall time) are checked


class JobRefused(RuntimeError):
    """A submit the manager will not take (per-client cap, shutting down); the message says why."""


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
        self._debug: dict | None = None  # test hook, copied into each job: see core.runs.worker._stall
        self._foreign_load = ForeignLoad()  # cores other processes keep busy: not shared out to runs
        self.store.mark_orphans_interrupted()
        code_version(), owner_id()  # computed once here rather than in the first submit
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._events: queue.Queue = queue.Queue()
        self._queue: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}  # queued and running, in submission order
        self._by_key: dict[str, str] = {}  # config key -> run id of the queued or running job with it
        self._seq = itertools.count(1)
        self._closing = self._stopped = False
        self._broken: str | None = None
        self._pool = Supervisor(self.store_path, self.max_workers, self._events, worker_env=worker_env or {},
                                gpus=gpu_count())
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rfl-jobs")
        self._thread.start()
        atexit.register(_at_exit, weakref.ref(self))

    @property
    def _workers(self) -> list:
        return self._pool.workers

    # -- submitting --------------------------------------------------------------------
    def submit(self, cfg, mode: str, *, client_id="local", preset=None, pair_id=None, fresh=False) -> str:
        """Queue one run. A finished run with the same config, mode and code is returned instead unless
        fresh; a queued or running one is always attached to (it is being trained fresh right now)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not fresh and (cached := self.store.find_cached(cfg, mode)):
            return cached
        with self._lock:
            if attached := self._attach(cfg, mode):
                return attached
            self._admit(client_id, 1)
            return self._enqueue(cfg, mode, client_id, preset, pair_id)

    def submit_twins(self, cfg, *, client_id="local", preset=None, modes=MODES, fresh=False) -> dict[str, str]:
        """Standard and adversarial runs of one config under one pair_id: same seed, so same data and init.

        Each new run counts against the per-client cap; a cached mode is reused and not retrained, and
        a mode queued or running here already (anyone's) is attached to.
        """
        if not modes or set(modes) - set(MODES):
            raise ValueError(f"modes must be some of {MODES}, got {modes!r}")
        ids = {mode: None if fresh else self.store.find_cached(cfg, mode) for mode in modes}
        with self._lock:
            for mode in modes:
                ids[mode] = ids[mode] or self._attach(cfg, mode)
            todo = [mode for mode in modes if not ids[mode]]
            if todo:
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
            return self._enqueue(real_cfg, MODE, client_id, preset, None, steps=PERCENT, shared=False)

    def _attach(self, cfg, mode: str) -> str | None:
        """The run id of a queued or running job of the same setup, if there is one."""
        return self._by_key.get(config_key(cfg, mode))

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

    def _enqueue(self, cfg, mode, client_id, preset, pair_id, steps=None, shared=True) -> str:
        run_id = self.store.create_run(cfg, mode, pair_id=pair_id, preset=preset, client_id=client_id, steps=steps)
        key = config_key(cfg, mode) if shared else None
        job = Job(run_id, next(self._seq), mode, cfg.to_dict(), client_id, key=key, debug=self._debug)
        self._queue.append(job)
        self._jobs[run_id] = job
        if key is not None:
            self._by_key[key] = run_id
        self._events.put(("wake", None, None))
        return run_id

    # -- following and stopping ------------------------------------------------------------
    def status(self, run_id: str) -> str | None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None:
                return job.store_status
        return self.store.run_status(run_id)

    def queue_position(self, run_id: str) -> int | None:
        """0 = running; n >= 1 = the n-th queued run to start (1 starts next); None = not active here."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return None
            return 0 if job.on_worker else self._queue.index(job) + 1

    def active(self, client_id: str | None = None) -> list[str]:
        with self._lock:
            return [r for r, job in self._jobs.items() if client_id is None or job.client_id == client_id]

    def worker_pid(self, run_id: str) -> int | None:
        with self._lock:
            job = self._jobs.get(run_id)
            return job.worker.pid if job and job.worker else None

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._pool.workers]

    def may_change(self, run_id: str, requester: Requester = LOCAL) -> bool:
        """Whether the requester may stop or delete the run (see core/runs/owners.py)."""
        try:
            self._check_owner(run_id, requester, "change")
        except NotAllowed:
            return False
        return True

    def _check_owner(self, run_id: str, requester: Requester, action: str) -> None:
        if requester.admin:
            return
        with self._lock:
            job = self._jobs.get(run_id)
        owner = job.client_id if job is not None else (self.store.get_run(run_id) or {}).get("client_id")
        check(run_id, owner, requester, action)

    def cancel(self, run_id: str, *, status: str = "cancelled", reason: str = "cancelled by the user",
               requester: Requester = LOCAL) -> bool:
        """Stop a run: a queued one at once, a running one at its next step (killed after grace_s).

        NotAllowed if the requester neither started it nor is an admin; False if it is not active here.
        """
        self._check_owner(run_id, requester, "stop")
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return False
            if job.state is JobState.QUEUED:
                self._queue.remove(job)
                self.store.finish_run(run_id, status, f"{reason} before it started", only_if_active=True)
                self._end(job)
            elif job.state is JobState.RUNNING:
                self._pool.ask_to_stop(job, status, reason)
            return True

    def delete(self, run_id: str, *, requester: Requester = LOCAL) -> bool:
        """Stop the run if it is active here, then remove it and its data from the store (NotAllowed as cancel)."""
        self._check_owner(run_id, requester, "delete")
        self.cancel(run_id, requester=requester)
        return self.store.delete_run(run_id)

    def wait(self, run_ids, timeout: float | None = None) -> bool:
        """Block until none of the runs is queued or running here; False on timeout."""
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        with self._changed:
            return self._changed.wait_for(lambda: not any(r in self._jobs for r in ids), timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every worker has imported the engine and waits for work."""
        with self._changed:
            return self._changed.wait_for(self._pool.all_ready, timeout)

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
        self._pool.stop_all()
        self._events.put(("wake", None, None))
        self._thread.join(timeout=5)

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # -- the scheduler thread --------------------------------------------------------------
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
                self._pool.check_deadlines(list(self._jobs.values()), self.grace_s, self.wall_time_s)
                self._dispatch()
                self._share_cores()

    def _handle(self, kind: str, worker, msg) -> None:
        if kind == "event":
            event, fields = msg
            if event == protocol.READY:
                self._pool.on_ready(worker, fields)
                self._changed.notify_all()
            elif event == protocol.DONE:
                job = worker.job
                if job is not None and job.seq == fields["seq"]:
                    if fields["status"] == protocol.DONE_ERROR:  # the worker could not record the end itself
                        self.store.finish_run(job.run_id, "failed", fields.get("error"), only_if_active=True)
                    worker.job = None
                    self._end(job)
        elif kind == "exit":
            job, record, broken = self._pool.on_exit(worker, respawn=not self._closing)
            if job is not None:
                self.store.finish_run(job.run_id, *record, only_if_active=True)
                self._end(job)
            if broken and not self._closing and not self._broken:
                self._broken = "the job workers fail to start; see the server's log"
                for queued in list(self._queue):
                    self.cancel(queued.run_id, status="failed", reason=self._broken)
            self._changed.notify_all()

    def _dispatch(self) -> None:
        idle = self._pool.idle()
        while self._queue and idle and not self._stopped:
            job, worker = self._queue.popleft(), idle.pop(0)
            order = protocol.JobOrder(seq=job.seq, run_id=job.run_id, mode=job.mode, config=job.config,
                                      store=self.store_path, flush_s=self.flush_s, wall_s=self.wall_time_s,
                                      threads=self.threads_per_worker, debug=job.debug)
            if self._pool.assign(worker, job, order):
                job.threads = self.threads_per_worker
            else:  # the worker is dying: the job goes back to the front
                self._queue.appendleft(job)

    def _share_cores(self) -> None:
        """The cores of idle workers go to the running runs, and come back when new runs start: a twin
        pair alone on 2 cores runs its adversarial half on both once the standard half is done (figure3's
        twin 38.5 -> 32 s, docs/engine.md), unless other processes keep those cores busy (foreign_load.py).
        The new count applies at the run's next step; the numbers do not depend on it
        (tests/test_shared_cores.py). Runs on a GPU count too: they hold a worker and a share of the
        cores for their CPU side."""
        busy = [w.job for w in self._workers if w.job is not None]
        # Only cores idle in fact: other processes' work (another job, a test suite) takes its cores first.
        cores = max(1, cpu_count() - self._foreign_load.whole_cores(w.pid for w in self._workers))
        share = cores_per_run(len(busy), self.threads_per_worker, cores)
        for job in busy:
            if job.mode in MODES and job.state is JobState.RUNNING and job.threads != share:
                if job.worker.send(protocol.threads_line(job.seq, share)):
                    job.threads = share

    def _end(self, job: Job) -> None:
        if job.state is not JobState.ENDED:
            job.move(JobState.ENDED)
        job.worker = None
        self._jobs.pop(job.run_id, None)
        if job.key is not None and self._by_key.get(job.key) == job.run_id:
            del self._by_key[job.key]
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
