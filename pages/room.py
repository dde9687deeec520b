"""Room: a teacher asks the Lesson's questions, the class votes from their devices, the teacher reveals.

The rules (codes, one vote per browser, expiry, the teacher's seat and key) live in
core/classroom/rooms.py; this page is the two views. A person is a browser (pages/_identity.py): the
teacher who opened a room keeps Ask/Close/Reveal after a reload, a student keeps their vote. The teacher
key (for another device of the teacher's) is never in the URL and never shown in plain text. Both views
poll the room every POLL_S seconds in a fragment. Room codes from a link or the Join box are shown as
text, never as markup.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from core.classroom.rooms import CODE_LENGTH, RoomError, normalise
from core.figures.tally import tally_figure
from pages import _keys as keys
from pages._chapters import CHAPTERS, chapter
from pages._common import client_id, leave_pages_v1, md_escape, md_message, run_store
from pages._errors import one_line

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
POLL_S = 1.5
LETTERS = "ABCDEFGHIJKL"
ONE_VOTE = "One vote per browser: a reload or another tab keeps yours."


@st.cache_resource(show_spinner=False)
def _room_service():
    """The rooms, in the run store's file (one connection per server process)."""
    from core.classroom.rooms import Rooms

    return Rooms(run_store().path)


def room_service():
    """The rooms, or the one-line reason they cannot be opened (the page stops there)."""
    try:
        return _room_service()
    except RoomError as err:
        st.error(md_message(str(err)), icon=":material/database:")
        st.stop()


def safe_code(text: str) -> str:
    """A code as the page keeps it: no spaces, capitals, at most a code's length and a little."""
    return normalise(text)[: CODE_LENGTH + 6]


@one_line
def open_room() -> None:
    code, token = room_service().open_room(client_id())
    ss.room_code = code
    ss.room_new_key = ss.room_key_shown = token  # shown masked, to this browser only: for another device


@one_line
def join() -> None:
    code = safe_code(ss.get(keys.ROOM_JOIN_CODE, ""))
    key = ss.get(keys.ROOM_JOIN_KEY, "").strip()
    room_service().room(code)  # RoomError: unknown or expired
    if key:
        room_service().claim(code, key, client_id())
    ss.room_code = code


@one_line
def new_key(code: str) -> None:
    ss.room_new_key = ss.room_key_shown = room_service().new_key(code, client_id())


def leave() -> None:
    ss.pop(keys.ROOM_CODE, None)
    ss.pop(keys.ROOM_NEW_KEY, None)
    ss.pop(keys.ROOM_KEY_SHOWN, None)
    st.query_params.pop("room", None)  # or the next run would join it again from the link


@one_line
def act(fn, code: str, *args) -> None:
    """A teacher's button: the core refuses with a one-line RoomError, shown on the next run."""
    fn(code, client_id(), *args)


@one_line
def vote(code: str, question: str) -> None:
    choice = ss.get(f"room_choice_{question}")
    try:
        room_service().vote(code, question, client_id(), -1 if choice is None else int(choice))
    except RoomError as err:
        ss.room_vote_error = str(err)


def room_link(code: str) -> str:
    parts = urlsplit(st.context.url or "")
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{base}/room?room={code}"


def experiment_pointer(ch) -> None:
    st.markdown(f"**The experiment:** chapter {ch.number} of the **Lesson** page, *{ch.title}*: run it and watch "
                "what the answer predicts.")


def question_block(ch, room, counts, *, show_answer: bool) -> None:
    st.subheader(f"{ch.number}. {ch.title}")
    st.markdown(f"**{ch.question}**")
    correct = room.correct if show_answer else None
    st.plotly_chart(tally_figure(list(ch.answers), counts, correct), key=f"room_tally_{ch.id}",
                    config={"displaylogo": False})
    if correct is not None:
        st.success(f"Answer: {LETTERS[correct]}. {ch.answers[correct]} — {ch.explanation}")
        experiment_pointer(ch)


def teacher_key_box(code: str) -> None:
    """The key for another device: masked (a projector shows dots), only right after it was made; a teacher
    who reloaded makes a new one (the old one stops working)."""
    with st.expander("teacher key for another device (never project or share it)"):
        if ss.get(keys.ROOM_NEW_KEY):
            ss.room_key_shown = ss.room_new_key  # the box shows the key, whatever was typed into it
            st.text_input("teacher key", type="password", key=keys.ROOM_KEY_SHOWN,
                          help="Join with the code and this key on your other device. Click the eye to read it.")
        st.button("Make a new teacher key", key=keys.ROOM_NEW_KEY_BUTTON, on_click=new_key, args=(code,),
                  help="The old key stops working. This browser stays the teacher either way.")


def teacher_view(code: str) -> None:
    svc = room_service()
    st.markdown(f"### Room **{code}**")
    st.markdown(f"Students open **{md_escape(room_link(code))}** (or the Room page and the code **{code}**).")
    st.caption(ONE_VOTE)
    teacher_key_box(code)
    titles = {c.id: f"{c.number}. {c.title}" for c in CHAPTERS}
    pick = st.selectbox("chapter", list(titles), format_func=titles.get, key=keys.ROOM_PICK)
    ch = chapter(pick)
    cols = st.columns(3)
    cols[0].button("Ask this question", key=keys.ROOM_ASK, type="primary", on_click=act,
                   args=(svc.ask, code, ch.id, len(ch.answers), ch.correct))
    cols[1].button("Close voting", key=keys.ROOM_CLOSE, on_click=act, args=(svc.close_voting, code))
    cols[2].button("Reveal the answer", key=keys.ROOM_REVEAL, on_click=act, args=(svc.reveal, code))

    @st.fragment(run_every=POLL_S)
    def live() -> None:
        room = room_now(svc, code)
        if room is None:
            return
        asked = chapter(room.question)
        if asked is None:
            st.info("No question asked yet: pick a chapter and press **Ask this question**.")
            return
        st.caption(f"Voting is **{room.state}**.")
        question_block(asked, room, tally(svc, code, asked), show_answer=True)

    live()


def room_now(svc, code: str):
    """The room as it is now, or None after its one-line refusal (expired, unknown, the file failing) is shown."""
    try:
        return svc.room(code)
    except RoomError as err:
        st.error(md_message(str(err)))
        return None


def tally(svc, code: str, ch) -> list[int]:
    try:
        return svc.tally(code, ch.id, len(ch.answers))
    except RoomError as err:
        st.error(md_message(str(err)))
        return [0] * len(ch.answers)


def student_view(code: str) -> None:
    svc = room_service()
    st.markdown(f"### Room **{code}**")
    st.caption(ONE_VOTE)

    @st.fragment(run_every=POLL_S)
    def live() -> None:
        room = room_now(svc, code)
        if room is None:
            return
        ch = chapter(room.question)
        if ch is None:
            st.info("Waiting for the teacher's first question…")
            return
        try:
            mine = svc.my_vote(code, ch.id, client_id())
        except RoomError as err:
            st.error(md_message(str(err)))
            return
        if room.state == "revealed":
            question_block(ch, room, tally(svc, code, ch), show_answer=True)
            if mine is not None:
                st.caption(f"You answered {LETTERS[mine]}.")
            return
        st.subheader(f"{ch.number}. {ch.title}")
        st.markdown(f"**{ch.question}**")
        if mine is not None:
            st.info(f"Your vote: {LETTERS[mine]}. {ch.answers[mine]} — wait for the teacher to reveal the answer.")
        elif room.state != "open":
            st.info("Voting on this question is closed; wait for the teacher to reveal the answer.")
        else:
            choice = st.radio("your answer", range(len(ch.answers)), index=None, key=f"room_choice_{ch.id}",
                              format_func=lambda i: f"{LETTERS[i]}. {ch.answers[i]}")
            st.button("Vote", key=f"room_vote_{ch.id}", type="primary", disabled=choice is None, on_click=vote,
                      args=(code, ch.id))
        if error := ss.pop(keys.ROOM_VOTE_ERROR, None):
            st.error(md_message(error))

    live()


st.title(":material/groups: Room")
if "room" in st.query_params and keys.ROOM_CODE not in ss:  # a student's link: ?room=CODE
    ss.room_code = safe_code(st.query_params["room"])

code = ss.get(keys.ROOM_CODE)
if not code:
    st.markdown("A **room** lets a whole class answer the Lesson's questions together: the teacher opens one and "
                "shows its link; everyone votes from their own device (one vote per browser); the teacher's screen "
                "shows the tally and reveals the answer. Without a room the Lesson works for one person.")
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Teacher")
        st.button("Open a room", key=keys.ROOM_OPEN, type="primary", on_click=open_room,
                  help="A new room with a 6-letter code; it expires after 3 hours. This browser is its teacher.")
    with right:
        st.subheader("Student")
        st.text_input("room code", key=keys.ROOM_JOIN_CODE, max_chars=12)
        st.text_input("teacher key (teachers only)", key=keys.ROOM_JOIN_KEY, type="password")
        st.button("Join", key=keys.ROOM_JOIN, on_click=join)
else:
    try:
        room_service().room(code)
        teacher = room_service().is_teacher(code, client_id())
    except RoomError as err:
        st.error(md_message(str(err)))
        st.button("Leave", key=keys.ROOM_LEAVE_BAD, on_click=leave)
    else:
        if teacher:
            teacher_view(code)
        else:
            student_view(code)
        st.button("Leave this room", key=keys.ROOM_LEAVE, on_click=leave)
