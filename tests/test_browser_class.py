"""A class on one server, in real browsers: a person is a browser (playwright's contexts share cookies across
their tabs, as a browser does), not a tab.

One server for the module, with an admin token and a share of two runs a person. Reloads keep a student's
Stop and vote and a teacher's room; a second tab of one browser cannot go past its person's share while
another browser can; a huge link and a huge sweep are refused in one line; the admin sees the queue by
person and clears it. Screenshots go to artifacts/class/ for a person to look at.
"""

import re

import pytest
from _browser import ARTIFACTS, CHROMIUM, chromium, streamlit_server

pytestmark = pytest.mark.browser
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

TOKEN = "teacher-admin-token-for-the-test"
SHOTS = ARTIFACTS / "class"
LONG = "preset=classroom&steps=20000&eval_every=50"  # a pair that stays running while the test looks at it
WAIT_MS = 240_000  # a bound for a loaded machine: the job workers start with the first Lab page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RFL_ADMIN_TOKEN", TOKEN)
        env.setenv("RFL_CAP_PERSON_JOBS", "3")  # one twin pair and a sweep a person: the share tabs run into
        env.setenv("RFL_CAP_REQUEST_MIN", "60")  # the link's pair fits, however loaded the machine that times it
        env.setenv("RFL_CAP_PERSON_MIN", "240")
        with streamlit_server(tmp_path_factory.mktemp("store") / "runs.sqlite",
                              tmp_path_factory.mktemp("log")) as srv:
            yield srv


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as b:
        yield b


def person(browser):
    """A browser of its own: its tabs share one cookie jar."""
    return browser.new_context(viewport={"width": 1400, "height": 1100})


def shows(page, text: str, timeout_ms: int = WAIT_MS) -> None:
    try:
        page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_ms, polling=200)
    except Exception:
        page.screenshot(path=str(SHOTS / "failed.png"), full_page=True)  # what the page showed instead
        raise


def main(page):
    """The page's own content (Streamlit's header has a Stop button of its own while a script runs)."""
    return page.get_by_test_id("stMainBlockContainer")


def button(page, name: str):
    """A button once it is there (a screenshot of the page if it never comes)."""
    found = main(page).get_by_role("button", name=name)
    try:
        found.wait_for()
    except Exception:
        page.screenshot(path=str(SHOTS / "failed.png"), full_page=True)
        raise
    return found


def lab(context, url: str):
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.get_by_role("button", name="▶ Run").wait_for()
    return page


def test_a_reload_and_a_second_tab_are_the_same_person(server, browser):
    alice, bob = person(browser), person(browser)
    first = lab(alice, f"{server['url']}/?{LONG}&seed=101")
    first.get_by_role("button", name="▶ Run").click()
    button(first, "Stop")
    shows(first, "running")
    first.wait_for_function("() => location.search.includes('pair=')")
    first.reload()  # F5: still alice, still her runs' Stop
    button(first, "Stop")

    second = lab(alice, f"{server['url']}/?{LONG}&seed=102")  # a new tab of the same browser
    second.get_by_role("button", name="▶ Run").click()
    shows(second, "each person may hold 3")  # the share is the browser's, not the tab's
    second.screenshot(path=str(SHOTS / "lab-refused-second-tab.png"))

    watcher = lab(bob, first.url)  # another browser on alice's link: read-only
    shows(watcher, "Read-only: another browser started these runs")
    assert main(watcher).get_by_role("button", name="Stop").count() == 0
    own = lab(bob, f"{server['url']}/?{LONG}&seed=103")
    own.get_by_role("button", name="▶ Run").click()
    button(own, "Stop")  # bob's own share
    main(own).get_by_role("button", name="Stop").click()
    main(first).get_by_role("button", name="Stop").click()
    shows(first, "cancelled")
    alice.close()
    bob.close()


def test_a_huge_link_is_refused_before_anything_is_queued(server, browser):
    student = person(browser)
    page = lab(student, f"{server['url']}/?preset=classroom&steps=1000000&threads=1024")
    page.get_by_role("button", name="▶ Run").click()
    shows(page, "refused: this is about")
    text = page.inner_text("body")
    assert re.search(r"refused: this is about [\d.]+ h of computing, over this server's limit of 60 min", text)
    assert "pair=" not in page.url and main(page).get_by_role("button", name="Stop").count() == 0
    page.screenshot(path=str(SHOTS / "lab-refused-huge-link.png"))
    student.close()


def test_the_teacher_and_the_students_keep_their_places_after_a_reload(server, browser):
    teacher_browser, student_browser = person(browser), person(browser)
    teacher = teacher_browser.new_page()
    teacher.set_default_timeout(WAIT_MS)
    teacher.goto(f"{server['url']}/room")
    teacher.get_by_role("button", name="Open a room").click()
    teacher.get_by_role("button", name="Ask this question").click()
    shows(teacher, "Voting is open")
    code = re.search(r"room=([A-Z]+)", teacher.url)[1]
    key_box = teacher.get_by_label("teacher key", exact=True)
    assert key_box.get_attribute("type") == "password"  # dots on a projector
    key = key_box.input_value()
    assert key and key not in teacher.url and key not in teacher.inner_text("body")

    student = student_browser.new_page()
    student.set_default_timeout(WAIT_MS)
    student.goto(f"{server['url']}/room?room={code}")
    shows(student, "One vote per browser")
    student.get_by_role("radio").nth(1).check(force=True)
    student.get_by_role("button", name="Vote").click()
    shows(student, "Your vote: B.")
    student.reload()  # the vote is the browser's: it stays, and no second vote is offered
    shows(student, "Your vote: B.")
    assert student.get_by_role("button", name="Vote").count() == 0
    again = student_browser.new_page()  # a new tab of the same browser: the same person
    again.goto(f"{server['url']}/room?room={code}")
    shows(again, "Your vote: B.")
    student.screenshot(path=str(SHOTS / "room-student-after-reload.png"), full_page=True)

    teacher.reload()  # still the teacher, without the key in the URL
    teacher.get_by_role("button", name="Reveal the answer").wait_for()
    assert key not in teacher.url
    shows(teacher, "Voting is open")
    teacher.get_by_role("button", name="Close voting").click()
    teacher.get_by_role("button", name="Reveal the answer").click()
    shows(student, "Answer:")
    teacher.screenshot(path=str(SHOTS / "room-teacher-after-reload.png"), full_page=True)

    other = person(browser).new_page()  # another browser: a student, whatever it clicks
    other.goto(f"{server['url']}/room?room={code}")
    shows(other, "Answer:")
    assert other.get_by_role("button", name="Reveal the answer").count() == 0
    teacher_browser.close()
    student_browser.close()


def test_the_admin_sees_the_queue_by_person_and_clears_it(server, browser):
    flooder, admin = person(browser), person(browser)
    page = lab(flooder, f"{server['url']}/?{LONG}&seed=201")
    page.get_by_role("button", name="▶ Run").click()
    button(page, "Stop")
    sweep = flooder.new_page()
    sweep.set_default_timeout(WAIT_MS)
    sweep.goto(f"{server['url']}/sweep")
    sweep.get_by_role("combobox", name="base preset").click()
    sweep.get_by_role("option", name="figure3").click()
    sweep.get_by_role("textbox", name="values of s").fill("1:20:20")
    sweep.get_by_role("textbox", name="values of s").press("Enter")
    shows(sweep, "280 runs, about")
    sweep.get_by_role("button", name="Run sweep").click()
    shows(sweep, "refused: this is about")  # hours of figure3 runs, over the per-request cap: nothing queued
    sweep.screenshot(path=str(SHOTS / "sweep-refused.png"))
    sweep.get_by_role("textbox", name="values of beta").fill("0.1:0.7:50")
    sweep.get_by_role("textbox", name="values of beta").press("Enter")
    shows(sweep, "a sweep from this page has at most 1000")  # a huge grid: refused before it is built
    assert sweep.get_by_role("button", name="Run sweep").is_disabled()
    sweep.get_by_role("combobox", name="base preset").click()
    sweep.get_by_role("option", name="classroom", exact=True).click()
    sweep.get_by_role("textbox", name="values of s").fill("1,2")
    sweep.get_by_role("textbox", name="values of beta").fill("0.1:0.7:30")
    sweep.get_by_role("textbox", name="values of beta").press("Enter")
    shows(sweep, "120 runs, about")
    sweep.get_by_role("button", name="Run sweep").click()
    shows(sweep, "of 120 runs finished")
    sweep.reload()  # the sweep is the browser's: it is still there, still stoppable by it
    shows(sweep, "of 120 runs finished")
    button(sweep, "Stop sweep")

    runs = admin.new_page()
    runs.set_default_timeout(WAIT_MS)
    runs.goto(f"{server['url']}/runs")
    runs.get_by_role("textbox", name="admin token").fill(TOKEN)
    runs.get_by_role("textbox", name="admin token").press("Enter")
    shows(runs, "The queue (admin)")
    shows(runs, "Stop everything of this person")
    runs.reload()  # the admin stays admin in this browser
    shows(runs, "The queue (admin)")
    runs.screenshot(path=str(SHOTS / "runs-admin-queue.png"), full_page=True)
    runs.get_by_role("button", name="Stop everything of this person").click()
    shows(page, "cancelled")  # the flooder's runs end, and its sweep
    shows(sweep, "cancelled")
    shows(runs, "Nothing is queued or running.")
    flooder.close()
    admin.close()
