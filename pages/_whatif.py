"""What-ifs: the runs of the setup on screen, started without a Run press, dropped once superseded.

A page calls ``follow(cfg, slot)`` with the setup it shows. A setup it has not shown before is submitted as
twins through ``JobManager.submit_twins``, as a Run press would be: a finished run of it is reused, one queued
or running anywhere is attached to, so a class moving the same slider shares one pair. The setup it replaces
is released: this browser stops watching it, and it is cancelled when nobody else watches, so dragging a
slider never builds a backlog. The widgets debounce: a slider reports once, when it is let go, and Streamlit
folds the changes that arrive while a page is still drawing into one rerun.
"""

from __future__ import annotations

import json

import streamlit as st

from pages import _keys as keys
from pages._common import attached_runs, client_id, job_manager


def setup_key(cfg) -> str:
    return json.dumps({k: v for k, v in cfg.to_dict().items() if k not in ("device", "threads")}, sort_keys=True)


def _held() -> dict:
    """slot -> (setup key, run ids) of this session's current what-if in each slot (the first screen, the Lab)."""
    return st.session_state.setdefault(keys.WHATIF_HELD, {})


def current(slot: str, cfg) -> dict | None:
    """The run ids this slot holds for this setup, or None when it holds another setup or none."""
    held = _held().get(slot)
    return held[1] if held and held[0] == setup_key(cfg) else None


def follow(cfg, slot: str, *, preset: str | None = None) -> tuple[dict | None, str | None]:
    """(run ids of the setup's twins, None) or (None, the one-line reason the manager refused).

    Submits only when the setup differs from the one the slot holds; releases the one it replaces."""
    from core.runs.jobs import JobRefused

    key, held = setup_key(cfg), _held().get(slot)
    if held and held[0] == key:
        return held[1], None
    try:
        ids = attached_runs(job_manager().submit_twins(cfg, client_id=client_id(), preset=preset))
    except JobRefused as err:
        return None, str(err)
    if held:
        for run_id in {held[1].get(m) for m in ("std", "adv")} - {ids.get(m) for m in ("std", "adv")} - {None}:
            release(run_id)
    _held()[slot] = (key, ids)
    return ids, None


def drop(slot: str) -> None:
    """Release the slot's what-if (the page stopped showing it)."""
    held = _held().pop(slot, None)
    for run_id in (held[1].get(m) for m in ("std", "adv")) if held else ():
        if run_id:
            release(run_id)


def release(run_id: str) -> bool:
    """This browser no longer watches the run; it stops when no one else does. Never as the admin: an admin's
    what-if must not cancel a run a class is watching."""
    from core.runs.jobs import Requester

    return job_manager().release(run_id, Requester(client_id=client_id(), admin=False))
