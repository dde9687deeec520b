"""Who may stop or delete a run, on the pages: the person (browser) who started or watches it, or the admin.

The rules are core/runs/owners.py's and the job manager's (watchers, ``release``); this module gives them
the browser's identity (pages/_identity.py) and the admin: a browser that typed the server's admin token
into the sidebar once stays admin (in every tab, after a reload) until it leaves or the server restarts.
The lines shown instead of absent buttons live here too.
"""

from __future__ import annotations

import streamlit as st

from core.runs.owners import NotAllowed, Requester, admin_token, may_change, token_matches
from pages import _keys as keys
from pages._admins import admins as _admins
from pages._admins import person_is_admin
from pages._common import client_id, job_manager, run_store, server_settings
from pages._errors import flash, one_line

ADMIN_KEY = keys.OWNER_ADMIN_TOKEN
READ_ONLY_STOP = ("Read-only: another browser started these runs (a shared link), so only it or the server's "
                  "admin can stop them; press Run on the same setup to watch them as your own.")
READ_ONLY_DELETE = ("{n} selected run(s) started by another browser: only that browser or the server's admin "
                    "can delete them.")


def configured_token() -> str | None:
    """RFL_ADMIN_TOKEN, else admin_token in .streamlit/secrets.toml; None: no admin on this server."""
    value = server_settings().get("admin_token")
    return admin_token(str(value) if value else None)


def is_admin() -> bool:
    """This browser: it typed the token here, or in another tab, or before a reload."""
    me = client_id()
    if token_matches(st.session_state.get(ADMIN_KEY), configured_token()):
        admins, lock = _admins()
        with lock:
            admins.add(me)
        return True
    return configured_token() is not None and person_is_admin(me)


def leave_admin() -> None:
    admins, lock = _admins()
    with lock:
        admins.discard(client_id())
    st.session_state[ADMIN_KEY] = ""


def requester() -> Requester:
    return Requester(client_id=client_id(), admin=is_admin())


def can_change(runs) -> bool:
    """Whether this browser may stop every one of these runs (store rows): it started or watches each, or it
    is the admin."""
    who = requester()
    if who.admin:
        return True
    manager = job_manager() if any((run or {}).get("status") in ("queued", "running") for run in runs) else None
    return all(may_change((run or {}).get("client_id"), who)
               or (manager is not None and manager.watching((run or {}).get("id"), who.client_id)) for run in runs)


def admin_field() -> None:
    """A sidebar field for the admin token, drawn only on a server that has one."""
    if configured_token() is None:
        return
    if is_admin():
        st.caption("Admin: this browser may stop and delete every run, and is not held to the caps (Runs page: "
                   "the queue).")
        st.button("Leave admin", key=keys.OWNER_ADMIN_LEAVE, on_click=leave_admin)
        return
    st.text_input("admin token", key=ADMIN_KEY, type="password",
                  help="The server's admin token lets this browser stop or delete anyone's runs.")
    if st.session_state.get(ADMIN_KEY):
        st.caption("That is not the admin token.")


@one_line
def stop_runs(run_ids: list[str]) -> None:
    """Stop (a button's callback): this browser stops watching the runs; a run stops when its last watcher
    leaves (the admin stops it for everyone)."""
    manager, who = job_manager(), requester()
    for run_id in run_ids:
        if not manager.release(run_id, who) and manager.status(run_id) in ("queued", "running"):
            flash(f"run {run_id}: this browser neither started nor watches it, so it cannot stop it")


def delete_runs(runs: list[dict]) -> None:
    """Delete the runs this browser may change: active ones through the job manager, others in the store."""
    from core.runs.schema import StoreError

    who = requester()
    for run in runs:
        try:
            if not may_change(run.get("client_id"), who):
                flash(f"run {run['id']}: " + READ_ONLY_DELETE.format(n=1))
            elif run["status"] in ("queued", "running"):
                job_manager().delete(run["id"], requester=who)
            else:
                run_store().delete_run(run["id"])
        except (NotAllowed, StoreError) as err:
            flash(str(err))
