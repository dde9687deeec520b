"""A warm job worker, ``python -m core.runs.worker [STORE [--cuda]]``, started and fed by core.runs.jobs.JobManager.

It imports torch and the engine once, then takes jobs one at a time, so a submitted run starts
in milliseconds instead of the 1-2 s a fresh interpreter needs. Messages are JSON lines defined in
core.runs.protocol: jobs, cancels and stop come on stdin; events (ready, done) leave on the original
stdout, and stdout is pointed at stderr so that nothing printed can garble them. A plain subprocess, not
multiprocessing: spawn would re-import the parent's main script, which under ``streamlit run``
is streamlit's own, and a worker must never import streamlit.

Cancel is cooperative: a reader thread files the cancel, and train() asks ``should_stop``
every step, which is a dict lookup. If stdin closes mid-run the server is gone: the run
stops, is marked interrupted, and the worker exits.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
import traceback

from . import protocol
from .protocol import JobOrder


class Inbox:
    """What the server said, filed by a reader thread while the main thread trains."""

    def __init__(self):
        self.jobs: queue.Queue = queue.Queue()  # JobOrder, or None to stop
        self.cancels: dict[int, tuple[str, str]] = {}  # job seq -> (final status, reason)
        self.threads: dict[int, int] = {}  # job seq -> the thread count the manager now gives it
        self.orphaned = False  # stdin closed: the server is gone

    def read(self, stream) -> None:
        for line in stream:
            kind, fields = protocol.decode(line)
            if kind == protocol.CANCEL:
                seq, what = protocol.cancel_of(fields)
                self.cancels[seq] = what
            elif kind == protocol.THREADS:
                seq, n = protocol.threads_of(fields)
                self.threads[seq] = n
            elif kind == protocol.JOB:
                self.jobs.put(protocol.job_order(fields))
            else:
                self.jobs.put(None)
        self.orphaned = True
        self.jobs.put(None)


def own_threads(threads: int) -> int:
    """A config's own thread count, at most this machine's cores (a link's threads=1024 gets the cores)."""
    from ..engine.resources import cpu_count

    return min(int(threads), cpu_count())


def _store(stores: dict, path: str):
    from .store import RunStore

    if path not in stores:
        stores[path] = RunStore(path)
    return stores[path]


def run_job(msg: JobOrder, inbox: Inbox, stores: dict) -> str:
    """Train one run into the store; returns the final status it recorded."""
    if msg.mode == "real":
        return run_real_job(msg, inbox, stores)
    if msg.mode == "sweep":
        return run_sweep_job(msg, inbox, stores)
    import torch

    from ..engine.config import Config
    from ..engine.resources import resolve_device, set_threads
    from ..engine.train import train
    from .recorder import RunRecorder

    seq, run_id, mode = msg.seq, msg.run_id, msg.mode
    for late in [s for s in list(inbox.threads) if s < seq]:  # orders that came after their run ended
        inbox.threads.pop(late, None)
    store = _store(stores, msg.store)
    recorder = RunRecorder(store, run_id, flush_s=msg.flush_s)
    debug = msg.debug or {}
    deadline = time.monotonic() + msg.wall_s

    def should_stop() -> bool:  # asked between two steps, so it is also where a new thread count applies
        if (n := inbox.threads.pop(seq, None)) and not cfg.threads:  # a config's own count stays
            set_threads(n)
        return seq in inbox.cancels or inbox.orphaned or recorder.gone or time.monotonic() > deadline

    def callback(event) -> None:
        recorder(event)
        if debug:
            _stall(debug, event.step)

    try:
        cfg = Config.from_dict(msg.config)
        device = resolve_device(cfg.device)
        store.start_run(run_id, str(device))
        # threads: the worker's own share (the last run may have had more), unless the config sets its own
        result = train(cfg, mode, callback=callback, should_stop=should_stop, threads=msg.threads)
        status, error = result.status, result.reason
    except Exception as err:  # a bad run must not take the worker down
        if not isinstance(err, ValueError):  # ConfigError and the like explain themselves in one line
            traceback.print_exc()
        status, error = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()  # hand cached GPU memory back to the workers sharing the device
    recorder.flush()
    done = "before its first step" if recorder.step is None else f"after step {recorder.step}"
    return _finish(msg, inbox, store, status, error, done, recorder.gone)


def _finish(msg: JobOrder, inbox: Inbox, store, status: str, error: str | None, done: str, gone: bool) -> str:
    """Record the final status; a cancelled run says who stopped it: the user, the server's end or the clock."""
    seq, run_id = msg.seq, msg.run_id
    if status == "cancelled":
        kept = f"{done}; metrics so far are kept"
        if seq in inbox.cancels:
            status, reason = inbox.cancels[seq]
            error = f"{reason} {kept}"
        elif inbox.orphaned:
            status, error = "interrupted", f"interrupted: the server stopped {kept}"
        elif gone:
            return "deleted"
        else:
            status, error = "failed", f"wall-time limit of {msg.wall_s:g} s reached {kept}"
    inbox.cancels.pop(seq, None)
    inbox.threads.pop(seq, None)
    store.finish_run(run_id, status, error, only_if_active=True)
    return status


def run_real_job(msg: JobOrder, inbox: Inbox, stores: dict) -> str:
    """One real-image experiment (core.real.run_real) into the store: see core/real_runs.py for what it keeps."""
    import torch

    from ..real import RealConfig
    from .real_runs import RealRecorder, record_real

    seq, run_id = msg.seq, msg.run_id
    store = _store(stores, msg.store)
    recorder = RealRecorder(store, run_id, flush_s=msg.flush_s)
    deadline = time.monotonic() + msg.wall_s

    def should_stop() -> bool:
        return seq in inbox.cancels or inbox.orphaned or recorder.gone or time.monotonic() > deadline

    try:
        cfg = RealConfig.from_dict(msg.config)
        torch.set_num_threads(own_threads(cfg.threads) or msg.threads)
        result = record_real(store, run_id, cfg, should_stop=should_stop, recorder=recorder)
        status, error = result.status, result.reason
    except Exception as err:  # a bad run (a missing data file: ConfigError) must not take the worker down
        if not isinstance(err, ValueError):
            traceback.print_exc()
        status, error = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    recorder.flush()
    return _finish(msg, inbox, store, status, error, f"at {recorder.percent}%", recorder.gone)


def run_sweep_job(msg: JobOrder, inbox: Inbox, stores: dict) -> str:
    """A sweep (core.runs.sweep_spec.SweepSpec) in this worker: its runs batch by batch on this worker's threads
    (or on the Dask scheduler the order names), each written to the store as it ends (core.runs.sweep)."""
    from ..engine.resources import set_threads
    from .sweep import run_sweep
    from .sweep_spec import SweepSpec

    seq, run_id = msg.seq, msg.run_id
    store = _store(stores, msg.store)
    deadline = time.monotonic() + msg.wall_s
    done = {"runs": 0}

    def should_stop() -> bool:
        return seq in inbox.cancels or inbox.orphaned or time.monotonic() > deadline

    try:
        spec = SweepSpec.from_dict(msg.config)
        set_threads(msg.threads)
        store.start_run(run_id, "cpu")
        backend = msg.config.get("backend") or "inline"
        frame = run_sweep(spec, backend=backend, scheduler=msg.config.get("scheduler"), store=store, sweep_id=run_id,
                          client_id=None, preset=msg.config.get("preset"), threads=msg.threads,
                          should_stop=should_stop, callback=lambda row: done.update(runs=done["runs"] + 1))
        stopped = should_stop() and len(frame) < len(spec)
        status = "cancelled" if stopped else "finished"
        error = None
    except Exception as err:  # a bad sweep, or its cluster failing, must not take the worker down
        if not isinstance(err, ValueError):
            traceback.print_exc()
        status, error = "failed", f"{type(err).__name__}: {err}".splitlines()[0]
    return _finish(msg, inbox, store, status, error, f"after {done['runs']} runs", False)


def _stall(debug: dict, step: int) -> None:
    """Test hook: slow steps (delay_s) or one step that ignores cancel (hang_at) to test the hard kill."""
    time.sleep(debug.get("delay_s", 0.0))
    if debug.get("hang_at") == step:
        time.sleep(3600)


def _warm_up(stores: dict, store_path: str | None, cuda: bool) -> None:
    """Import the engine, compile the CPU kernels, run one small step (on the GPU too: starting CUDA
    takes seconds) and open the store, so that the first job pays none of these one-time costs."""
    from ..engine.fast import warm_kernels
    from ..engine.presets import get_preset
    from ..engine.train import train
    from .store import RunStore, StoreError

    warm_kernels()  # numba's compile (seconds, once per machine) or its cache load
    cfg = get_preset("classroom").config(n_train=20, n_test=20, steps=0, device="cpu", threads=1)
    train(cfg, "adv")
    if cuda:
        train(cfg.replace(device="cuda"), "adv")
    if store_path:
        try:
            stores[store_path] = RunStore(store_path)
            stores[store_path].run_status("")  # opens the connection
        except StoreError:  # a broken store fails the jobs that use it, not the worker: it may be mended
            stores.pop(store_path, None)


# The workers train at a lower CPU priority than the server: with a class's runs filling every core,
# the pages (and a page opened meanwhile) still get a core at once; the runs lose only the server's
# small share. RFL_WORKER_NICE=0 keeps them equal.
DEFAULT_NICE = 10


def lower_priority() -> int:
    """Add RFL_WORKER_NICE (default 10) to this process's niceness where the OS has one; the new niceness."""
    try:
        bump = int(os.environ.get("RFL_WORKER_NICE", DEFAULT_NICE))
    except ValueError:
        bump = DEFAULT_NICE
    if not hasattr(os, "nice"):
        return 0
    return os.nice(max(0, min(19, bump)))


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal: the server decides
    lower_priority()
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed from here on lands on stderr
    stores: dict = {}
    _warm_up(stores, sys.argv[1] if len(sys.argv) > 1 else None, "--cuda" in sys.argv[2:])
    inbox = Inbox()
    threading.Thread(target=inbox.read, args=(sys.stdin,), daemon=True, name="rfl-worker-inbox").start()

    events.write(protocol.ready_line(os.getpid(), "streamlit" in sys.modules))  # streamlit must stay False
    while True:
        msg = inbox.jobs.get()
        if msg is None:
            for store in stores.values():
                store.close()
            return 0
        try:
            events.write(protocol.done_line(msg.seq, run_job(msg, inbox, stores)))
        except BrokenPipeError:
            return 0
        except Exception as err:  # the store itself failed: tell the server, which records it
            traceback.print_exc()
            error = f"{type(err).__name__}: {err}".splitlines()[0]
            events.write(protocol.done_line(msg.seq, protocol.DONE_ERROR, error))


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (most of a second with torch loaded); nothing is left unwritten
