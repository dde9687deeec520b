"""A failure in a button's callback is one line on the page, never Streamlit's error box.

Streamlit runs callbacks before the page's script, outside anything the frame can catch, and shows an
exception there as its redacted "This app has encountered an error" box. So each callback that touches
the run store or the rooms is wrapped in ``one_line``: a store, room or admission error becomes a flash
message that the frame (app.py) shows once at the top of the page it draws next.
"""

from __future__ import annotations

import functools
import sqlite3

import streamlit as st

from pages import _keys as keys
from pages._markdown import md_message

# What a callback may meet that is the world's fault, not the code's: each says itself in one line.
EXPECTED = (sqlite3.Error, OSError, PermissionError, ValueError, RuntimeError)


def flash(message: str) -> None:
    st.session_state.setdefault(keys.FRAME_FLASH, []).append(" ".join(str(message).split()))


def one_line(callback):
    """The callback, with a store, room or admission error (StoreError, RoomError, JobRefused, NotAllowed,
    ConfigError, SQLite's and the OS's own) turned into a flash line."""

    @functools.wraps(callback)
    def guarded(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except EXPECTED as err:
            flash(str(err) or type(err).__name__)

    return guarded


def show_flash() -> None:
    """The frame's part: each line once, as an error, above the page."""
    for message in st.session_state.pop(keys.FRAME_FLASH, []):
        st.error(md_message(message), icon=":material/error:")
