"""Who may stop or delete a run, on the pages: the browser session that started it, or the admin.

The rule itself is core/runs/owners.py; this module gives it the session's identity (its client
id, and the admin token typed into the sidebar) and the lines shown instead of absent buttons.
"""

from __future__ import annotations

import streamlit as st

from core.runs.owners import NotAllowed, Requester, admin_token, may_change, token_matches
from pages._common import client_id, job_manager, run_store

ADMIN_KEY = "owner_admin_token"
READ_ONLY_STOP = ("Read-only: another browser session started these runs (a shared link, or the same setup "
                  "pressed twice), so only it or the server's admin can stop them.")
READ_ONLY_DELETE = ("{n} selected run(s) started by another browser session: only that session or the "
                    "server's admin can delete them.")


def _secret() -> str | None:
    try:
        value = st.secrets.get("admin_token")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return None
    return str(value) if value else None


def configured_token() -> str | None:
    """RFL_ADMIN_TOKEN, else admin_token in .streamlit/secrets.toml; None: no admin on this server."""
    return admin_token(_secret())


def is_admin() -> bool:
    return token_matches(st.session_state.get(ADMIN_KEY), configured_token())


def requester() -> Requester:
    return Requester(client_id=client_id(), admin=is_admin())


def can_change(runs) -> bool:
    """Whether this session may stop or delete every one of these runs (store rows)."""
    who = requester()
    return all(may_change((run or {}).get("client_id"), who) for run in runs)


def admin_field() -> None:
    """A sidebar field for the admin token, drawn only on a server that has one."""
    if configured_token() is None:
        return
    st.text_input("admin token", key=ADMIN_KEY, type="password",
                  help="The server's admin token lets this browser stop or delete anyone's runs.")
    if st.session_state.get(ADMIN_KEY):
        st.caption("Admin: you may stop and delete every run." if is_admin() else "That is not the admin token.")


def stop_runs(run_ids: list[str]) -> None:
    manager, who = job_manager(), requester()
    for run_id in run_ids:
        try:
            manager.cancel(run_id, requester=who)
        except NotAllowed as err:
            st.toast(str(err))


def delete_runs(runs: list[dict]) -> None:
    """Delete the runs this session may change: active ones through the job manager, others in the store."""
    who = requester()
    for run in runs:
        if not may_change(run.get("client_id"), who):
            st.toast(f"run {run['id']}: " + READ_ONLY_DELETE.format(n=1))
        elif run["status"] in ("queued", "running"):
            job_manager().delete(run["id"], requester=who)
        else:
            run_store().delete_run(run["id"])
