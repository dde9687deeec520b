"""The run store's file: its schema, its version (SQLite's ``PRAGMA user_version``) and the migrations
between versions, and the one error every store failure becomes.

Opening a store (``connect``) checks, in this order: the file is a SQLite database; its schema is
not newer than this code reads (a newer one is refused, never altered); then it brings an older
file up to date, one numbered migration at a time inside one write transaction, so two processes
opening an old file together migrate it once. Queries live in store.py.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

BUSY_TIMEOUT_S = 10.0

# Migration N takes a file from version N-1 to N. Version 0 is a new file, or one written before
# versions were kept (whose tables equal version 1's: IF NOT EXISTS makes 1 a no-op there).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, pair_id TEXT, created REAL, started REAL, finished REAL,
        status TEXT NOT NULL, mode TEXT, config_json TEXT, config_key TEXT, seed INTEGER,
        device TEXT, code_version TEXT, preset TEXT, client_id TEXT, error TEXT,
        step INTEGER, steps INTEGER, owner TEXT);
    CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
    CREATE INDEX IF NOT EXISTS runs_key ON runs(config_key, status);
    CREATE INDEX IF NOT EXISTS runs_pair ON runs(pair_id);
    CREATE TABLE IF NOT EXISTS metrics (
        run_id TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
        PRIMARY KEY (run_id, step, name)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS snapshots (
        run_id TEXT NOT NULL, step INTEGER NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (run_id, step));
    CREATE TABLE IF NOT EXISTS artifacts (
        run_id TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (run_id, name)) WITHOUT ROWID;
    """,
    # 2: a sweep is a run of mode 'sweep'; its runs name it, so the Runs page can list them apart
    """
    ALTER TABLE runs ADD COLUMN sweep_id TEXT;
    CREATE INDEX IF NOT EXISTS runs_sweep ON runs(sweep_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
RUN_COLUMNS = ("id", "pair_id", "created", "started", "finished", "status", "mode", "config_json", "config_key",
               "seed", "device", "code_version", "preset", "client_id", "error", "step", "steps", "owner", "sweep_id")


class StoreError(RuntimeError):
    """The store file cannot be used as asked; ``str(err)`` is one line naming the file and what to do."""

    def __init__(self, path: Path, problem: str, action: str):
        self.path, self.problem, self.action = Path(path), problem, action
        super().__init__(f"run store {self.path}: {problem}; {action}")


def translate(path: Path, err: BaseException) -> StoreError:
    """A sqlite3 or OS error as a StoreError saying what it means for the user."""
    text = " ".join(str(err).split())
    if isinstance(err, sqlite3.OperationalError) and "full" in text or isinstance(err, OSError) and err.errno == 28:
        return StoreError(path, "the disk is full (nothing of the failed write was kept; earlier rows are intact)",
                          "free space, then retry")
    if isinstance(err, sqlite3.OperationalError) and "locked" in text:
        return StoreError(path, f"busy for over {BUSY_TIMEOUT_S:g} s ({text})", "retry; if it persists, restart the "
                          "processes that write it")
    if isinstance(err, sqlite3.OperationalError) and "readonly" in text or isinstance(err, OSError) and err.errno == 30:
        return StoreError(path, "the file cannot be written (read-only; nothing was changed)",
                          "let the server's user write the file and its folder, or set RFL_STORE to another file")
    if isinstance(err, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return StoreError(path, f"not a readable SQLite database ({text})",
                          "move it aside (its runs cannot be read) or set RFL_STORE to another file")
    return StoreError(path, f"{type(err).__name__}: {text}", "check the file and its folder (permissions, space)")


def connect(path: Path) -> sqlite3.Connection:
    """A connection on an up-to-date store; StoreError when the file cannot be one."""
    path = Path(path)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    except (sqlite3.Error, OSError) as err:
        raise translate(path, err) from None
    try:
        db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        db.execute("PRAGMA journal_mode=WAL")  # the first read of the header: a non-database fails here
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        migrate(db, path)
    except StoreError:
        db.close()
        raise
    except (sqlite3.Error, OSError) as err:
        db.close()
        raise translate(path, err) from None
    return db


def version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a newer file; bring an older one to SCHEMA_VERSION (checked again under the write lock)."""
    _refuse_newer(version(db), path)
    if version(db) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        current = version(db)
        _refuse_newer(current, path)
        for number in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip() and not _has_column_already(db, statement):
                    db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _has_column_already(db: sqlite3.Connection, statement: str) -> bool:
    """An ``ALTER TABLE t ADD COLUMN c`` whose column is there (a file of version 0 whose tables came from a
    later version): SQLite has no IF NOT EXISTS for columns, so the migration asks first."""
    match = re.match(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+(?:COLUMN\s+)?(\w+)", statement, re.IGNORECASE)
    return bool(match) and any(row[1] == match[2] for row in db.execute(f"PRAGMA table_info({match[1]})"))


def _refuse_newer(found: int, path: Path) -> None:
    if found > SCHEMA_VERSION:
        raise StoreError(path, f"written by a newer version of the lab (schema {found}; this one reads up to "
                               f"{SCHEMA_VERSION}); nothing was changed in it",
                         "upgrade the lab, or set RFL_STORE to another file")
