"""The JSON-lines protocol between the job manager (core.runs.jobs) and a warm worker (core.runs.worker).

One message per line, both ways. The server writes orders on the worker's stdin:

- ``job``: train one run (``JobOrder``: its run id, mode, config and where to write);
- ``cancel``: stop job ``seq`` at its next step and record ``status`` with ``reason``;
- ``threads``: job ``seq`` takes ``n`` threads from its next step on (the manager shares idle cores);
- ``stop``: finish and exit (closing stdin means the same, and tells the worker the server is gone).

The worker answers with events on its stdout:

- ``ready``: imported and warmed up (``pid``, and ``streamlit``, which must be False);
- ``done``: job ``seq`` ended with ``status``; ``error`` when the worker could not record the end itself.

Both sides build and read messages only through this module, so a field is named in one place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

# orders (server -> worker)
JOB, CANCEL, THREADS, STOP = "job", "cancel", "threads", "stop"
# events (worker -> server)
READY, DONE = "ready", "done"
DONE_ERROR = "error"  # the status of a done event whose run the worker could not finish in the store

DEFAULT_CANCEL = ("cancelled", "cancelled by the user")  # (final status, reason) of a plain stop


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


@dataclass(frozen=True)
class JobOrder:
    seq: int
    run_id: str
    mode: str
    config: dict
    store: str
    flush_s: float
    wall_s: float
    threads: int
    debug: dict | None = None  # test hook: see core.runs.worker._stall


def encode(kind: str, **fields) -> str:
    """One message as a line: ``{"op": kind, ...}`` for orders, ``{"event": kind, ...}`` for events."""
    key = "event" if kind in (READY, DONE) else "op"
    if key == "op" and kind not in (JOB, CANCEL, THREADS, STOP):
        raise ProtocolError(f"unknown message {kind!r}")
    return json.dumps({key: kind, **fields}) + "\n"


def job_line(order: JobOrder) -> str:
    return encode(JOB, **asdict(order))


def cancel_line(seq: int, status: str, reason: str) -> str:
    return encode(CANCEL, seq=seq, status=status, reason=reason)


def threads_line(seq: int, n: int) -> str:
    return encode(THREADS, seq=seq, n=n)


def stop_line() -> str:
    return encode(STOP)


def ready_line(pid: int, streamlit: bool) -> str:
    return encode(READY, pid=pid, streamlit=streamlit)


def done_line(seq: int, status: str, error: str | None = None) -> str:
    return encode(DONE, seq=seq, status=status, **({"error": error} if error is not None else {}))


def decode(line: str) -> tuple[str, dict]:
    """(kind, fields) of one line; ProtocolError if it is not a message (e.g. a stray print)."""
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"not a message: {line[:80]!r}") from err
    if not isinstance(msg, dict):
        raise ProtocolError(f"not a message: {line[:80]!r}")
    kind = msg.pop("op", None) or msg.pop("event", None)
    if kind not in (JOB, CANCEL, THREADS, STOP, READY, DONE):
        raise ProtocolError(f"unknown message {kind!r}")
    return kind, msg


def job_order(fields: dict) -> JobOrder:
    return JobOrder(**fields)


def cancel_of(fields: dict) -> tuple[int, tuple[str, str]]:
    """(seq, (status, reason)) of a cancel order."""
    return fields["seq"], (fields.get("status", DEFAULT_CANCEL[0]), fields.get("reason", DEFAULT_CANCEL[1]))


def threads_of(fields: dict) -> tuple[int, int]:
    """(seq, n) of a threads order; n is at least 1."""
    return fields["seq"], max(1, int(fields["n"]))
