"""The dashboard in a real browser: Debian's chromium driven by playwright against `streamlit run app.py`.

The module's server and store are fresh: its first test is the first screen as a newcomer meets it, after the
server trained the classroom twin by itself. Measures (prints, does not assert) the seconds the server took,
from opening the root URL to the finished picture, and from pressing Run to the first plotted point and to the
end of the classroom twins; screenshots go to artifacts/ (gitignored) for a person to look at.
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

# JavaScript: the first screen's correlation chart of a finished twin, every curve reaching the runs' last step,
# and the chart and the accuracy bars both inside the window.
FINISHED_FIRST_SCREEN = """steps => {
  const charts = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const corr = charts.find(el => el.layout && el.layout.uirevision === 'correlations');
  const bars = charts.find(el => el.layout && el.layout.uirevision === 'accuracy-bars');
  if (!corr || !bars || !(corr.layout.meta || {}).finished) return false;
  const curves = (corr._fullData || []).filter(t => t.type === 'scatter' && t._length > 0);
  if (curves.length < 4 || curves.some(t => Math.max(...Array.from(t.x)) < steps)) return false;
  const inView = el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight
                                                                    && r.left >= 0 && r.right <= innerWidth; };
  return inView(corr) && inView(bars);
}"""

# JavaScript: how far the page scrolls (Streamlit's scrolling box, and the document).
SCROLL = """() => { const m = document.querySelector('[data-testid="stMain"]') || document.documentElement;
    return [m.scrollHeight, m.clientHeight]; }"""


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


def test_the_root_url_shows_the_finished_classroom_twin_on_one_screen(server, browser):
    """A fresh server trains the classroom twin by itself; a visitor then sees it finished, on one screen."""
    from core.engine.presets import get_preset
    from core.runs.store import RunStore

    ARTIFACTS.mkdir(exist_ok=True)
    cfg = get_preset("classroom").config()
    started = time.monotonic()
    deadline = started + 600
    store = server["store"]
    while time.monotonic() < deadline:  # no page is open: the server started it at its own start
        if store.exists() and all(RunStore(store).find_cached(cfg, mode) for mode in ("std", "adv")):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the server did not train the classroom twin by itself within 600 s")
    trained_s = time.monotonic() - started
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    opened = time.monotonic()
    page.goto(f"{server['url']}/")
    page.wait_for_function(FINISHED_FIRST_SCREEN, arg=cfg.steps, timeout=120_000, polling=100)
    shown_s = time.monotonic() - opened
    for text in ("Robust Feature Lab", "robust strength α", "non-robust strength β", "attack radius ε",
                 "robust patches s", "adversarial training's attack", "The Lesson", "Lab: every knob", "Room"):
        assert page.get_by_text(text).first.is_visible(), text
    height, window = page.evaluate(SCROLL)
    assert height <= window + 2, (height, window)  # the whole first screen fits: nothing below the window
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "first-screen.png"))
    print(f"\nfirst screen, fresh server and store: the server trained the classroom twin within {trained_s:.1f} s "
          f"of the test's start (no page open); the root URL showed it finished {shown_s:.1f} s after opening")
    page.close()


def curves_reach(page, steps: int) -> bool:
    """Whether every curve of the Lab's correlation chart reaches the runs' last step."""
    return page.evaluate("""steps => { const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(el => el.layout && el.layout.uirevision === 'correlations');
      const curves = el ? (el._fullData || []).filter(t => t.type === 'scatter' && t._length > 0) : [];
      return curves.length >= 4 && curves.every(t => Math.max(...Array.from(t.x)) >= steps); }""", steps)


def test_classroom_run_fills_the_charts_and_shows_the_patches(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    # a link that names a setup shows its runs without a Run press: here the twin the server trained
    page = open_page(browser, f"{server['url']}/?preset=classroom")
    body_has(page, "adversarial learned the", 240)
    page.wait_for_function(ANY_POINT, timeout=60_000, polling=100)
    time.sleep(1.0)
    assert curves_reach(page, 400), "a finished run's curves reach its last logged step"
    page.screenshot(path=str(ARTIFACTS / "lab-start.png"))

    # the same twins again on warm workers: what a class sees once the app has been opened before
    old_pair = page.url.split("pair=")[1].split("&")[0]
    page.get_by_text("retrain even if cached").click()
    page.get_by_role("button", name="▶ Run").wait_for(timeout=30_000)
    time.sleep(1.0)  # the checkbox's rerun
    started = time.monotonic()
    page.get_by_role("button", name="▶ Run").click(timeout=240_000)  # enabled once the page has settled
    page.wait_for_function("p => !location.search.includes('pair=' + p)", arg=old_pair, timeout=30_000)
    # the old pair's charts and verdict go once the new runs are attached; only then can we time the new ones
    page.wait_for_function("() => !document.body.innerText.includes('adversarial learned the')", timeout=30_000,
                           polling=50)
    page.wait_for_function(ANY_POINT, timeout=120_000, polling=100)
    first_point_s = time.monotonic() - started
    time.sleep(2.0)  # let a few more points arrive: a mid-run picture
    page.screenshot(path=str(ARTIFACTS / "lab-midrun.png"))
    body_has(page, "adversarial learned the", 240)
    finished_s = time.monotonic() - started
    time.sleep(1.0)
    assert curves_reach(page, 400), "the curves reach step 400 once both runs finished"
    assert "pair=" in page.url  # the link now reattaches to these runs
    print(f"\nclassroom twins, warm workers: first plotted point {first_point_s:.1f} s after Run, both runs "
          f"finished {finished_s:.1f} s after Run")

    page.get_by_role("tab", name="Adversarial patches").click()
    body_has(page, "One test example under PGD", 60)
    page.get_by_text("One test example under PGD").first.scroll_into_view_if_needed()
    body_has(page, "at step 400", 60)  # the newest snapshot, not step 0 (the attack runs in the server)
    page.screenshot(path=str(ARTIFACTS / "lab-patches.png"))
    page.get_by_role("tab", name="Network weights").click()
    body_has(page, "Inside the network at step", 60)
    page.get_by_text("Inside the network at step").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "lab-weights.png"))

    # a second tab on the same link reattaches to the finished pair
    other = open_page(browser, page.url)
    body_has(other, "adversarial learned the", 60)
    other.close()
    page.close()


def test_a_shared_link_restores_the_setup(server, browser):
    page = open_page(browser, f"{server['url']}/?preset=dense-loses&eps=0.25&steps=120")
    body_has(page, "Changed from the preset: steps, eps", 30)
    page.wait_for_function(ANY_POINT, timeout=120_000, polling=200)  # its runs, without a Run press
    eps = page.get_by_role("spinbutton", name="radius ε")
    eps.wait_for(timeout=30_000)
    assert float(eps.input_value()) == 0.25
    body_has(page, "4 robust patches in 50", 5)  # the dense-loses preset's description
    assert "eps=0.25" in page.url and "preset=dense-loses" in page.url, page.url
    page.screenshot(path=str(ARTIFACTS / "lab-shared-link.png"))
    page.close()
