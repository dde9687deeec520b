"""The dashboard in a real browser: Debian's chromium driven by playwright against `streamlit run app.py`.

Measures (prints, does not assert) the seconds from pressing Run to the first plotted point and
to the end of the classroom twins; screenshots go to artifacts/ (gitignored) for a person to look at.
"""

import time

import pytest
from _browser import ARTIFACTS, CHROMIUM, chromium, streamlit_server

pytestmark = pytest.mark.browser
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

# JavaScript: has any plotly chart on the page drawn a trace with at least one point?
# (plotly.js's own count of a trace's points: the figure's arrays arrive base64-encoded)
ANY_POINT = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .some(el => (el._fullData || []).some(t => t._length > 0))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A streamlit server of its own, with its run store in a temporary folder."""
    with streamlit_server(tmp_path_factory.mktemp("store") / "runs.sqlite", tmp_path_factory.mktemp("log")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1500, "height": 1250})
    page.goto(url)
    page.get_by_role("button", name="▶ Run").wait_for(timeout=60_000)
    return page


def body_has(page, text: str, timeout_s: float) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_s * 1000,
                           polling=200)


def test_classroom_run_fills_the_charts_and_shows_the_patches(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(browser, f"{server['url']}/?preset=classroom")
    page.screenshot(path=str(ARTIFACTS / "lab-start.png"))
    started = time.monotonic()
    page.get_by_role("button", name="▶ Run").click()
    page.wait_for_function(ANY_POINT, timeout=120_000, polling=100)
    first_point_s = time.monotonic() - started
    time.sleep(2.0)  # let a few more points arrive: the README's mid-run picture
    page.screenshot(path=str(ARTIFACTS / "lab-midrun.png"))
    body_has(page, "adversarial learned the", 240)  # the verdict appears once both runs ended
    finished_s = time.monotonic() - started
    assert "pair=" in page.url  # the link now reattaches to these runs
    page.screenshot(path=str(ARTIFACTS / "lab-finished.png"), full_page=True)

    page.get_by_role("tab", name="Adversarial patches").click()
    body_has(page, "One test example under PGD", 60)
    page.get_by_text("One test example under PGD").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab-patches.png"))
    page.get_by_role("tab", name="Network weights").click()
    body_has(page, "Inside the network at step", 60)
    page.get_by_text("Inside the network at step").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab-weights.png"))
    print(f"\nclassroom twins, cold server (workers start with the first page view): first plotted point "
          f"{first_point_s:.1f} s after Run, both runs finished {finished_s:.1f} s after Run")

    # the same twins again on warm workers: what a class sees once the app has been opened before
    old_pair = page.url.split("pair=")[1]
    page.get_by_text("retrain even if cached").click()
    page.get_by_role("button", name="▶ Run").wait_for(timeout=30_000)
    time.sleep(1.0)  # the checkbox's rerun
    started = time.monotonic()
    page.get_by_role("button", name="▶ Run").click()
    page.wait_for_function("p => !location.search.includes('pair=' + p)", arg=old_pair, timeout=30_000)
    # the old pair's charts and verdict go once the new runs are attached; only then can we time the new ones
    page.wait_for_function("() => !document.body.innerText.includes('adversarial learned the')", timeout=30_000,
                           polling=50)
    page.wait_for_function(ANY_POINT, timeout=120_000, polling=100)
    warm_first_s = time.monotonic() - started
    body_has(page, "adversarial learned the", 240)
    warm_finished_s = time.monotonic() - started
    print(f"classroom twins, warm workers: first plotted point {warm_first_s:.1f} s after Run, both runs finished "
          f"{warm_finished_s:.1f} s after Run")

    # a second tab on the same link reattaches to the finished pair
    other = open_page(browser, page.url)
    body_has(other, "adversarial learned the", 60)
    other.close()
    page.close()


def test_a_shared_link_restores_the_setup(server, browser):
    page = open_page(browser, f"{server['url']}/?preset=dense-loses&eps=0.25&steps=120")
    body_has(page, "Changed from the preset: steps, eps", 30)
    page.get_by_text("Attack and evaluation").click()
    eps = page.get_by_role("spinbutton", name="radius ε")
    eps.wait_for(timeout=30_000)
    assert float(eps.input_value()) == 0.25
    body_has(page, "4 robust patches in 50", 5)  # the dense-loses preset's description
    assert "eps=0.25" in page.url and "preset=dense-loses" in page.url, page.url
    page.screenshot(path=str(ARTIFACTS / "lab-shared-link.png"))
    page.close()
