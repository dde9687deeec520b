"""Robust Feature Lab: the router and the shared frame (pages live in pages/).

The frame restores the setup from the URL once per browser session, offers presentation
mode in the sidebar, and writes the setup back into the URL after each page ran, so the
address bar is always a link that restores what is on screen.
"""

import streamlit as st

from core.classroom.rooms import RoomError
from core.runs.schema import StoreError
from pages import _keys as keys
from pages._common import init_setup, is_lab_link, leave_pages_v1, md_message, presentation, sync_url
from pages._errors import show_flash
from pages._identity import remember_person
from pages._owner import admin_field

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
        st.Page("pages/room.py", title="Room", icon="🙋"),
        st.Page("pages/about.py", title="About", icon="📖"),
    ]
)
# The Lesson opens the app; a link to the app's root that names a Lab setup (?preset=..., ?pair=..., a knob) opens
# the Lab, as such links did before the Lesson came first. Only on a session's first page: never moves a user later.
if keys.FRAME_LAB_FIRST not in st.session_state:
    st.session_state[keys.FRAME_LAB_FIRST] = navigation.url_path == "" and is_lab_link(st.query_params)
    if st.session_state[keys.FRAME_LAB_FIRST]:
        st.switch_page("pages/lab.py", query_params=st.query_params.to_dict())
with st.sidebar:
    st.toggle("Presentation mode", key=keys.PRESENTATION,
              help="Larger type and only the main controls: for a projector in a classroom.")
    st.caption("The address bar holds the current setup: copy it to share exactly this experiment.")
    admin_field()  # only on a server with an admin token: see README, "Sharing one server with a class"
    remember_person()  # this browser's identity cookie, written on its first visit (pages/_identity.py)
if presentation():
    st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)
st.session_state.url_extra = {}  # each page run sets its own URL parameters afresh
# A page reads its own link parameters only when it is entered (a new link, or from another page): a rerun's
# query string can lag behind the URL the page just wrote, and must not move the page back.
st.session_state.frame_entered = st.session_state.get(keys.FRAME_PAGE) != navigation.url_path
st.session_state.frame_page = navigation.url_path
show_flash()  # what a button's callback could not do, in one line (pages/_errors.py)
try:
    navigation.run()
except (StoreError, RoomError) as err:  # the store or the rooms failed mid-page (a full disk): one line, the frame
    st.error(md_message(str(err)), icon="🗄️")  # stays usable
sync_url()
