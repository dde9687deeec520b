"""A class under attack: N student browsers open their own classroom setups while one hostile browser floods
the server with runs, sweeps and huge links; the same class alone is the baseline, in the same run.

    python bench/class_attack.py [--n 20] [--deadline 900] [--students-nice 10]

Each phase starts ``streamlit run app.py`` on 127.0.0.1 with a fresh store and the default caps (README,
"Sharing one server with a class"), opens N student pages (each its own browser context, so its own person:
Debian's chromium through playwright) on the classroom preset with a seed of their own: a quick setup answers
by itself, so each page's opening starts its twins. In the attack phase one more browser (one person, many
tabs) at the same moment presses Run on
a huge link (steps=10^6, threads=1024, 5 seeds), on long setups one tab after another until refused, starts
the biggest sweep it may and tries one the page refuses, and keeps pressing Run in every tab until the
class is done. The students' browsers drop to --students-nice after their clicks, as load_class.py explains.

Prints one JSON report: per phase, seconds from opening the first student page to the last honest run finished
(from the store),
how many honest runs finished, error boxes on the students' pages, and for the attack the hostile's
refusals and admitted jobs; then the slowdown (attack / alone). Not a test: the numbers depend on the
machine (docs/classroom.md keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from load_class import CHROMIUM_ARGS, ERROR_BOX, deprioritise, pid_recording, start_server
from playwright.sync_api import sync_playwright

SEED0 = 1000  # the students' seeds: SEED0 .. SEED0 + N - 1
HOSTILE_SEED0 = 5000
HUGE = "preset=classroom&steps=1000000&threads=1024&nseeds=5"
LONG = "preset=classroom&steps=4000&eval_every=20"  # under the per-request cap: what the share admits
CHECK_EVERY_S = 3.0
RUN = "▶ Run"


def honest_runs(store: Path, n: int) -> list[tuple[int, str, float | None]]:
    """(seed, status, finished) of the students' runs: classroom pairs of their seeds, not a sweep's."""
    db = sqlite3.connect(store)
    try:
        rows = db.execute("SELECT status, finished, seed, steps, sweep_id FROM runs WHERE mode IN ('std', 'adv')")
        return [(seed, status, finished) for status, finished, seed, steps, sweep in rows
                if sweep is None and SEED0 <= seed < SEED0 + n and steps == 400]
    finally:
        db.close()


def click_run(page) -> None:
    try:
        page.get_by_role("button", name=RUN).click(timeout=5_000)
    except Exception:  # noqa: BLE001 - disabled while its runs go on: the hostile just moves on
        pass


def body_text(page) -> str:
    try:
        return page.inner_text("body", timeout=5_000)
    except Exception:  # noqa: BLE001 - a page still loading on a loaded server: looked at again next round
        return ""


class Hostile:
    """One browser, many tabs: everything a student may try at once to take the server."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1300, "height": 1000})
        self.url = url
        self.tabs = []

    def tab(self, path: str):
        page = self.context.new_page()
        page.set_default_timeout(300_000)  # a page opened beside a class that trains: minutes, not seconds
        page.goto(f"{self.url}{path}")
        self.tabs.append(page)
        return page

    def attack(self) -> None:
        huge = self.tab(f"/?{HUGE}")
        huge.get_by_role("button", name=RUN).wait_for()
        click_run(huge)
        sweep = self.tab("/sweep")
        sweep.get_by_role("button", name="Run sweep").wait_for()
        box = sweep.get_by_role("textbox", name="values of s")
        box.fill("1:50:50")  # 700 runs: over the per-request cap
        box.press("Enter")
        sweep.get_by_text("700 runs").wait_for()
        sweep.get_by_role("button", name="Run sweep").click()
        box.fill("1:50:50")
        sweep.get_by_role("textbox", name="values of beta").fill("0.1:0.7:100")  # 10 000 runs: not even built
        sweep.get_by_role("textbox", name="values of beta").press("Enter")
        sweep.get_by_text("at most 1000").wait_for()
        sweep.get_by_role("textbox", name="values of beta").fill("0.1:0.7:7")
        box.fill("1,2,4,8")  # the page's default grid: admitted, on one worker
        box.press("Enter")
        sweep.get_by_text("56 runs").wait_for()
        sweep.get_by_role("button", name="Run sweep").click()
        for i in range(4):  # long pairs, one tab after another, until the person's share refuses them
            page = self.tab(f"/?{LONG}&seed={HOSTILE_SEED0 + i}")
            page.get_by_role("button", name=RUN).wait_for()
            click_run(page)

    def keep_pressing(self) -> None:
        for page in self.tabs:
            if "/sweep" not in page.url:
                click_run(page)

    def refusals(self) -> list[str]:
        """The refusal lines its tabs show, each once, cut to their start."""
        lines = {text.strip()[:90] for page in self.tabs for text in page.get_by_text("refused:").all_inner_texts()}
        return sorted(lines | {text.strip()[:90] for page in self.tabs
                               for text in page.get_by_text("at most 1000").all_inner_texts()})


def phase(browser, url: str, store: Path, n: int, deadline: float, hostile: bool, step_aside) -> dict:
    attacker = Hostile(browser, url) if hostile else None
    if attacker is not None:
        attacker.tab("/about")  # its browser is up before the clock starts
    pages = [browser.new_page(viewport={"width": 1300, "height": 900}) for _ in range(n)]  # each a person
    opened = time.time()
    for i, page in enumerate(pages):  # a quick setup answers by itself: opening the page starts its twins
        page.set_default_timeout(180_000)
        page.goto(f"{url}/?preset=classroom&seed={SEED0 + i}", wait_until="commit")
    hostile_error = None
    if attacker is not None:
        try:
            attacker.attack()
        except Exception as err:  # noqa: BLE001 - what the hostile could not do is part of the report
            hostile_error = f"{type(err).__name__}: {str(err).splitlines()[0]}"
    priority = step_aside()
    end = time.monotonic() + deadline
    pressed: set[int] = set()  # students whose page waited for Run (its estimate over the what-if limit)
    while time.monotonic() < end:
        runs = honest_runs(store, n)
        if len(runs) == 2 * n and all(status not in ("queued", "running") for _, status, _ in runs):
            break
        if attacker is not None:
            attacker.keep_pressing()
        started = {seed for seed, _, _ in runs}
        for i, page in enumerate(pages):  # a page that says "press Run" gets it, as a student would
            if SEED0 + i not in started and "press Run" in body_text(page):
                click_run(page)
                pressed.add(i)
        time.sleep(CHECK_EVERY_S)
    runs = honest_runs(store, n)
    finished = [f for _, status, f in runs if status == "finished" and f]
    report = {"students": n, "honest_runs": len(runs), "honest_runs_finished": len(finished),
              "all_finished_s": round(max(finished) - opened, 1) if len(finished) == 2 * n else None,
              "error_boxes": sum(page.locator(ERROR_BOX).count() > 0 for page in pages),
              "students_who_pressed_run": len(pressed),
              "students_priority": priority}
    if attacker is not None:
        db = sqlite3.connect(store)
        jobs = db.execute("SELECT mode, COUNT(*) FROM runs WHERE sweep_id IS NULL AND (seed >= ? OR mode = 'sweep') "
                          "GROUP BY mode", (HOSTILE_SEED0,)).fetchall()
        db.close()
        report.update(hostile_tabs=len(attacker.tabs), hostile_refusals=attacker.refusals(),
                      hostile_jobs_admitted=dict(jobs), hostile_stopped_by=hostile_error)
        attacker.context.close()
    for page in pages:
        page.close()
    return report


def run_phase(args, hostile: bool, shots: Path) -> dict:
    chromium = shutil.which("chromium")
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w") as log:
        store = Path(tmp) / "runs.sqlite"
        server, url = start_server(store, log)
        try:
            with sync_playwright() as p:
                students, pidfile = pid_recording(chromium, Path(tmp))
                browser = p.chromium.launch(executable_path=students, args=CHROMIUM_ARGS)
                try:
                    return phase(browser, url, store, args.n, args.deadline, hostile,
                                 lambda: deprioritise(pidfile, args.students_nice))
                finally:
                    browser.close()
        finally:
            server.terminate()  # it shuts its job workers down
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=30)
            server.kill()  # a no-op once it has ended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="student browsers (default 20)")
    parser.add_argument("--deadline", type=float, default=900, help="seconds each phase may take")
    parser.add_argument("--students-nice", type=int, default=10,
                        help="niceness of the browsers after their clicks (0: as urgent as the server)")
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    shots = Path(__file__).resolve().parents[1] / "artifacts" / "class_attack"
    shots.mkdir(parents=True, exist_ok=True)
    alone = run_phase(args, hostile=False, shots=shots)
    print(json.dumps({"alone": alone}), file=sys.stderr, flush=True)  # kept should the second phase fail
    attacked = run_phase(args, hostile=True, shots=shots)
    ratio = (attacked["all_finished_s"] / alone["all_finished_s"]
             if alone["all_finished_s"] and attacked["all_finished_s"] else None)
    report = {"alone": alone, "attacked": attacked, "slowdown": round(ratio, 2) if ratio else None,
              "cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)}
    print(json.dumps(report, indent=1))
    every = all(r["honest_runs_finished"] == 2 * args.n and r["error_boxes"] == 0 for r in (alone, attacked))
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
