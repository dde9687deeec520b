"""Robust Feature Lab: ``streamlit run app.py``.

This file is read two ways. For every page view Streamlit runs it as the app's script (``__main__``):
the frame (pages/_frame.py) draws the page. Once, when the server starts, ``streamlit run`` imports it
to find ``app``, the server itself (``st.App``): its lifespan starts the job workers and trains the
first screen's classroom twin before anyone asks (pages/_server.py).
"""

import streamlit as st

if __name__ == "__main__":
    from pages._frame import frame

    frame()
else:
    from pages._server import lifespan

    app = st.App("app.py", lifespan=lifespan)
