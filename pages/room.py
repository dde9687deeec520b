"""Room: a teacher asks the Lesson's questions, the class votes from their devices, the teacher reveals.

The rules (codes, one vote per session, expiry, the teacher's token) live in core/runs/rooms.py;
this page is the two views. The teacher's browser session keeps the room's token; a student's
session votes with its client id. Both views poll the room every POLL_S seconds in a fragment.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from core.figures.tally import tally_figure
from core.runs.rooms import RoomError, normalise
from pages import _keys as keys
from pages._chapters import CHAPTERS, chapter
from pages._common import client_id, leave_pages_v1, run_store

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
POLL_S = 1.5
LETTERS = "ABCDEFGHIJKL"


@st.cache_resource(show_spinner=False)
def room_service():
    """The rooms, in the run store's file (one connection per server process)."""
    from core.runs.rooms import Rooms

    return Rooms(run_store().path)


def tokens() -> dict:
    return ss.setdefault(keys.ROOM_TOKENS, {})


def open_room() -> None:
    code, token = room_service().open_room()
    tokens()[code] = token
    ss.room_code = code


def join() -> None:
    code = normalise(ss.get(keys.ROOM_JOIN_CODE, ""))[:12]
    key = ss.get(keys.ROOM_JOIN_KEY, "").strip()
    try:
        room_service().room(code)
    except RoomError as err:
        ss.room_flash = str(err)
        return
    if key:
        if not room_service().is_teacher(code, key):
            ss.room_flash = f"that is not the teacher key of room {code}"
            return
        tokens()[code] = key
    ss.room_code = code


def leave() -> None:
    ss.pop(keys.ROOM_CODE, None)
    st.query_params.pop("room", None)  # or the next run would join it again from the link


def act(fn, *args) -> None:
    """A teacher's button: the core refuses with a one-line RoomError, shown on the next run."""
    try:
        fn(*args)
    except RoomError as err:
        ss.room_flash = str(err)


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


def teacher_view(code: str) -> None:
    token = tokens()[code]
    svc = room_service()
    st.markdown(f"### Room **{code}**")
    st.markdown(f"Students open **{room_link(code)}** (or the Room page and the code **{code}**).")
    with st.expander("teacher key (to take the room back after a refresh; never share it)"):
        st.code(token, language=None)
    titles = {c.id: f"{c.number}. {c.title}" for c in CHAPTERS}
    pick = st.selectbox("chapter", list(titles), format_func=titles.get, key=keys.ROOM_PICK)
    ch = chapter(pick)
    cols = st.columns(3)
    cols[0].button("Ask this question", key=keys.ROOM_ASK, type="primary", on_click=act,
                   args=(svc.ask, code, token, ch.id, len(ch.answers), ch.correct))
    cols[1].button("Close voting", key=keys.ROOM_CLOSE, on_click=act, args=(svc.close_voting, code, token))
    cols[2].button("Reveal the answer", key=keys.ROOM_REVEAL, on_click=act, args=(svc.reveal, code, token))

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
        question_block(asked, room, svc.tally(code, asked.id, len(asked.answers)), show_answer=True)

    live()


def room_now(svc, code: str):
    """The room as it is now, or None after its one-line refusal (expired, unknown) is shown."""
    try:
        return svc.room(code)
    except RoomError as err:
        st.error(str(err))
        return None


def student_view(code: str) -> None:
    svc = room_service()
    st.markdown(f"### Room **{code}**")

    @st.fragment(run_every=POLL_S)
    def live() -> None:
        room = room_now(svc, code)
        if room is None:
            return
        ch = chapter(room.question)
        if ch is None:
            st.info("Waiting for the teacher's first question…")
            return
        mine = svc.my_vote(code, ch.id, client_id())
        if room.state == "revealed":
            question_block(ch, room, svc.tally(code, ch.id, len(ch.answers)), show_answer=True)
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
            st.error(error)

    live()


st.title(":material/groups: Room")
if "room" in st.query_params and keys.ROOM_CODE not in ss:  # a student's link: ?room=CODE
    ss.room_code = normalise(st.query_params["room"])[:12]
if flash := ss.pop(keys.ROOM_FLASH, None):
    st.error(flash)

code = ss.get(keys.ROOM_CODE)
if not code:
    st.markdown("A **room** lets a whole class answer the Lesson's questions together: the teacher opens one and "
                "shows its link; everyone votes from their own device; the teacher's screen shows the tally and "
                "reveals the answer. Without a room the Lesson works for one person.")
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Teacher")
        st.button("Open a room", key=keys.ROOM_OPEN, type="primary", on_click=open_room,
                  help="A new room with a 6-letter code; it expires after 3 hours.")
    with right:
        st.subheader("Student")
        st.text_input("room code", key=keys.ROOM_JOIN_CODE, max_chars=12)
        st.text_input("teacher key (teachers only)", key=keys.ROOM_JOIN_KEY, type="password")
        st.button("Join", key=keys.ROOM_JOIN, on_click=join)
else:
    try:
        room_service().room(code)
    except RoomError as err:
        st.error(str(err))
        st.button("Leave", key=keys.ROOM_LEAVE_BAD, on_click=leave)
    else:
        if room_service().is_teacher(code, tokens().get(code)):
            teacher_view(code)
        else:
            student_view(code)
        st.button("Leave this room", key=keys.ROOM_LEAVE, on_click=leave)
