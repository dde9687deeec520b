"""The Lesson in a real browser: a student walks chapters 1-8, predicting before each reveal; and the Lab with
3 seeds, timed from Run to the first plotted band (printed, not asserted).

The store is pre-filled with stand-in finished runs (tests/_lesson_fill.py) so that every reveal appears at
once; RFL_LESSON_STORE=<a store filled by `python -m core lesson --store ...`> walks real runs instead.
Screenshots go to artifacts/ (gitignored) for a person to look at.
"""

import os
import re
import shutil
import time

import pytest

pytestmark = pytest.mark.browser
if shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from _browser import ARTIFACTS, chromium, streamlit_server  # noqa: E402
from _lesson_fill import fill_store  # noqa: E402  (tests/ is on the path)
from test_browser_lab import body_has  # noqa: E402

# JavaScript: has any plotly chart drawn a min–max band (a trace marked meta="band") with points?
ANY_BAND = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .some(el => (el._fullData || []).some(t => t.meta === 'band' && t._length > 1))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "runs.sqlite"
    if os.environ.get("RFL_LESSON_STORE"):
        shutil.copy(os.environ["RFL_LESSON_STORE"], store)
    fill_store(store, seeds=1)  # tops up whatever a real store lacks
    with streamlit_server(store, tmp_path_factory.mktemp("log")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_a_student_walks_every_chapter_predicting_before_each_reveal(server, browser):
    from core.lesson import CHAPTERS

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{server['url']}/?chapter=1&seeds=1")
    for chapter in CHAPTERS:
        body_has(page, f"Chapter {chapter.number} of {len(CHAPTERS)}", 60)
        body_has(page, chapter.title, 30)
        # the previous chapter's reveal goes once the rerun ends (stale elements); then no reveal, Run disabled
        page.wait_for_function("() => !document.body.innerText.includes('Verdict:')", timeout=60_000, polling=100)
        run = page.get_by_role("button", name=re.compile("Reveal|Run"))
        assert run.is_disabled(), f"chapter {chapter.number}: Run before a prediction"
        guess = chapter.correct if chapter.number % 2 else (chapter.correct + 1) % len(chapter.answers)
        page.get_by_text(chapter.answers[guess], exact=True).click()
        try:
            page.wait_for_function("() => !Array.from(document.querySelectorAll('button'))"
                                   ".find(b => /Reveal|▶ Run/.test(b.innerText)).disabled", timeout=30_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "lesson-failed.png"))
            raise
        page.get_by_role("button", name=re.compile("Reveal|Run")).click()
        body_has(page, "Verdict:", 60)  # the store has every run: the reveal comes at once
        body_has(page, "Right." if guess == chapter.correct else "Not this time.", 10)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=60_000)
        time.sleep(0.8)  # let plotly finish drawing before the picture
        page.screenshot(path=str(ARTIFACTS / f"lesson-ch{chapter.number}.png"))
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        time.sleep(0.5)
        page.screenshot(path=str(ARTIFACTS / f"lesson-ch{chapter.number}-charts.png"))
        assert f"chapter={chapter.number}" in page.url and "seeds=1" in page.url, page.url
        if chapter.number < len(CHAPTERS):
            page.get_by_role("button", name="Next ▶").click()
    page.close()


def test_presentation_mode_and_a_readme_picture(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server['url']}/?chapter=4&seeds=1&present=1")
    body_has(page, "Chapter 4 of 8", 60)
    from core.lesson import get_chapter

    page.get_by_text(get_chapter(4).answers[1], exact=True).click()
    page.get_by_role("button", name=re.compile("Reveal|Run")).click()
    body_has(page, "Verdict:", 60)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=60_000)
    time.sleep(1.0)
    page.screenshot(path=str(ARTIFACTS / "lesson-present.png"))
    page.set_viewport_size({"width": 1280, "height": 1500})  # question, answers, right/wrong and the verdict
    time.sleep(1.0)
    page.screenshot(path=str(ARTIFACTS / "lesson-present-reveal.png"))
    size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h2')).fontSize)")
    assert size >= 30, size  # projector-sized heading
    page.close()


def test_lab_with_three_seeds_time_to_first_band(server, browser):
    """Trains for real: 3 classroom twin pairs on the server's workers. Prints the seconds, asserts only order."""
    page = browser.new_page(viewport={"width": 1500, "height": 1250})
    page.goto(f"{server['url']}/lab?preset=classroom")
    page.get_by_role("button", name="▶ Run").wait_for(timeout=60_000)
    seeds = page.get_by_role("spinbutton", name="seeds")
    seeds.fill("3")
    seeds.press("Enter")
    page.wait_for_function("() => location.search.includes('nseeds=3')", timeout=30_000)
    page.get_by_text("retrain even if cached").click()  # a class would see cached runs at once; time training
    time.sleep(1.0)
    started = time.monotonic()
    page.get_by_role("button", name="▶ Run").click()
    page.wait_for_function(ANY_BAND, timeout=480_000, polling=200)
    first_band_s = time.monotonic() - started
    page.screenshot(path=str(ARTIFACTS / "lab-3-seeds-band.png"))
    body_has(page, "seeds", 5)
    print(f"\nLab, classroom preset, 3 seeds: first plotted band {first_band_s:.1f} s after Run "
          f"(load average {os.getloadavg()[0]:.1f})")
    page.close()
