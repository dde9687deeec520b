"""One job of the job manager and its state: the one place that says which state follows which.

    QUEUED ──> RUNNING ──> STOPPING ──> KILLING ──> ENDED
       │  <──────┘ │          └──────────────────────> │
       └───────────┴────────────────────────────────-> │

- QUEUED: waiting in the manager's queue for an idle worker;
- RUNNING: handed to a worker (back to QUEUED only if the hand-over failed: the worker was dying);
- STOPPING: a stop was asked for; the worker stops it at its next step, or is killed after the grace;
- KILLING: its worker is being killed (a stop past the grace, or the wall-time limit); ``kill``
  holds what to record once the worker's exit is seen;
- ENDED: the store holds its final status; the manager forgets the job.

The run's own status in the store (queued, running, finished, failed, ...) is what everyone else
reads; this state is the manager's bookkeeping of the process that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .protocol import DEFAULT_CANCEL


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    KILLING = "killing"
    ENDED = "ended"


TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.ENDED}),
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.STOPPING, JobState.KILLING, JobState.ENDED}),
    JobState.STOPPING: frozenset({JobState.KILLING, JobState.ENDED}),
    JobState.KILLING: frozenset({JobState.ENDED}),
    JobState.ENDED: frozenset(),
}
ON_A_WORKER = (JobState.RUNNING, JobState.STOPPING, JobState.KILLING)


class BadTransition(RuntimeError):
    """A bug in the manager: a job asked to move where its state does not lead."""


@dataclass(eq=False)
class Job:
    run_id: str
    seq: int
    mode: str
    config: dict
    client_id: str  # the person who submitted it (the store's runs.client_id)
    key: str | None = None  # the store's config_key: identical submissions attach to this job
    debug: dict | None = None
    estimate_s: float = 0.0  # its cost (core/runs/admission.py): work on one worker's share of the cores
    memory: int = 0  # its peak bytes while it runs
    preset: str | None = None
    watchers: list[str] = field(default_factory=list)  # the persons who asked for it, first one first
    state: JobState = JobState.QUEUED
    worker: object | None = None  # the core.runs.supervisor.Worker it runs on, while on one
    started: float | None = None  # monotonic, when handed to a worker
    threads: int = 0  # the thread count its worker was last told (0: not on a worker yet)
    cancel_at: float | None = None  # monotonic, when a stop was asked for
    cancel: tuple[str, str] = DEFAULT_CANCEL  # (status, reason) of that stop
    kill: tuple[str, str] | None = field(default=None)  # what to record once its worker is killed

    def move(self, new: JobState) -> None:
        if new not in TRANSITIONS[self.state]:
            raise BadTransition(f"job {self.run_id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new

    @property
    def payer(self) -> str:
        """Whose share of the server it counts against: its first watcher, else whoever submitted it."""
        return self.watchers[0] if self.watchers else self.client_id

    @property
    def on_worker(self) -> bool:
        return self.state in ON_A_WORKER

    @property
    def store_status(self) -> str:
        """What the store says of a job the manager still holds: queued until a worker has it."""
        return "queued" if self.state is JobState.QUEUED else "running"
