"""A persistent run store on SQLite: runs, their metrics per logged step, weight snapshots, artifacts.

Every process (dashboard server, job workers, command line) opens the same file. WAL mode
lets readers see committed rows while a worker writes, and write transactions stay short
(BEGIN IMMEDIATE, one batch at a time) so the busy timeout is never near. Weights are
stored as raw float32 bytes with their shape: loading a snapshot never unpickles anything.
Artifacts are named texts of a run (a real-image run's result and sample images, as JSON).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .schema import BUSY_TIMEOUT_S, RUN_COLUMNS, SCHEMA_VERSION, StoreError, connect, translate

__all__ = ["RunStore", "StoreError", "SCHEMA_VERSION", "BUSY_TIMEOUT_S", "new_id", "code_version", "config_key"]

STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted", "diverged")
ACTIVE = ("queued", "running")
CORE_DIR = Path(__file__).resolve().parents[1]
# Only the code that produces a run's numbers: editing the job queue or the command line keeps the cache.
RESULT_CODE_DIRS = ("engine", "real")

_abandoned: list = []  # connections inherited over fork: never closed in the child (SQLite forbids it)


def default_path() -> Path:
    return Path(os.environ.get("RFL_STORE") or Path("runs") / "runs.sqlite")


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """Content hash of the code that produces results (core/engine, core/real): a cached result is
    reused only for the code that made it, and editing the job queue, the store or the command line
    does not throw the cache away."""
    digest = hashlib.sha256()
    for folder in RESULT_CODE_DIRS:
        for path in sorted((CORE_DIR / folder).rglob("*.py")):
            digest.update(str(path.relative_to(CORE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _git_short_hash() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(CORE_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def code_version() -> str:
    """'<git short hash>+<source hash>' ('nogit+...' outside a checkout): what a run was made with."""
    return f"{_git_short_hash() or 'nogit'}+{source_hash()}"


def config_key(cfg, mode: str) -> str:
    """Same key = same result: the config minus where it ran (device, threads), the mode, the source.

    The git hash is left out on purpose, so that a commit touching only the dashboard keeps the cache.
    """
    data = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "threads")}
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + f"|{mode}|{source_hash()}"
    return hashlib.sha256(text.encode()).hexdigest()


def owner_id() -> str:
    """'host:pid:start time:start since boot' of this process: a pid alone could be reused by a later process.

    The start time (seconds since the epoch) is what a person reads; the start since boot (seconds, where
    the OS tells it: Linux) is what owner_alive compares. Only the latter is fixed: the former is the time
    since boot plus the boot's date, which moves when the clock is set (a time sync; a virtual machine
    resumed from a snapshot, whose clock is set forward by the pause), and a run must not look orphaned to
    another process because the clock moved."""
    return _owner_of(os.getpid())


@functools.lru_cache(maxsize=4)
def _owner_of(pid: int) -> str:
    import psutil

    owner = f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"
    since_boot = _started_since_boot(pid)
    return owner if since_boot is None else f"{owner}:{since_boot:.2f}"


def _started_since_boot(pid: int) -> float | None:
    """When process pid started, in seconds since the machine booted (Linux's /proc/PID/stat, field 22, in
    clock ticks); None where there is no such file or the process is gone. No clock setting moves it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # the fields after the command's ")" start at field 3
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _owner_fields(owner: str | None) -> tuple[str, str, str, float | None] | None:
    """(host, pid, start time, start since boot or None) of an owner; None when it is not one. Three fields
    were written before the start since boot was, and are where the OS does not tell it."""
    fields = (owner or "").split(":")
    try:
        if len(fields) >= 4:
            float(fields[-2])
            return ":".join(fields[:-3]), fields[-3], fields[-2], float(fields[-1])
        if len(fields) == 3:
            return fields[0], fields[1], fields[2], None
    except ValueError:
        pass
    return None


def owner_alive(owner: str | None) -> bool:
    """Whether the process that created a run still lives; another host's process cannot be told, so yes.
    Compared by the start since boot where the owner has it, else by the start time as it was written."""
    fields = _owner_fields(owner)
    if fields is None:
        return False
    import psutil

    host, pid, created, since_boot = fields
    if host != socket.gethostname():
        return True
    try:
        proc = psutil.Process(int(pid))
        if since_boot is None:
            same = abs(proc.create_time() - float(created)) < 0.05
        else:
            started = _started_since_boot(proc.pid)
            same = started is not None and abs(started - since_boot) < 0.05
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def owner_pid(owner: str | None) -> str:
    """The pid an owner names, for a message ('?' when there is none)."""
    fields = _owner_fields(owner)
    return "?" if fields is None else fields[1]


class RunStore:
    """One SQLite file; one connection per process, shared by its threads under a lock."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pid = None
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    # -- connection ----------------------------------------------------------------
    def _locked(self) -> threading.RLock:
        if self._pid != os.getpid():  # new process (fork): a fresh lock and, later, a fresh connection
            if self._db is not None:
                _abandoned.append(self._db)
            self._pid, self._lock, self._db = os.getpid(), threading.RLock(), None
        return self._lock

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)  # checks the file and its schema version (schema.py)
        return self._db

    def check(self) -> None:
        """Open the file now: StoreError (one line: the file, what is wrong, what to do) if it cannot serve."""
        with self._locked():
            self._conn()

    @contextmanager
    def _write(self):
        """One transaction; any failure (a full disk, a lock held too long) rolls it back whole and is raised
        as StoreError: what was committed before stays, nothing of the failed batch is half-written."""
        with self._locked():
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read lock
            except (sqlite3.Error, OSError) as err:
                raise translate(self.path, err) from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as err:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(err, (sqlite3.Error, OSError)):
                    raise translate(self.path, err) from None
                raise

    def _read(self, sql: str, params=()) -> list[tuple]:
        with self._locked():
            try:
                return self._conn().execute(sql, params).fetchall()
            except (sqlite3.Error, OSError) as err:
                raise translate(self.path, err) from None

    def close(self) -> None:
        with self._locked():
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- writing ---------------------------------------------------------------------
    def create_run(self, cfg, mode: str, *, pair_id=None, preset=None, client_id=None, status="queued",
                   steps: int | None = None, sweep_id: str | None = None) -> str:
        """A new run row; ``steps`` defaults to cfg.steps (a real-image run has none: it counts percent);
        ``sweep_id`` names the sweep (a run of mode 'sweep') it belongs to."""
        _check_status(status)
        row = _new_row(cfg, mode, status, pair_id=pair_id, preset=preset, client_id=client_id, steps=steps,
                       sweep_id=sweep_id)
        with self._write() as db:
            _insert(db, row)
        return row["id"]

    def record_run(self, cfg, mode: str, *, status: str, error: str | None, device: str, history: list[dict],
                   snapshot=None, pair_id=None, preset=None, client_id=None, sweep_id=None,
                   artifacts: dict[str, str] | None = None) -> str:
        """A run that has already ended (a sweep's, trained in a batch), written whole in one transaction:
        a stopped sweep leaves only the runs it finished, never rows of runs that did not start."""
        _check_status(status)
        now = time.time()
        row = _new_row(cfg, mode, status, pair_id=pair_id, preset=preset, client_id=client_id, sweep_id=sweep_id)
        last = int(history[-1]["step"]) if history else None
        row.update(started=now, finished=now, device=device, error=error, step=last)
        run_id = row["id"]
        metric_rows = [(run_id, int(r["step"]), k, _float(v)) for r in history for k, v in r.items() if k != "step"]
        with self._write() as db:
            _insert(db, row)
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)", metric_rows)
            if snapshot is not None and last is not None:
                db.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)", (run_id, last, *_encode(snapshot)))
            db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?,?,?)",
                           [(run_id, str(name), str(text)) for name, text in (artifacts or {}).items()])
        return run_id

    def start_run(self, run_id: str, device: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET status='running', started=?, device=? WHERE id=? AND status='queued'",
                       (time.time(), device, run_id))

    def finish_run(self, run_id: str, status: str, error: str | None = None, *, only_if_active=False) -> bool:
        """Set a final status; with only_if_active, leave a run some other process already ended."""
        _check_status(status)
        sql = "UPDATE runs SET status=?, finished=?, error=? WHERE id=?"
        if only_if_active:
            sql += " AND status IN ('queued', 'running')"
        with self._write() as db:
            return db.execute(sql, (status, time.time(), error, run_id)).rowcount > 0

    def log_progress(self, run_id: str, step: int) -> bool:
        return self.log_batch(run_id, step=step)

    def log_metrics(self, run_id: str, rows: list[dict]) -> None:
        self.log_batch(run_id, rows=rows)

    def log_snapshot(self, run_id: str, step: int, weights) -> None:
        self.log_batch(run_id, snapshots=[(step, weights)])

    def log_snapshots(self, run_id: str, items) -> None:
        self.log_batch(run_id, snapshots=items)

    def log_artifact(self, run_id: str, name: str, text: str) -> bool:
        """Store (or replace) one named text of a run, e.g. a result as JSON; False if the run was deleted."""
        return self.log_batch(run_id, artifacts={name: text})

    def log_batch(self, run_id: str, *, rows=(), snapshots=(), step: int | None = None,
                  artifacts: dict[str, str] | None = None) -> bool:
        """Metrics rows, snapshots, artifacts and progress in one transaction; False if the run was deleted."""
        metric_rows = [(run_id, int(r["step"]), k, _float(v)) for r in rows for k, v in r.items() if k != "step"]
        blobs = [(run_id, int(s), *_encode(w)) for s, w in snapshots]
        with self._write() as db:
            if not db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
                return False
            if step is not None:
                db.execute("UPDATE runs SET step=? WHERE id=?", (int(step), run_id))
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)", metric_rows)
            db.executemany("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)", blobs)
            db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?,?,?)",
                           [(run_id, str(name), str(text)) for name, text in (artifacts or {}).items()])
        return True

    def delete_run(self, run_id: str) -> bool:
        with self._write() as db:
            db.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM snapshots WHERE run_id=?", (run_id,))
            db.execute("DELETE FROM artifacts WHERE run_id=?", (run_id,))
            return db.execute("DELETE FROM runs WHERE id=?", (run_id,)).rowcount > 0

    def mark_orphans_interrupted(self) -> int:
        """Runs left queued or running by a process that is gone become 'interrupted'; returns how many."""
        rows = self._read("SELECT id, status, owner, step FROM runs WHERE status IN ('queued', 'running')")
        count = 0
        for run_id, status, owner, step in rows:
            if owner_alive(owner):
                continue
            pid = owner_pid(owner)
            kept = "no metrics were logged" if step is None else f"metrics up to step {step} are kept"
            error = f"interrupted: the server (pid {pid}) stopped while this run was {status}; {kept}"
            count += self.finish_run(run_id, "interrupted", error, only_if_active=True)
        return count

    # -- reading ---------------------------------------------------------------------
    def get_run(self, run_id: str, *, final: bool = True) -> dict | None:
        """The run's row as a dict, with its last logged metrics under "final" (final=False skips that
        join: the live panels poll status and step every second or two and read metrics on their own)."""
        rows = self._read(f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE id=?", (run_id,))
        if not rows:
            return None
        run = _run_dict(rows[0])
        if final:
            run["final"] = self._finals([run_id]).get(run_id, {})
        return run

    def run_status(self, run_id: str) -> str | None:
        rows = self._read("SELECT status FROM runs WHERE id=?", (run_id,))
        return rows[0][0] if rows else None

    def list_runs(self, limit: int | None = None, status: str | None = None, pair_id: str | None = None,
                  *, sweeps: bool = True) -> list[dict]:
        """Newest first; each run as get_run gives it. ``sweeps=False`` leaves out sweeps and their runs
        (a sweep of thousands would push every other run off a page's list)."""
        where, params = [], []
        if not sweeps:
            where.append("sweep_id IS NULL AND mode != 'sweep'")
        if status is not None:
            where.append("status=?")
            params.append(status)
        if pair_id is not None:
            where.append("pair_id=?")
            params.append(pair_id)
        sql = f"SELECT {','.join(RUN_COLUMNS)} FROM runs"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        runs = [_run_dict(row) for row in self._read(sql, params)]
        finals = self._finals([r["id"] for r in runs])
        for run in runs:
            run["final"] = finals.get(run["id"], {})
        return runs

    def count_sweeps(self) -> tuple[int, int]:
        """(sweeps, runs of sweeps) in the store."""
        sweeps, runs = self._read("SELECT SUM(mode = 'sweep'), SUM(sweep_id IS NOT NULL) FROM runs")[0]
        return int(sweeps or 0), int(runs or 0)

    def sweep_artifacts(self, sweep_id: str, name: str) -> list[tuple[str, str]]:
        """(run id, text) of the named artifact of every run of a sweep, in the order they were recorded."""
        return self._read("SELECT a.run_id, a.text FROM runs r JOIN artifacts a ON a.run_id = r.id "
                          "WHERE r.sweep_id=? AND a.name=? ORDER BY r.rowid", (sweep_id, name))

    def list_sweeps(self, client_id: str | None = None, limit: int = 20) -> list[dict]:
        """The newest sweeps (runs of mode 'sweep'), of one person or of everyone, without their finals."""
        sql, params = f"SELECT {','.join(RUN_COLUMNS)} FROM runs WHERE mode='sweep'", []
        if client_id is not None:
            sql += " AND client_id=?"
            params.append(client_id)
        sql += " ORDER BY created DESC, rowid DESC LIMIT ?"
        return [_run_dict(row) for row in self._read(sql, (*params, int(limit)))]

    def pair_runs(self, pair_id: str) -> list[dict]:
        """The runs of one twin pair, standard first."""
        order = {"std": 0, "adv": 1}
        return sorted(self.list_runs(pair_id=pair_id), key=lambda r: (order.get(r["mode"], 2), r["created"]))

    def ids_with_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        return [row[0] for row in self._read("SELECT id FROM runs WHERE substr(id, 1, ?)=? LIMIT ?",
                                             (len(prefix), prefix, int(limit)))]

    def find_cached(self, cfg, mode: str) -> str | None:
        rows = self._read("SELECT id FROM runs WHERE config_key=? AND status='finished' ORDER BY finished DESC LIMIT 1",
                          (config_key(cfg, mode),))
        return rows[0][0] if rows else None

    def find_latest(self, cfg, mode: str, statuses: tuple[str, ...] | None = None) -> str | None:
        """The newest run of this setup (config, mode and result code), of any status or of the given ones."""
        where, params = "config_key=?", [config_key(cfg, mode)]
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            params += list(statuses)
        rows = self._read(f"SELECT id FROM runs WHERE {where} ORDER BY created DESC LIMIT 1", tuple(params))
        return rows[0][0] if rows else None

    def metrics_frame(self, run_id: str, since_step: int | None = None):
        """One row per logged step: ``step`` then the metric names of core/engine/metrics.py (NaN where missing)."""
        import pandas as pd

        from ..engine.metrics import METRICS

        sql, params = "SELECT step, name, value FROM metrics WHERE run_id=?", [run_id]
        if since_step is not None:
            sql += " AND step>?"
            params.append(int(since_step))
        long = pd.DataFrame(self._read(sql, params), columns=["step", "name", "value"])
        extras = sorted(set(long["name"]) - set(METRICS))
        columns = [*METRICS, *extras]
        if long.empty:
            return pd.DataFrame({"step": pd.Series(dtype="int64"), **{c: pd.Series(dtype="float64") for c in columns}})
        wide = long.pivot(index="step", columns="name", values="value").reindex(columns=columns).astype("float64")
        wide = wide.sort_index().reset_index()
        wide.columns.name = None
        wide["step"] = wide["step"].astype("int64")
        return wide

    def last_metric_step(self, run_id: str) -> int | None:
        """The newest logged step, one index lookup: poll this, re-read the frame only when it moves."""
        return self._read("SELECT MAX(step) FROM metrics WHERE run_id=?", (run_id,))[0][0]

    def get_artifact(self, run_id: str, name: str) -> str | None:
        """A run's named text (log_artifact), or None when there is none."""
        rows = self._read("SELECT text FROM artifacts WHERE run_id=? AND name=?", (run_id, name))
        return rows[0][0] if rows else None

    def artifact_names(self, run_id: str) -> list[str]:
        return [row[0] for row in self._read("SELECT name FROM artifacts WHERE run_id=? ORDER BY name", (run_id,))]

    def snapshot_steps(self, run_id: str) -> list[int]:
        return [row[0] for row in self._read("SELECT step FROM snapshots WHERE run_id=? ORDER BY step", (run_id,))]

    def load_snapshot(self, run_id: str, step: int):
        import torch

        rows = self._read("SELECT shape, dtype, data FROM snapshots WHERE run_id=? AND step=?", (run_id, int(step)))
        if not rows:
            raise KeyError(f"run {run_id} has no snapshot at step {step}")
        shape, dtype, data = rows[0]
        array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
        return torch.from_numpy(array.copy())

    def _finals(self, run_ids: list[str]) -> dict[str, dict]:
        """The last logged metrics row of each run, in one query per 500 runs."""
        out: dict[str, dict] = {}
        for start in range(0, len(run_ids), 500):
            part = run_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._read(
                f"SELECT m.run_id, m.name, m.value FROM metrics m JOIN (SELECT run_id, MAX(step) AS last FROM metrics "
                f"WHERE run_id IN ({marks}) GROUP BY run_id) l ON m.run_id=l.run_id AND m.step=l.last", part)
            for run_id, name, value in rows:
                out.setdefault(run_id, {})[name] = float("nan") if value is None else value
        return out


def _new_row(cfg, mode: str, status: str, *, pair_id=None, preset=None, client_id=None, steps=None,
             sweep_id=None) -> dict:
    return dict(id=new_id(), pair_id=pair_id, created=time.time(), started=None, finished=None, status=status,
                mode=mode, config_json=json.dumps(cfg.to_dict(), sort_keys=True), config_key=config_key(cfg, mode),
                seed=cfg.seed, device=None, code_version=code_version(), preset=preset, client_id=client_id,
                error=None, step=None, steps=cfg.steps if steps is None else steps, owner=owner_id(),
                sweep_id=sweep_id)


def _insert(db, row: dict) -> None:
    db.execute(f"INSERT INTO runs ({','.join(row)}) VALUES ({','.join('?' * len(row))})", tuple(row.values()))


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")


def _float(value) -> float | None:
    return None if value is None else float(value)  # SQLite keeps NaN as NULL; read back as NaN


def _encode(weights) -> tuple[str, str, bytes]:
    """Raw little-endian float32 bytes and the shape as JSON."""
    if hasattr(weights, "detach"):
        weights = weights.detach().to("cpu").float().numpy()
    array = np.ascontiguousarray(weights, dtype="<f4")
    return json.dumps(list(array.shape)), "<f4", array.tobytes()


def _run_dict(row: tuple) -> dict:
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    run["config"] = json.loads(run.pop("config_json") or "{}")
    return run
