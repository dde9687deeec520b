"""A room in real browsers: a teacher opens it and asks, N students vote from their own sessions, the teacher reveals.

    python bench/room_class.py [--n 10]

Same local server as bench/load_class.py (127.0.0.1, a temporary store). Prints the tally the
teacher's page shows and whether every student page shows the answer; screenshots of the
teacher's and a student's page go to artifacts/room_class/ for a person to look at.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from load_class import ROOT, start_server
from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    shots = ROOT / "artifacts" / "room_class"
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w") as log:
        server, url = start_server(Path(tmp) / "runs.sqlite", log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
                report = drive(browser, url, args.n, shots)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(json.dumps(report, indent=1))
    return 0 if report["votes_counted"] == args.n and report["students_see_answer"] == args.n else 1


def drive(browser, url: str, n: int, shots: Path) -> dict:
    teacher = browser.new_page(viewport={"width": 1300, "height": 1000})
    teacher.set_default_timeout(120_000)
    teacher.goto(f"{url}/room")
    teacher.get_by_role("button", name="Open a room").click()
    teacher.get_by_role("button", name="Ask this question").click()
    teacher.get_by_text("Voting is open").wait_for()
    code = teacher.url.split("room=")[1].split("&")[0]
    students = []
    for i in range(n):
        page = browser.new_page(viewport={"width": 800, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/room?room={code}")
        page.get_by_role("button", name="Vote").wait_for()
        radios = page.get_by_role("radio")
        radios.nth(i % radios.count()).check(force=True)
        page.get_by_role("button", name="Vote").click()
        page.get_by_text("Your vote").wait_for()
        students.append(page)
    time.sleep(3)  # the teacher's tally polls every 1.5 s
    title = teacher.locator(".js-plotly-plot .gtitle").first.text_content()  # SVG text: no inner_text
    teacher.screenshot(path=str(shots / "teacher-tally.png"), full_page=True)
    teacher.get_by_role("button", name="Close voting").click()
    teacher.get_by_role("button", name="Reveal the answer").click()
    seen = 0
    for page in students:
        try:
            page.get_by_text("Answer:").wait_for(timeout=30_000)
            seen += 1
        except Exception:  # noqa: BLE001 - counted, not raised: the report says how many saw it
            pass
    students[0].screenshot(path=str(shots / "student-revealed.png"), full_page=True)
    teacher.screenshot(path=str(shots / "teacher-revealed.png"), full_page=True)
    return {"code": code, "students": n, "teacher_tally_title": title,
            "votes_counted": int(title.split()[0]), "students_see_answer": seen, "screenshots": str(shots)}


if __name__ == "__main__":
    sys.exit(main())
