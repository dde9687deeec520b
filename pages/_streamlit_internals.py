"""The one place the app touches a Streamlit internal (not public API); tests/test_streamlit_internals.py
fails loudly, naming this file, when a Streamlit release moves or removes it.

Why it is needed: Streamlit treats a pages/ folder beside the entry script as an old-style multipage app
until the first st.navigation call of the server process. So the first request after a server start that
is a deep link (/runs, /theory) would run that page alone, without the frame of app.py, and list the
helper modules of pages/ as pages; AppTest does the same on every rerun. Switching the flag off and
rerunning sends the request through app.py.
"""

from __future__ import annotations

import streamlit as st

# Where the flag lives (streamlit 1.40 - 1.5x): a class attribute read on every script run.
PAGES_MANAGER_MODULE = "streamlit.runtime.pages_manager"
PAGES_MANAGER_CLASS = "PagesManager"
PAGES_DIRECTORY_FLAG = "uses_pages_directory"


def pages_manager_class():
    """The class that holds the flag; ImportError/AttributeError here means Streamlit moved it."""
    import importlib

    return getattr(importlib.import_module(PAGES_MANAGER_MODULE), PAGES_MANAGER_CLASS)


def leave_pages_v1() -> None:
    """Make sure app.py's st.navigation is in charge, even when a page script runs on its own
    (call it first in app.py and in every page, before anything is drawn)."""
    manager = pages_manager_class()
    if getattr(manager, PAGES_DIRECTORY_FLAG):
        setattr(manager, PAGES_DIRECTORY_FLAG, False)
        st.rerun()
