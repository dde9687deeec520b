"""Rooms: one vote per person per open question, the teacher's seat and key, expiry, a failing file, the tally
figure, and the Room page under AppTest (the browser's identity across reloads: tests/test_browser_class.py)."""

import json

import pytest
from _disks import read_only  # tests/ is on the path

from core.classroom.rooms import ALPHABET, CODE_LENGTH, RoomError, Rooms
from core.figures.tally import tally_figure


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def rooms(tmp_path, clock):
    r = Rooms(tmp_path / "runs.sqlite", clock=clock)
    yield r
    r.close()


def test_a_class_votes_and_the_teacher_reveals(rooms):
    code, _ = rooms.open_room("teacher")
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert rooms.room(code).question is None
    rooms.ask(code, "teacher", "ch1", 3, correct=2)
    for student, choice in enumerate([0, 2, 2, 1, 2]):
        rooms.vote(code, "ch1", f"s{student}", choice)
    assert rooms.tally(code, "ch1", 3) == [1, 1, 3]
    assert rooms.my_vote(code.lower(), "ch1", "s3") == 1  # codes are read case-blind
    assert rooms.room(code).correct is None  # the answer stays hidden until revealed
    rooms.reveal(code, "teacher")
    room = rooms.room(code)
    assert room.state == "revealed" and room.correct == 2


def test_one_vote_per_person_per_question(rooms):
    code, _ = rooms.open_room("teacher")
    rooms.ask(code, "teacher", "ch1", 2, correct=0)
    rooms.vote(code, "ch1", "alice", 0)
    with pytest.raises(RoomError, match="already voted"):
        rooms.vote(code, "ch1", "alice", 1)
    assert rooms.tally(code, "ch1", 2) == [1, 0] and rooms.my_vote(code, "ch1", "alice") == 0
    rooms.ask(code, "teacher", "ch2", 2, correct=1)  # a new question: a new vote
    rooms.vote(code, "ch2", "alice", 1)
    assert rooms.tally(code, "ch2", 2) == [0, 1]


@pytest.mark.parametrize("choice", [-1, 2, True, "0"])
def test_a_vote_is_an_answer_index_only(rooms, choice):
    code, _ = rooms.open_room("teacher")
    rooms.ask(code, "teacher", "ch1", 2, correct=0)
    with pytest.raises(RoomError):
        rooms.vote(code, "ch1", "alice", choice)
    assert rooms.tally(code, "ch1", 2) == [0, 0]


def test_a_question_not_open_takes_no_vote(rooms):
    code, _ = rooms.open_room("teacher")
    with pytest.raises(RoomError, match="not open"):
        rooms.vote(code, "ch1", "alice", 0)  # nothing asked yet
    rooms.ask(code, "teacher", "ch1", 2, correct=0)
    with pytest.raises(RoomError, match="not open"):
        rooms.vote(code, "ch2", "alice", 0)  # another chapter's question
    rooms.close_voting(code, "teacher")
    with pytest.raises(RoomError, match="not open"):
        rooms.vote(code, "ch1", "alice", 0)
    assert rooms.tally(code, "ch1", 2) == [0, 0]


def test_unknown_room(rooms):
    with pytest.raises(RoomError, match="no room 'ZZZZZZ'"):
        rooms.room("ZZZZZZ")
    with pytest.raises(RoomError, match="no room"):
        rooms.vote("nope", "ch1", "alice", 0)


def test_only_a_teacher_asks_and_reveals_and_the_key_seats_another_browser(rooms):
    code, token = rooms.open_room("teacher")
    other_code, other_token = rooms.open_room("other-teacher")
    for wrong in (None, "", "student", "other-teacher", token):  # a key is not a person
        with pytest.raises(RoomError, match="only the teacher"):
            rooms.ask(code, wrong, "ch1", 2, correct=0)
    rooms.ask(code, "teacher", "ch1", 2, correct=0)
    for key in ("guess", other_token, None):
        with pytest.raises(RoomError, match="not the teacher key"):
            rooms.claim(code, key, "laptop")
    assert rooms.room(code).state == "open" and rooms.room(code).correct is None
    assert rooms.is_teacher(code, "teacher") and not rooms.is_teacher(code, "laptop")
    rooms.claim(code, token, "laptop")  # the teacher's other device, with the key
    assert rooms.is_teacher(code, "laptop") and not rooms.is_teacher(other_code, "laptop")
    rooms.reveal(code, "laptop")
    fresh = rooms.new_key(code, "teacher")  # the old key stops working; the seats stay
    with pytest.raises(RoomError, match="not the teacher key"):
        rooms.claim(code, token, "phone")
    rooms.claim(code, fresh, "phone")
    with pytest.raises(RoomError, match="only the teacher"):
        rooms.new_key(code, "student")
    assert rooms.is_teacher(code, "teacher") and rooms.is_teacher(code, "phone")


def test_a_failing_file_is_a_one_line_room_error(tmp_path, clock):
    """SQLite's own errors (a file that is not a database, a read-only file) reach the page as RoomError."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all " * 200)
    with pytest.raises(RoomError, match="cannot be used right now: the file is not a readable database") as err:
        Rooms(junk)
    assert "\n" not in str(err.value)
    path = tmp_path / "runs.sqlite"
    rooms = Rooms(path, clock=clock)
    code, _ = rooms.open_room("teacher")
    rooms.close()
    for extra in tmp_path.glob("runs.sqlite-*"):  # the WAL's files go with the last connection
        extra.unlink()
    with read_only(path):
        readonly = Rooms(path, clock=clock)
        assert readonly.room(code).code == code  # reading still works
        with pytest.raises(RoomError, match="cannot be written") as err:
            readonly.ask(code, "teacher", "ch1", 2, correct=0)
        assert "\n" not in str(err.value)
        readonly.close()


def test_a_room_expires(rooms, clock):
    code, _ = rooms.open_room("teacher", ttl_s=3600)
    rooms.ask(code, "teacher", "ch1", 2, correct=0)
    clock.now += 3599
    rooms.vote(code, "ch1", "alice", 0)
    clock.now += 1
    for call in (lambda: rooms.room(code), lambda: rooms.vote(code, "ch1", "bob", 0),
                 lambda: rooms.reveal(code, "teacher")):
        with pytest.raises(RoomError, match="expired"):
            call()
    rooms.open_room("teacher")  # opening a room sweeps the expired ones away
    with pytest.raises(RoomError, match="no room"):
        rooms.room(code)


def test_rooms_share_the_run_store_file(tmp_path):
    from core.runs.store import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    store.list_runs()
    rooms = Rooms(store.path)
    code, _ = rooms.open_room("teacher")
    assert Rooms(store.path).room(code).code == code  # a second process (another page) sees it
    assert store.list_runs() == []


def test_tally_figure_marks_the_answer_once_revealed():
    fig = tally_figure(["yes", "no", "maybe"], [3, 1, 0])
    bar = fig.data[0]
    assert list(bar.x) == [3, 1, 0] and bar.y[0] == "A. yes" and len(set(bar.marker.color)) == 1
    fig = tally_figure(["yes", "no", "maybe"], [3, 1, 0], correct=1)
    assert fig.data[0].marker.color[1] != fig.data[0].marker.color[0] == fig.data[0].marker.color[2]
    with pytest.raises(ValueError):
        tally_figure(["yes"], [1, 2])


# ---- the Room page: a teacher and two students, each their own AppTest session ----------------
def room_page(**params):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.switch_page("pages/room.py").run()  # as a browser opening /room?room=CODE


def errors(at):
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


def test_the_room_page_votes_and_reveals(app_env):
    teacher = room_page()
    teacher.button(key="room_open").click().run()
    assert errors(teacher) == []
    code = teacher.session_state["room_code"]
    teacher.button(key="room_ask").click().run()  # the first chapter's question
    assert errors(teacher) == []
    students = [room_page(room=code) for _ in range(2)]
    for student, choice in zip(students, (1, 0), strict=True):
        assert errors(student) == [] and student.button(key="room_vote_" + chapter_id(teacher)).disabled
        student.radio(key="room_choice_" + chapter_id(teacher)).set_value(choice).run()
        student.button(key="room_vote_" + chapter_id(teacher)).click().run()
        assert errors(student) == [] and "Your vote" in " ".join(i.value for i in student.info)
        assert not student.get("button") or "room_reveal" not in [b.key for b in student.button]  # no teacher UI
    teacher.run()
    spec = json.loads(teacher.get("plotly_chart")[0].proto.spec)
    assert sorted(spec["data"][0]["x"])[-2:] == [1, 1]  # the teacher's tally: one vote for each of two answers
    teacher.button(key="room_reveal").click().run()
    students[0].run()
    assert errors(students[0]) == [] and "Answer:" in students[0].success[0].value


def chapter_id(at):
    return at.session_state["room_pick"]


def test_the_room_page_says_why_in_one_line(app_env):
    at = room_page(room="QQQQQQ")
    assert errors(at) == ["there is no room 'QQQQQQ': check the code"]
    teacher = room_page()
    teacher.button(key="room_open").click().run()
    code = teacher.session_state["room_code"]
    student = room_page(room=code)
    assert errors(student) == [] and "Waiting for the teacher" in student.info[0].value
    assert "room_reveal" not in [b.key for b in student.button]
