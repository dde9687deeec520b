"""A person is a browser: a random id, signed by the server, that the browser keeps in a cookie.

The id owns what a person does on the server (runs, sweeps, votes, the teacher's seat in a room): a
reload or a new tab of the same browser sends the same cookie and is the same person; a private window
or another browser has no cookie yet and becomes another. The signature (HMAC-SHA256 with the server's
secret) means a cookie cannot be made up: a person can only be one the server issued. A browser that
deletes its cookie becomes a new person; what stops one person from taking the whole server is the
budget of compute every person's work is admitted against (core/runs/admission.py), not the cookie.

The secret: ``RFL_COOKIE_SECRET``, else the operator's setting (``cookie_secret`` in
.streamlit/secrets.toml), else a random one kept in a file beside the run store, so that persons
survive a server restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

COOKIE = "rfl_person"
COOKIE_MAX_AGE_S = 180 * 24 * 3600  # a term
SECRET_ENV = "RFL_COOKIE_SECRET"
SECRET_FILE = "cookie_secret"
ID_BYTES = 12  # 96 random bits: no two browsers of a class, or of a year of classes, meet
SIGNATURE_HEX = 32


def new_person() -> str:
    return secrets.token_hex(ID_BYTES)


def _signature(person: str, secret: bytes) -> str:
    return hmac.new(secret, f"person:{person}".encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def sign(person: str, secret: bytes) -> str:
    """The cookie's value: the id and its signature."""
    return f"{person}.{_signature(person, secret)}"


def verify(value: str | None, secret: bytes) -> str | None:
    """The person a cookie names, or None when it is not one this server signed (or not a cookie at all)."""
    if not isinstance(value, str) or len(value) > 2 * ID_BYTES + 1 + SIGNATURE_HEX:
        return None
    person, _, signature = value.partition(".")
    if len(person) != 2 * ID_BYTES or not all(c in "0123456789abcdef" for c in person):
        return None
    return person if hmac.compare_digest(signature, _signature(person, secret)) else None


def short_id(person: str | None) -> str:
    """An anonymous name for a person on an admin's screen: six letters of a hash of the id, never the id."""
    if not person:
        return "-"
    return hashlib.sha256(person.encode()).hexdigest()[:6]


def load_secret(setting: str | None, folder: str | os.PathLike) -> tuple[bytes, str | None]:
    """(the secret, a one-line warning or None): RFL_COOKIE_SECRET, else ``setting``, else the file in
    ``folder`` (created with a new random secret, readable by the server's user only). A folder that
    cannot keep the file (read-only, full) gives a secret for this process only, and says so."""
    given = os.environ.get(SECRET_ENV) or setting
    if given:
        return str(given).encode(), None
    path = Path(folder) / SECRET_FILE
    try:
        if path.exists():
            text = path.read_text().strip()
            if text:
                return text.encode(), None
        text = secrets.token_hex(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text + "\n")
        return text.encode(), None
    except OSError as err:
        return secrets.token_bytes(32), (f"the browsers' identity secret cannot be kept in {path} "
                                         f"({err.strerror or err}); persons last until the server restarts. "
                                         f"Set {SECRET_ENV} to keep them")
