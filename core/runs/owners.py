"""Who may stop or delete a run: the browser (person, core/classroom/persons.py) that started it, or whoever
holds the admin token.

A run remembers the person who submitted it (runs.client_id). Everyone can read every run (a shared link
shares the view); changing one takes a ``Requester`` that is its owner or an admin (the job manager also
lets a run's watchers leave it: ``JobManager.release``). The command line and the server itself act as
``LOCAL``, an admin: whoever can open the store file can change it anyway.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

ADMIN_ENV = "RFL_ADMIN_TOKEN"


class NotAllowed(PermissionError):
    """A stop or delete by someone who neither started the run nor holds the admin token."""


@dataclass(frozen=True)
class Requester:
    client_id: str | None = None
    admin: bool = False


LOCAL = Requester(client_id=None, admin=True)


def may_change(owner_client_id: str | None, requester: Requester) -> bool:
    return requester.admin or (requester.client_id is not None and requester.client_id == owner_client_id)


def check(run_id: str, owner_client_id: str | None, requester: Requester, action: str) -> None:
    if not may_change(owner_client_id, requester):
        raise NotAllowed(f"run {run_id} was started by another browser: only that browser or someone with "
                         f"the server's admin token may {action} it")


def admin_token(secret: str | None = None) -> str | None:
    """The server's admin token: RFL_ADMIN_TOKEN, else the given secret (admin_token in secrets.toml)."""
    token = os.environ.get(ADMIN_ENV) or secret
    return token if token else None


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; no token configured means nobody is admin."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
