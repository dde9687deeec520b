"""What the server does once, when it starts: start the job workers and train the classroom twin.

``streamlit run app.py`` finds the ``st.App`` in app.py and serves it; its lifespan calls ``start()``
before the first request, so the workers warm up (import torch, load the compiled kernels) while
nobody waits, and the first screen's classroom twin trains at once: a visitor who arrives later sees
it finished, one who arrives earlier sees it grow. ``start()`` is idempotent, and the first screen calls
it too, so a server started some other way still gets there on its first visit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from core.engine.presets import get_preset

CLASSROOM = "classroom"
SERVER_CLIENT = "server"  # who submitted the classroom twin: the server itself, never a visitor
_started = threading.Event()
_lock = threading.Lock()
log = logging.getLogger(__name__)


def workers_allowed() -> bool:
    """RFL_PREWARM=0 keeps the job workers from starting until a page submits a run (the page tests)."""
    return os.environ.get("RFL_PREWARM", "1") != "0"


def classroom_config():
    return get_preset(CLASSROOM).config()


def start() -> None:
    """Once per process: the job manager (its workers start warming up now) and the classroom twin."""
    if _started.is_set() or not workers_allowed():
        return
    with _lock:
        if _started.is_set():
            return
        from core.runs.jobs import JobRefused
        from core.runs.schema import StoreError
        from pages._common import _job_manager

        try:
            _job_manager().submit_twins(classroom_config(), client_id=SERVER_CLIENT, preset=CLASSROOM)
        except (JobRefused, StoreError) as err:  # the pages say the same to each visitor
            log.warning("the classroom twin did not start: %s", err)
        _started.set()
    # What the first screen draws with, imported now rather than during the first visitor's page
    import core.engine.look_inside  # noqa: F401
    import core.figures.charts  # noqa: F401


@contextlib.asynccontextmanager
async def lifespan(_app):
    """The server's start (before the first request) and end; the job manager ends its workers at exit."""
    start()
    yield
