"""The persons (browsers) that proved the server's admin token, for this server process.

Kept apart from pages/_owner.py, which checks the token and draws the admin's field, because the job
manager (pages/_common.py) asks it too, to lift the caps, and _owner builds on _common.
"""

from __future__ import annotations

import threading

import streamlit as st


@st.cache_resource(show_spinner=False)
def admins() -> tuple[set, threading.Lock]:
    """The admin persons and the lock that guards the set."""
    return set(), threading.Lock()


def person_is_admin(person: str) -> bool:
    """Whether a person proved the admin token (the job manager asks, to lift the caps)."""
    found, lock = admins()
    with lock:
        return person in found
