"""The frame around every page: navigation, the setup from the URL, presentation mode, the URL written back.

app.py runs ``frame()`` for every page view. The frame restores the setup from the URL once per browser
session, offers presentation mode in the sidebar, and writes the setup back into the URL after each page
ran, so the address bar is always a link that restores what is on screen.
"""

from __future__ import annotations

import streamlit as st

from core.classroom.rooms import RoomError
from core.runs.schema import StoreError
from pages import _keys as keys
from pages._common import init_setup, is_lab_link, leave_pages_v1, md_message, presentation, sync_url
from pages._errors import show_flash
from pages._identity import remember_person
from pages._owner import admin_field

# A fixed stylesheet (no user text in it): larger type and controls for a projector.
PRESENTATION_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.05rem; }
h1 { font-size: 2.6rem !important; }
</style>
"""

# With the navigation on top, Streamlit's own space above a page is more than the page needs.
FRAME_CSS = '<style>[data-testid="stMainBlockContainer"] { padding-top: 4rem; }</style>'

# Material icons (Streamlit ships the font), so every browser draws them; emoji need a font the
# machine may not have.
PAGES = {
    "": (("pages/home.py", "Start", ":material/play_circle:", True),
         ("pages/lesson.py", "Lesson", ":material/school:", False),
         ("pages/lab.py", "Lab", ":material/science:", False),
         ("pages/room.py", "Room", ":material/groups:", False)),
    "More": (("pages/theory.py", "Theory", ":material/functions:", False),
             ("pages/runs.py", "Runs", ":material/history:", False),
             ("pages/sweep.py", "Sweep", ":material/grid_on:", False),
             ("pages/real.py", "Real images", ":material/image:", False),
             ("pages/about.py", "About", ":material/menu_book:", False)),
}


def entry_page(url_path: str, params) -> str | None:
    """Where a link to the app's root goes when it names something: a Lesson chapter opens the Lesson, a Lab
    setup (?preset=..., ?pair=..., a knob) the Lab, as such links did before the first screen came first."""
    if url_path != "":
        return None
    if "chapter" in params:
        return "pages/lesson.py"
    if is_lab_link(params):
        return "pages/lab.py"
    return None


def frame() -> None:
    st.set_page_config(page_title="Robust Feature Lab", page_icon=":material/science:", layout="wide",
                       initial_sidebar_state="collapsed")
    leave_pages_v1()
    init_setup()
    navigation = st.navigation({section: [st.Page(path, title=title, icon=icon, default=default)
                                          for path, title, icon, default in pages]
                                for section, pages in PAGES.items()}, position="top")
    # Only on a session's first page: a link moves a visitor once, never later.
    if keys.FRAME_LAB_FIRST not in st.session_state:
        target = entry_page(navigation.url_path, st.query_params)
        st.session_state[keys.FRAME_LAB_FIRST] = target is not None
        if target is not None:
            st.switch_page(target, query_params=st.query_params.to_dict())
    with st.sidebar:
        st.toggle("Presentation mode", key=keys.PRESENTATION,
                  help="Larger type and only the main controls: for a projector in a classroom.")
        st.caption("The address bar holds the current setup: copy it to share exactly this experiment.")
        admin_field()  # only on a server with an admin token: see README, "Sharing one server with a class"
        remember_person()  # this browser's identity cookie, written on its first visit (pages/_identity.py)
    st.markdown(FRAME_CSS, unsafe_allow_html=True)
    if presentation():
        st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)
    st.session_state.url_extra = {}  # each page run sets its own URL parameters afresh
    st.session_state.url_setup = True  # a page that is no setup of its own (the first screen) turns it off
    # A page reads its own link parameters only when it is entered (a new link, or from another page): a rerun's
    # query string can lag behind the URL the page just wrote, and must not move the page back.
    st.session_state.frame_entered = st.session_state.get(keys.FRAME_PAGE) != navigation.url_path
    st.session_state.frame_page = navigation.url_path
    show_flash()  # what a button's callback could not do, in one line (pages/_errors.py)
    try:
        navigation.run()
    except (StoreError, RoomError) as err:  # the store or the rooms failed mid-page (a full disk): one line,
        st.error(md_message(str(err)), icon=":material/database:")  # and the frame stays usable
    sync_url()
