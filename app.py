"""Robust Feature Lab: the router and the shared frame (pages live in pages/).

The frame restores the setup from the URL once per browser session, offers presentation
mode in the sidebar, and writes the setup back into the URL after each page ran, so the
address bar is always a link that restores what is on screen.
"""

import streamlit as st

from pages._common import init_setup, leave_pages_v1, presentation, sync_url

st.set_page_config(page_title="Robust Feature Lab", page_icon="🧪", layout="wide")

# A fixed stylesheet (no user text in it): larger type and controls for a projector.
PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.05rem; }
h1 { font-size: 2.6rem !important; }
</style>
"""

leave_pages_v1()
init_setup()
navigation = st.navigation(
    [
        st.Page("pages/lesson.py", title="Lesson", icon="📚", default=True),
        st.Page("pages/lab.py", title="Lab", icon="🧪"),
        st.Page("pages/theory.py", title="Theory", icon="📐"),
        st.Page("pages/runs.py", title="Runs", icon="🗂️"),
        st.Page("pages/sweep.py", title="Sweep", icon="🗺️"),
        st.Page("pages/real.py", title="Real images", icon="🖼️"),
        st.Page("pages/about.py", title="About", icon="📖"),
    ]
)
with st.sidebar:
    st.toggle("Presentation mode", key="frame_presentation",
              help="Larger type and only the main controls: for a projector in a classroom.")
    st.caption("The address bar holds the current setup: copy it to share exactly this experiment.")
if presentation():
    st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)
st.session_state.url_extra = {}  # each page run sets its own URL parameters afresh
# A page reads its own link parameters only when it is entered (a new link, or from another page): a rerun's
# query string can lag behind the URL the page just wrote, and must not move the page back.
st.session_state.frame_entered = st.session_state.get("frame_page") != navigation.url_path
st.session_state.frame_page = navigation.url_path
navigation.run()
sync_url()
