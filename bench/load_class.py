"""A class on one server: N headless Chromium sessions each press Run on their own classroom setup.

    python bench/load_class.py [--n 20] [--deadline 600] [--preset classroom] [--same-setup]

Starts ``streamlit run app.py`` on 127.0.0.1 with a temporary run store, opens N browser pages
(Debian's chromium through playwright), each on the classroom preset with its own seed (so every
session trains a distinct twin pair), presses Run on all of them, and waits, bounded by
--deadline, until every page shows the verdict. While they train it opens the About and Runs
pages a few times and times their load. Prints one JSON report: N, how many finished, how many
pages showed an error box, seconds from the first click to the last verdict, the page-load
times (goal: under 3 s), and the machine's load average. Nothing leaves this machine.
The N student browsers stand in for N devices, yet here they share the server's 2 cores: they press
Run at full priority, then drop to --students-nice (default 10, set on their whole session: see
deprioritise) so they take what the server leaves, as on their own machines; the probe's browser
runs at normal priority. --students-nice 0 gives the harsher figure.
With --same-setup every session opens the same new setup instead: the job manager attaches
the later presses to the first one's runs, so the store must end with exactly one twin pair.
Not a test: the numbers depend on the machine (see docs/classroom.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROBE_EVERY_S = 5.0
PROBES = (("/about", "📖 About"), ("/runs", "🗂️ Runs"))
CHECK_EVERY_S = 5.0  # how often the harness looks for verdicts: its own browser work shares the server's cores
VERDICT = "adversarial learned the"
ERROR_BOX = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RFL_STORE": str(store), "RFL_PREWARM": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("streamlit did not come up within 60 s")


def pid_recording(executable: str, folder: Path) -> tuple[str, Path]:
    """A wrapper that starts the browser as itself (exec) after writing its pid to a file."""
    wrapper, pidfile = folder / "chromium-students", folder / "students.pid"
    wrapper.write_text(f'#!/bin/sh\necho $$ > "{pidfile}"\nexec "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), pidfile


def deprioritise(pidfile: Path, nice: int) -> str:
    """Lower the student browser, all its processes, to `nice`; says how.

    A plain `nice` does not hold, both measured here (the "niced" student browsers took a whole core
    and starved the server's workers): playwright starts the browser in a session of its own, and
    with the kernel's autogroups each session gets an equal share whatever its processes' niceness;
    and run as root, Chromium sets its renderers back to 0 and its display threads to -8. The
    niceness of the session's group (/proc/PID/autogroup) covers every process in it, whatever
    Chromium does inside. Without autogroups, each process of the session is reniced instead."""
    if nice <= 0:
        return "none"
    pid = int(pidfile.read_text())
    group = Path(f"/proc/{pid}/autogroup")
    session = os.getsid(pid)
    if session == pid and group.exists():  # the browser leads its own session: its group is its own
        group.write_text(str(int(nice)))
        return f"autogroup nice {int(nice)}"
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getsid(int(proc.name)) == session:
                os.setpriority(os.PRIO_PROCESS, int(proc.name), int(nice))
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
    return f"process nice {int(nice)} (no autogroup: Chromium run as root may raise some back)"


def page_load_s(browser, url: str, title: str) -> float:
    """Seconds from navigation to the page's title drawn by a fresh browser session."""
    page = browser.new_page()
    started = time.monotonic()
    try:
        page.goto(url, wait_until="commit", timeout=120_000)
        page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
        return time.monotonic() - started
    except PlaywrightTimeout:
        return float("inf")  # reported as such: not a crash of the bench
    finally:
        page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="browser sessions (default 20)")
    parser.add_argument("--deadline", type=float, default=600, help="seconds to wait for all verdicts")
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--students-nice", type=int, default=10,
                        help="niceness of the N student browsers (0: as urgent as the server)")
    parser.add_argument("--same-setup", action="store_true",
                        help="every session presses Run on one new setup (expect one twin pair in the store)")
    parser.add_argument("--shots", default=str(ROOT / "artifacts" / "load_class"),
                        help="folder for a screenshot of each session at the end")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w") as log:
        server, url = start_server(Path(tmp) / "runs.sqlite", log)
        try:
            with sync_playwright() as p:
                students, pidfile = pid_recording(chromium, Path(tmp))
                browser = p.chromium.launch(executable_path=students, args=CHROMIUM_ARGS)
                report = drive(browser, url, args, shots, Path(tmp) / "runs.sqlite",
                               lambda: deprioritise(pidfile, args.students_nice))
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    report["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    report["cpus"] = os.cpu_count()
    report["students_nice"] = args.students_nice
    print(json.dumps(report, indent=1))
    expected = 2 if args.same_setup else 2 * args.n
    return 0 if report["runs_finished"] == report["runs"] == expected and report["error_boxes"] == 0 else 1


def probe_loads(url: str, stop: threading.Event, loads: list, started: float) -> None:
    """In its own thread and browser (playwright's sync API is one per thread): open About and Runs
    every PROBE_EVERY_S while the class trains, timing each until its title is drawn."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        while not stop.is_set():
            for path, title in PROBES:
                at = time.monotonic() - started
                loads.append({"page": path, "s": round(page_load_s(browser, url + path, title), 2),
                              "at_s": round(at, 1)})
            stop.wait(PROBE_EVERY_S)
        browser.close()


def drive(browser, url: str, args, shots: Path, store: Path, step_aside) -> dict:
    pages = []
    for i in range(args.n):  # each session its own setup (a seed of its own), or all one new setup
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)  # a loaded machine: playwright's 30 s default is too short
        page.goto(f"{url}/?preset={args.preset}&seed={1000 + (0 if args.same_setup else i)}")
        pages.append(page)
    for page in pages:
        page.get_by_role("button", name="▶ Run").wait_for(timeout=120_000)
    # the floor: the same probe on the idle server, before anyone presses Run
    idle = [page_load_s(browser, url + path, title) for path, title in PROBES]
    report = {"load_average_1m_at_start": round(os.getloadavg()[0], 2),
              "page_load_idle_s": [round(x, 2) for x in idle]}
    loads: list = []
    stop = threading.Event()
    clicked = time.time()
    started = time.monotonic()
    for page in pages:  # the students press Run at once, at full priority, as on their own devices
        page.get_by_role("button", name="▶ Run").click()
    report["clicks_s"] = round(time.monotonic() - started, 1)
    report["students_priority"] = step_aside()  # then their browsers take what the server leaves
    # Probing starts now, not during the clicks: then N simulated devices run at full priority on the
    # server's own cores, which no class does (30 clicking browsers starve a probe for as long as they click).
    prober = threading.Thread(target=probe_loads, args=(url, stop, loads, started), daemon=True)
    prober.start()
    shown: set[int] = set()
    deadline = started + args.deadline
    while len(shown) < len(pages) and time.monotonic() < deadline:
        for i, page in enumerate(pages):
            if i not in shown and page.get_by_text(VERDICT).count():
                shown.add(i)
        time.sleep(CHECK_EVERY_S)
    stop.set()
    prober.join(timeout=300)
    errors = 0
    for i, page in enumerate(pages):
        errors += page.locator(ERROR_BOX).count() > 0
        page.screenshot(path=str(shots / f"session-{i:02d}.png"))
    # when the runs ended, from the store: the pages' own polling is slower than the runs
    db = sqlite3.connect(store)
    rows = db.execute("SELECT status, finished FROM runs").fetchall()
    db.close()
    ended = [f for status, f in rows if status == "finished" and f]
    training_s = max(ended) - clicked if ended else float("inf")
    during = [x["s"] for x in loads if x["at_s"] < training_s]  # the probe opened while runs were training
    return {**report, "n": args.n, "runs": len(rows), "runs_finished": len(ended),
            "pages_showing_the_verdict": len(shown), "error_boxes": errors,
            "all_finished_s": round(max(ended) - clicked, 1) if ended and len(ended) == len(rows) else None,
            "first_finished_s": round(min(ended) - clicked, 1) if ended else None,
            "page_loads_while_running": loads,
            "page_load_max_s": max((x["s"] for x in loads), default=None),
            "page_loads_opened_while_training": len(during),
            "page_load_max_while_training_s": max(during, default=None)}


if __name__ == "__main__":
    sys.exit(main())
