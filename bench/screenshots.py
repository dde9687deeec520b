"""The README's pictures, taken from the running app: `python bench/screenshots.py` (into assets/).

Starts `streamlit run app.py` with a fresh store, waits for the classroom twin the server trains as it starts,
and photographs in Debian's chromium: the first screen at 1280 x 720, a Lesson chapter before and after its
reveal (one seed: the server's twin), and the Lab's charts and its look inside the network.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_app import FIRST_SCREEN_STATE, ROOT, app_server, chromium, wait_for_classroom  # noqa: E402

SHOTS = ("first-screen.png", "lesson-question.png", "lesson-reveal.png", "lab.png", "lab-inside.png")


def text_shown(page, text: str, timeout_s: float = 120) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_s * 1000)


def charts_drawn(page, count: int, timeout_s: float = 120) -> None:
    page.wait_for_function("n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n", arg=count,
                           timeout=timeout_s * 1000)
    time.sleep(1.0)  # plotly's last transition


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "assets")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from core.lesson import get_chapter

    with app_server() as server, chromium() as browser:
        wait_for_classroom(server["store"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(server["url"] + "/")
        page.wait_for_function(f"() => {{ const s = ({FIRST_SCREEN_STATE})(); return s && s.finished; }}",
                               timeout=120_000)
        charts_drawn(page, 3)
        page.screenshot(path=str(args.out / "first-screen.png"))

        chapter = get_chapter(2)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(server["url"] + f"/lesson?chapter={chapter.number}&seeds=1")
        text_shown(page, chapter.question[:40])
        time.sleep(1.0)
        page.get_by_text(chapter.answers[chapter.correct], exact=True).click()
        time.sleep(1.0)
        page.screenshot(path=str(args.out / "lesson-question.png"))
        page.get_by_role("button", name=re.compile("Run and reveal")).click()
        text_shown(page, "Verdict:")
        charts_drawn(page, 2)
        page.get_by_text("Verdict:").first.scroll_into_view_if_needed()
        time.sleep(0.5)
        page.screenshot(path=str(args.out / "lesson-reveal.png"))

        page.set_viewport_size({"width": 1280, "height": 1000})
        page.goto(server["url"] + "/lab?preset=classroom")
        text_shown(page, "adversarial learned the")
        charts_drawn(page, 2)
        page.screenshot(path=str(args.out / "lab.png"))
        page.get_by_role("tab", name="Network weights").click()
        text_shown(page, "Inside the network at step")
        charts_drawn(page, 3)
        page.get_by_text("Inside the network at step").first.scroll_into_view_if_needed()
        time.sleep(0.5)
        page.screenshot(path=str(args.out / "lab-inside.png"))
    for name in SHOTS:
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
