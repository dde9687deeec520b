"""Background training jobs: admission against a budget, a fair queue, in front of a pool of warm workers.

The dashboard server owns one JobManager. Submitting writes a 'queued' run to the store and
wakes a scheduler thread, which hands the job to an idle worker (the workers and their
deadlines are core/runs/supervisor.py's part; the messages core/runs/protocol.py's; a job's
state and its transitions core/runs/job.py's). Workers write metrics and snapshots straight to
the store; the server only writes queued runs and runs whose worker it lost. Anyone can
therefore follow a run by its id from the store, which is what lets a refreshed page reattach.

Jobs are engine runs (modes std and adv), real-image runs (mode real) and sweeps (mode sweep: a
worker trains the grid's runs one batch after the other and writes each as it ends).

Sharing: a finished run of the same setup (config key: config, mode, result code) is returned
instead of training again, and a queued or running one is attached to: thirty persons pressing Run
on one new setup share one twin pair. Everyone who submitted or attached is a watcher of the job;
``release`` detaches one, and the job is stopped when its last watcher leaves (or an admin stops it).

Admission (core/runs/admission.py): each request is costed before anything is written, and refused
with one line over the per-request cap, over its person's share, over the server's queue, or when
it cannot fit the workers' memory; the admin lifts the caps. A job counts against its first
watcher's share (its payer).

The queue is fair between persons: the next job to start is the one that would end its person's use of
the workers soonest (their recent use, halved every HALF_LIFE_S, plus the job's own estimate), among
the jobs that fit the memory left beside the running ones. So a student's few-second pair goes before
anyone's long job, and a person who has used the workers a lot waits behind those who have not. Long
jobs (sweeps, runs estimated over LONG_JOB_S) go to the background workers (niceness 19, for the
dashboard: ``background_workers``): a worker never sits minutes on one while the class's short runs
wait, and the cores go to the short runs first. Without background workers, sweeps never take the
last worker.

Faults: a store write that fails (a full disk, a read-only or damaged file) fails what it can with
its one-line reason, is retried until the store takes it, and never stops the scheduler thread;
a submit that cannot be written is refused with the store's line.

A run that is asked to stop gets ``grace_s`` to stop at its next step; after that its worker
is killed and replaced. A worker that dies on its own fails its run, not the others.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager

from ..engine.config import MODES
from ..engine.resources import cores_per_run, cpu_count, default_workers, gpu_count
from . import admission, protocol
from .admission import Caps, Cost, Refused
from .foreign_load import ForeignLoad
from .job import Job, JobState
from .owners import LOCAL, NotAllowed, Requester, check
from .schema import StoreError
from .store import RunStore, code_version, config_key, new_id, owner_id
from .supervisor import Supervisor

__all__ = ["JobManager", "JobRefused", "NotAllowed", "Requester", "LOCAL", "get_manager", "SWEEP"]

TICK_S = 0.1  # how often deadlines (grace, wall time) are checked
RETRY_S = 1.0  # how often a store write that failed is tried again
HALF_LIFE_S = 600.0  # a person's use of the workers counts half after ten minutes
LONG_JOB_S = 60.0  # a run estimated over a minute is a long job (a classroom pair is seconds, figure3's runs 20-40 s)
SWEEP = "sweep"
_log = logging.getLogger(__name__)


class JobRefused(RuntimeError):
    """A submit the manager will not take (a cap, the memory, the store, shutting down); the message says why."""


class Costs:
    """What requests cost (core/runs/admission.py); tests give the manager their own."""

    run = staticmethod(admission.run_cost)
    real = staticmethod(admission.real_cost)
    sweep = staticmethod(admission.sweep_cost)


class JobManager:
    def __init__(self, store_path=None, max_workers: int | None = None, *, caps: Caps | None = None,
                 is_admin: Callable[[str], bool] | None = None, memory_budget: int | None = None,
                 costs: Costs | None = None, background_workers: int = 0, wall_time_s: float = 3600,
                 grace_s: float = 3.0, flush_s: float = 0.5, worker_env: dict | None = None):
        self.store = RunStore(store_path)
        self.store_path = str(self.store.path.resolve())
        self.max_workers = max_workers or default_workers()
        self.caps = caps  # None: no caps (the command line, the tests)
        self.memory_budget = memory_budget or admission.memory_budget()
        self.sweep_slots = max(1, self.max_workers - 1)  # a sweep never takes the last worker from the runs
        self.wall_time_s = wall_time_s
        self.grace_s = grace_s
        self.flush_s = flush_s
        self.threads_per_worker = max(1, cpu_count() // self.max_workers)
        self._costs = costs or Costs()
        self._is_admin = is_admin or (lambda client_id: False)
        self._debug: dict | None = None  # test hook, copied into each job: see core.runs.worker._stall
        self._foreign_load = ForeignLoad()  # cores other processes keep busy: not shared out to runs
        self.store.mark_orphans_interrupted()
        code_version(), owner_id()  # computed once here rather than in the first submit
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._events: queue.Queue = queue.Queue()
        self._queue: list[Job] = []  # queued jobs; _order() says which starts next
        self._jobs: dict[str, Job] = {}  # queued and running, in submission order
        self._by_key: dict[str, str] = {}  # config key -> run id of the queued or running job with it
        self._used: dict[str, tuple[float, float]] = {}  # person -> (seconds of work started, when), decaying
        self._unrecorded: dict[str, tuple[str, str | None]] = {}  # run id -> final status the store refused
        self._retry_at = 0.0
        self.last_fault: str | None = None  # the newest store failure, for the server's log and the tests
        self._seq = itertools.count(1)
        self._closing = self._stopped = False
        self._broken: str | None = None
        self.background_workers = background_workers
        self._pool = Supervisor(self.store_path, self.max_workers, self._events, worker_env=worker_env or {},
                                gpus=gpu_count(), background=background_workers)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rfl-jobs")
        self._thread.start()
        atexit.register(_at_exit, weakref.ref(self))

    @property
    def _workers(self) -> list:
        return self._pool.workers

    # -- submitting --------------------------------------------------------------------
    def submit(self, cfg, mode: str, *, client_id="local", preset=None, pair_id=None, fresh=False,
               admin: bool = False) -> str:
        """Queue one run. A finished run with the same config, mode and code is returned instead unless
        fresh; a queued or running one is always attached to (it is being trained fresh right now)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        with self._refusals():
            if not fresh and (cached := self.store.find_cached(cfg, mode)):
                return cached
            key = config_key(cfg, mode)
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
            cost = self._costs.run(cfg, mode, self.threads_per_worker)  # times a step: outside the lock
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
                self._admit(client_id, cost, 1, admin)
                return self._enqueue(cfg, mode, client_id, preset, pair_id, cost, key=key)

    def submit_twins(self, cfg, *, client_id="local", preset=None, modes=MODES, fresh=False,
                     admin: bool = False) -> dict[str, str]:
        """Standard and adversarial runs of one config under one pair_id: same seed, so same data and init.

        A cached mode is reused and not retrained, and a mode queued or running here already (anyone's) is
        attached to; what is new is admitted as one request.
        """
        if not modes or set(modes) - set(MODES):
            raise ValueError(f"modes must be some of {MODES}, got {modes!r}")
        with self._refusals():
            ids = {mode: None if fresh else self.store.find_cached(cfg, mode) for mode in modes}
            keys = {mode: config_key(cfg, mode) for mode in modes}
            with self._lock:
                for mode in modes:
                    ids[mode] = ids[mode] or self._attach(keys[mode], client_id)
            todo = [mode for mode in modes if not ids[mode]]
            if not todo:
                return ids
            costs = {mode: self._costs.run(cfg, mode, self.threads_per_worker) for mode in todo}
            with self._lock:
                for mode in todo:
                    ids[mode] = self._attach(keys[mode], client_id)
                todo = [mode for mode in todo if not ids[mode]]
                if todo:
                    total = Cost(sum(costs[m].seconds for m in todo), max(costs[m].memory for m in todo))
                    self._admit(client_id, total, len(todo), admin)
                    pair_id = new_id()
                    for mode in todo:
                        ids[mode] = self._enqueue(cfg, mode, client_id, preset, pair_id, costs[mode], key=keys[mode])
        return ids

    def submit_real(self, real_cfg, *, client_id="local", admin: bool = False) -> str:
        """Queue one real-image experiment (a core.real.RealConfig), mode 'real': a fresh run, or the identical
        one queued or running here already, attached to.

        Its worker runs core.real.run_real; runs.step is the percent done (steps = 100), per-epoch
        metrics and the result land in the store as core/real_runs.py describes.
        """
        from .real_runs import MODE, PERCENT

        key = config_key(real_cfg, MODE)
        with self._refusals():
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
            cost = self._costs.real(real_cfg)
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
                self._admit(client_id, cost, 1, admin)
                preset = f"{real_cfg.dataset}-{'quick' if real_cfg.quick else 'full'}"
                return self._enqueue(real_cfg, MODE, client_id, preset, None, cost, key=key, steps=PERCENT)

    def submit_sweep(self, spec, *, client_id="local", preset=None, backend: str = "inline",
                     scheduler: str | None = None, cluster_threads: int | None = None, admin: bool = False) -> str:
        """Queue a sweep (a core.runs.sweep_spec.SweepSpec) as one job of mode 'sweep': a worker trains its runs
        batch by batch on its own share of the cores (or hands them to the Dask ``scheduler``) and writes
        each to the store as it ends. The identical sweep queued or running here already is attached to."""
        key = config_key(spec, SWEEP)
        with self._refusals():
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
            cost = self._costs.sweep(spec, self.threads_per_worker, cluster_threads if scheduler else None)
            with self._lock:
                if attached := self._attach(key, client_id):
                    return attached
                self._admit(client_id, cost, 1, admin)
                extra = {"backend": backend, "scheduler": scheduler, "preset": preset}
                return self._enqueue(spec, SWEEP, client_id, preset, None, cost, key=key, extra=extra)

    @contextmanager
    def _refusals(self):
        """A store that cannot be read or written refuses the submit with its one line."""
        try:
            yield
        except StoreError as err:
            raise JobRefused(str(err)) from err

    def _attach(self, key: str, client_id: str) -> str | None:
        """The run id of a queued or running job of the same setup, if there is one; its watchers now count
        this person."""
        run_id = self._by_key.get(key)
        if run_id is not None:
            job = self._jobs[run_id]
            if client_id not in job.watchers:
                job.watchers.append(client_id)
        return run_id

    def _admit(self, client_id: str, cost: Cost, jobs: int, admin: bool) -> None:
        if self._closing:
            raise JobRefused("the job manager is shutting down; no new runs are taken")
        if self._broken:
            raise JobRefused(self._broken)
        try:
            admission.check_memory(cost, self.memory_budget)
            if self.caps is None or admin or self._is_admin(client_id):
                return
            mine = [job for job in self._jobs.values() if job.payer == client_id]
            self.caps.check(cost, sum(job.estimate_s for job in mine), len(mine), jobs,
                            sum(job.estimate_s for job in self._jobs.values()))
        except Refused as err:
            raise JobRefused(str(err)) from None

    def _enqueue(self, cfg, mode, client_id, preset, pair_id, cost: Cost, *, key: str | None, steps=None,
                 extra: dict | None = None) -> str:
        run_id = self.store.create_run(cfg, mode, pair_id=pair_id, preset=preset, client_id=client_id, steps=steps)
        job = Job(run_id, next(self._seq), mode, {**cfg.to_dict(), **(extra or {})}, client_id, key=key,
                  debug=self._debug, estimate_s=cost.seconds, memory=cost.memory, preset=preset, watchers=[client_id])
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
        """0 = running; n >= 1 = the n-th queued run to start as the queue stands (1 starts next); None = not
        active here."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return None
            return 0 if job.on_worker else self._order().index(job) + 1

    def active(self, client_id: str | None = None) -> list[str]:
        """The queued and running runs (of the ones this person watches)."""
        with self._lock:
            return [r for r, job in self._jobs.items() if client_id is None or client_id in job.watchers]

    def watching(self, run_id: str, client_id: str | None) -> bool:
        with self._lock:
            job = self._jobs.get(run_id)
            return job is not None and client_id in job.watchers

    def worker_pid(self, run_id: str) -> int | None:
        with self._lock:
            job = self._jobs.get(run_id)
            return job.worker.pid if job and job.worker else None

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._pool.workers]

    def may_change(self, run_id: str, requester: Requester = LOCAL) -> bool:
        """Whether the requester may stop the run (see core/runs/owners.py): its starter, a watcher, the admin."""
        if self.watching(run_id, requester.client_id):
            return True
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
        owner = job.client_id if job is not None else (self.store.get_run(run_id, final=False) or {}).get("client_id")
        check(run_id, owner, requester, action)

    def release(self, run_id: str, requester: Requester) -> bool:
        """This watcher no longer wants the run: it is detached, and the run is stopped when no watcher is
        left, or at once when the requester is an admin. False when the run is not active here or the
        requester neither watches it nor is an admin."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return False
            if requester.admin:
                self._stop(job, "cancelled", "cancelled by the server's admin")
                return True
            if requester.client_id not in job.watchers:
                return False
            job.watchers.remove(requester.client_id)
            if not job.watchers:
                self._stop(job, "cancelled", "cancelled by the user")
            return True

    def cancel(self, run_id: str, *, status: str = "cancelled", reason: str = "cancelled by the user",
               requester: Requester = LOCAL) -> bool:
        """Stop a run for everyone: a queued one at once, a running one at its next step (killed after grace_s).

        NotAllowed if the requester neither started it nor is an admin; False if it is not active here.
        The pages' Stop is ``release``: it stops a shared run only when its last watcher leaves.
        """
        self._check_owner(run_id, requester, "stop")
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return False
            self._stop(job, status, reason)
            return True

    def _stop(self, job: Job, status: str, reason: str) -> None:
        if job.state is JobState.QUEUED:
            self._queue.remove(job)
            self._record(job.run_id, status, f"{reason} before it started")
            self._end(job)
        elif job.state is JobState.RUNNING:
            self._pool.ask_to_stop(job, status, reason)

    def stop_person(self, client_id: str, requester: Requester) -> int:
        """Everything of one person (an admin's clean-up): runs only they watch are stopped, shared ones go on
        without them. How many jobs it touched."""
        if not requester.admin:
            raise NotAllowed("only someone with the server's admin token may stop another person's runs")
        with self._lock:
            touched = 0
            for job in list(self._jobs.values()):
                if client_id not in job.watchers and job.client_id != client_id:
                    continue
                touched += 1
                if client_id in job.watchers:
                    job.watchers.remove(client_id)
                if not job.watchers:
                    self._stop(job, "cancelled", "cancelled by the server's admin")
            return touched

    def delete(self, run_id: str, *, requester: Requester = LOCAL) -> bool:
        """Stop the run if it is active here, then remove it and its data from the store (NotAllowed as cancel,
        and for an active run other persons still watch: they would lose it)."""
        self._check_owner(run_id, requester, "delete")
        with self._lock:
            job = self._jobs.get(run_id)
            others = [w for w in (job.watchers if job else []) if w != requester.client_id]
            if others and not requester.admin:
                raise NotAllowed(f"run {run_id} is watched by {len(others)} other browser(s): press Stop to leave it "
                                 f"to them")
            if job is not None:
                self._stop(job, "cancelled", "cancelled by the user")
        return self.store.delete_run(run_id)

    def queue_view(self) -> list[dict]:
        """The active jobs as an admin sees them: running first, then the queue in the order it will start."""
        with self._lock:
            running = [job for job in self._jobs.values() if job.on_worker]
            rows = []
            for place, job in enumerate([*running, *self._order()]):
                rows.append({"run_id": job.run_id, "mode": job.mode, "preset": job.preset, "person": job.payer,
                             "watchers": len(job.watchers), "estimate_s": job.estimate_s, "memory": job.memory,
                             "place": 0 if job.on_worker else place - len(running) + 1})
            return rows

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
                self._stop(job, status, reason)
            if cancel_running:
                for job in list(self._jobs.values()):
                    self._stop(job, status, reason)
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
                try:
                    while item is not None:
                        self._handle(*item)
                        try:
                            item = self._events.get_nowait()
                        except queue.Empty:
                            item = None
                    self._pool.check_deadlines(list(self._jobs.values()), self.grace_s, self.wall_time_s)
                    self._dispatch()
                    self._share_cores()
                    self._retry_records()
                except Exception:  # a bug here must not leave every later Run queued forever
                    _log.exception("the job scheduler hit an error; it goes on")

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
                        self._record(job.run_id, "failed", fields.get("error"))
                    worker.job = None
                    self._end(job)
        elif kind == "exit":
            job, record, broken = self._pool.on_exit(worker, respawn=not self._closing)
            if job is not None:
                self._record(job.run_id, *record)
                self._end(job)
            if broken and not self._closing and not self._broken:
                self._broken = "the job workers fail to start; see the server's log"
                for queued in list(self._queue):
                    self._stop(queued, "failed", self._broken)
            self._changed.notify_all()

    def _order(self) -> list[Job]:
        """The queue in the order it starts: by when the job would end its person's use of the workers (their
        recent use plus its estimate), then oldest first."""
        now = time.monotonic()
        return sorted(self._queue, key=lambda job: (self._use(job.payer, now) + job.estimate_s, job.seq))

    @staticmethod
    def _long(job: Job) -> bool:
        return job.mode == SWEEP or job.estimate_s > LONG_JOB_S

    def _use(self, person: str, now: float) -> float:
        seconds, when = self._used.get(person, (0.0, now))
        return seconds * 0.5 ** ((now - when) / HALF_LIFE_S)

    def _charge(self, person: str, seconds: float) -> None:
        now = time.monotonic()
        self._used[person] = (self._use(person, now) + seconds, now)
        if len(self._used) > 1000:  # forget those whose use has faded
            self._used = {p: v for p, v in self._used.items() if self._use(p, now) > 1.0}

    def _dispatch(self) -> None:
        for worker in sorted(self._pool.idle(), key=lambda w: w.background):  # the regular workers first
            if not self._queue or self._stopped:
                return
            job = self._pick(worker)
            if job is None:  # what waits does not fit here now: it starts when memory or a worker frees
                continue
            self._queue.remove(job)
            job.threads = self.threads_per_worker  # before it shows as running: a reader never sees 0
            order = protocol.JobOrder(seq=job.seq, run_id=job.run_id, mode=job.mode, config=job.config,
                                      store=self.store_path, flush_s=self.flush_s, wall_s=self.wall_time_s,
                                      threads=self.threads_per_worker, debug=job.debug)
            if self._pool.assign(worker, job, order):
                self._charge(job.payer, job.estimate_s)
            else:  # the worker is dying: the job goes back to the queue
                job.threads = 0
                self._queue.append(job)

    def _pick(self, worker) -> Job | None:
        """The first job in the queue's order that this worker may take and that fits the memory left."""
        running = [job for job in self._jobs.values() if job.on_worker]
        held = sum(job.memory for job in running)
        sweeps = sum(job.mode == SWEEP for job in running)
        for job in self._order():
            if running and held + job.memory > self.memory_budget:
                continue
            if self.background_workers and not worker.background and self._long(job):
                continue  # long jobs wait for a background worker
            if not self.background_workers and job.mode == SWEEP and sweeps >= self.sweep_slots:
                continue
            return job
        return None

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

    def _record(self, run_id: str, status: str, error: str | None) -> None:
        """A run's final status into the store; one the store refuses now (a full disk) is kept and tried
        again every RETRY_S until it is taken, so the run ends with its reason once the cause is gone."""
        try:
            self.store.finish_run(run_id, status, error, only_if_active=True)
            self._unrecorded.pop(run_id, None)
        except StoreError as err:
            self._unrecorded[run_id] = (status, error)
            if str(err) != self.last_fault:
                _log.warning("%s (run %s stays %s until the store takes it)", err, run_id, status)
            self.last_fault = str(err)

    def _retry_records(self) -> None:
        if self._unrecorded and time.monotonic() >= self._retry_at:
            self._retry_at = time.monotonic() + RETRY_S
            for run_id, (status, error) in list(self._unrecorded.items()):
                self._record(run_id, status, error)

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
