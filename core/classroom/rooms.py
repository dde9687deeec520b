"""Class rooms: a teacher asks a question, the students vote from their own devices, the teacher reveals.

A room lives in the run store's SQLite file (its own tables, created here) under a short code of
unambiguous capital letters. The person (a browser: core/classroom/persons.py) who opens a room is its
teacher: only a teacher may ask, close or reveal a question, and a reload keeps the seat. Opening also
returns a secret teacher key: another browser (the teacher's laptop after a phone) that joins with it
becomes a teacher too; ``new_key`` replaces it. One question is current at a time: ``open`` (votes
taken), ``closed`` (no more votes, tally shown) or ``revealed`` (the answer shown). A vote is a choice
index, never free text, one per person per question. A room expires ``ttl_s`` after it was opened.
Every refusal, the file's own failures included (a full disk, a file that is not a database), is a
RoomError whose message is one line a page can show as it is; a refused call changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ"  # no I, L, O: nothing to mistake for 1 or 0 on a projector
CODE_LENGTH = 6
DEFAULT_TTL_S = 3 * 3600
MAX_ANSWERS = 12
STATES = ("open", "closed", "revealed")
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    question TEXT, n_answers INTEGER, correct INTEGER, state TEXT);
CREATE TABLE IF NOT EXISTS votes (
    code TEXT NOT NULL, question TEXT NOT NULL, voter TEXT NOT NULL, choice INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (code, question, voter)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS room_teachers (
    code TEXT NOT NULL, person TEXT NOT NULL, PRIMARY KEY (code, person)) WITHOUT ROWID;
"""


class RoomError(ValueError):
    """A request a room refuses; the message is one line to show as it is."""


@dataclass(frozen=True)
class Room:
    code: str
    expires: float
    question: str | None  # the current question's id (a Lesson chapter's), None before the first
    n_answers: int
    state: str | None  # open, closed, revealed
    correct: int | None  # only once revealed


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise(code: str) -> str:
    return "".join(str(code).split()).upper()


class Rooms:
    """Rooms in one SQLite file (the run store's); ``clock`` is injectable so tests can expire a room."""

    def __init__(self, path: str | Path, *, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        with self._failures():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()

    @contextmanager
    def _failures(self):
        """The file's own failures as one-line RoomErrors: the page shows them like any refusal."""
        try:
            yield
        except (sqlite3.Error, OSError) as err:
            text = " ".join(str(err).split())
            if "full" in text or getattr(err, "errno", None) == 28:
                why = "the disk is full; free space, then try again"
            elif "not a database" in text or "malformed" in text:
                why = f"the file is not a readable database ({text}); the operator must move it aside"
            elif "readonly" in text or "read-only" in text:
                why = f"the file cannot be written ({text}); the operator must fix its permissions"
            else:
                why = f"{type(err).__name__}: {text}"
            raise RoomError(f"the rooms cannot be used right now: {why}") from None

    def _write(self, fn):
        """Run fn(db) in one write transaction; a RoomError inside rolls everything back."""
        with self._lock, self._failures():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self._db)
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return out

    def _read(self, fn):
        with self._lock, self._failures():
            return fn(self._db)

    def _row(self, db, code: str) -> tuple:
        code = normalise(code)
        row = db.execute("SELECT code, token_hash, expires, question, n_answers, correct, state FROM rooms "
                         "WHERE code=?", (code,)).fetchone()
        if row is None:
            raise RoomError(f"there is no room {code[:12]!r}: check the code")
        if self.clock() >= row[2]:
            raise RoomError(f"room {code} has expired: ask the teacher for a new one")
        return row

    # -- the teacher ----------------------------------------------------------------------
    def open_room(self, teacher: str, ttl_s: float = DEFAULT_TTL_S) -> tuple[str, str]:
        """A new room whose teacher is ``teacher`` (a person): (code, teacher key). The key makes another
        browser a teacher too (``claim``): keep it secret."""
        if not teacher:
            raise RoomError("a room needs a teacher: this browser has no identity")
        if not 60 <= ttl_s <= 7 * 24 * 3600:
            raise RoomError(f"ttl_s: {ttl_s} is outside 60 .. {7 * 24 * 3600} seconds")
        token = secrets.token_urlsafe(24)
        now = self.clock()

        def add(db):
            expired = "SELECT code FROM rooms WHERE expires<=?"
            db.execute(f"DELETE FROM votes WHERE code IN ({expired})", (now,))
            db.execute(f"DELETE FROM room_teachers WHERE code IN ({expired})", (now,))
            db.execute("DELETE FROM rooms WHERE expires<=?", (now,))
            for _ in range(20):
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                if db.execute("SELECT 1 FROM rooms WHERE code=?", (code,)).fetchone() is None:
                    db.execute("INSERT INTO rooms (code, token_hash, created, expires) VALUES (?,?,?,?)",
                               (code, _hash(token), now, now + ttl_s))
                    db.execute("INSERT INTO room_teachers VALUES (?,?)", (code, str(teacher)))
                    return code
            raise RoomError("no free room code found: try again")

        return self._write(add), token

    def claim(self, code: str, token: str | None, person: str) -> None:
        """The teacher key makes ``person`` a teacher of the room (another browser of the teacher's)."""
        def go(db):
            row = self._row(db, code)
            if not token or not hmac.compare_digest(_hash(token), row[1]):
                raise RoomError(f"that is not the teacher key of room {row[0]}")
            db.execute("INSERT OR IGNORE INTO room_teachers VALUES (?,?)", (row[0], str(person)))

        self._write(go)

    def new_key(self, code: str, person: str) -> str:
        """A new teacher key for the room (the old one stops working); only a teacher may ask for one."""
        token = secrets.token_urlsafe(24)

        def go(db):
            row = self._teacher(db, code, person, "make a new teacher key")
            db.execute("UPDATE rooms SET token_hash=? WHERE code=?", (_hash(token), row[0]))

        self._write(go)
        return token

    def _teacher(self, db, code: str, person: str | None, action: str) -> tuple:
        row = self._row(db, code)
        if not person or db.execute("SELECT 1 FROM room_teachers WHERE code=? AND person=?",
                                    (row[0], str(person))).fetchone() is None:
            raise RoomError(f"only the teacher who opened room {row[0]} may {action}")
        return row

    def ask(self, code: str, person: str | None, question: str, n_answers: int, correct: int) -> None:
        """Make ``question`` current and open for votes (asking it again reopens it, votes kept)."""
        if not 2 <= int(n_answers) <= MAX_ANSWERS or not 0 <= int(correct) < int(n_answers):
            raise RoomError(f"a question has 2 .. {MAX_ANSWERS} answers and a correct index among them")

        def go(db):
            row = self._teacher(db, code, person, "ask a question")
            db.execute("UPDATE rooms SET question=?, n_answers=?, correct=?, state='open' WHERE code=?",
                       (str(question), int(n_answers), int(correct), row[0]))

        self._write(go)

    def close_voting(self, code: str, person: str | None) -> None:
        self._set_state(code, person, "close the vote", "closed", allowed=("open",))

    def reveal(self, code: str, person: str | None) -> None:
        """Show the answer to the room (voting ends)."""
        self._set_state(code, person, "reveal the answer", "revealed", allowed=("open", "closed"))

    def _set_state(self, code, person, action, new, allowed) -> None:
        def go(db):
            row = self._teacher(db, code, person, action)
            if row[6] not in allowed:
                raise RoomError(f"room {row[0]} has no question to {action.split()[0]} right now")
            db.execute("UPDATE rooms SET state=? WHERE code=?", (new, row[0]))

        self._write(go)

    def is_teacher(self, code: str, person: str | None) -> bool:
        def go(db):
            try:
                self._teacher(db, code, person, "")
            except RoomError:
                return False
            return True

        return self._read(go)

    # -- everyone -------------------------------------------------------------------------
    def room(self, code: str) -> Room:
        """The room as everyone sees it; RoomError if it does not exist or has expired."""
        code_, _, expires, question, n_answers, correct, state = self._read(lambda db: self._row(db, code))
        return Room(code_, expires, question, n_answers or 0, state, correct if state == "revealed" else None)

    def vote(self, code: str, question: str, voter: str, choice: int) -> None:
        """One vote of one person (a browser) on the current, open question."""
        if not isinstance(choice, int) or isinstance(choice, bool):
            raise RoomError("a vote is the number of an answer")

        def go(db):
            row = self._row(db, code)
            if row[3] != question or row[6] != "open":
                raise RoomError("this question is not open for votes right now")
            if not 0 <= choice < row[4]:
                raise RoomError(f"choice {choice} is not one of the {row[4]} answers")
            if db.execute("SELECT 1 FROM votes WHERE code=? AND question=? AND voter=?",
                          (row[0], question, voter)).fetchone():
                raise RoomError("you have already voted on this question")
            db.execute("INSERT INTO votes VALUES (?,?,?,?,?)", (row[0], question, str(voter), choice, self.clock()))

        self._write(go)

    def my_vote(self, code: str, question: str, voter: str) -> int | None:
        row = self._read(lambda db: db.execute("SELECT choice FROM votes WHERE code=? AND question=? AND voter=?",
                                               (normalise(code), question, voter)).fetchone())
        return row[0] if row else None

    def tally(self, code: str, question: str, n_answers: int) -> list[int]:
        """Votes per answer, in answer order."""
        rows = self._read(lambda db: db.execute(
            "SELECT choice, COUNT(*) FROM votes WHERE code=? AND question=? GROUP BY choice",
            (normalise(code), question)).fetchall())
        counts = [0] * n_answers
        for choice, count in rows:
            if 0 <= choice < n_answers:
                counts[choice] = count
        return counts
