"""What-ifs in a real browser: a main knob of the first screen moved, to the new twin's first plotted point and to
its finished picture. Median of several changes, on a quiet machine and beside a busy one.

    python bench/whatif.py                 # quiet: nothing else runs
    python bench/whatif.py --busy 2        # beside two busy loops (one per core)

Starts `streamlit run app.py` with a fresh store (the server trains the classroom twin as it starts), opens the
root URL at 1280 x 720 in Debian's chromium, and moves one slider one step at a time with the keyboard, each
change a setup not trained before. Busy loops are plain Python processes at normal priority that end by
themselves after --busy-s seconds; the bench also stops them when it ends.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_app import FIRST_SCREEN_STATE, app_server, chromium, wait_for_classroom  # noqa: E402

# Each change moves one slider one step from where the last left it: every setup is new to the store.
CHANGES = (("attack radius ε", "ArrowLeft"), ("non-robust strength β", "ArrowRight"),
           ("robust strength α", "ArrowLeft"), ("attack radius ε", "ArrowLeft"),
           ("non-robust strength β", "ArrowRight"), ("robust strength α", "ArrowLeft"),
           ("attack radius ε", "ArrowRight"), ("non-robust strength β", "ArrowLeft"))
BUSY_LOOP = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end:\n    pass\n"


def busy_loops(n: int, seconds: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds)]) for _ in range(n)]


def one_change(page, label: str, key: str, timeout_s: float) -> tuple[float, float, str]:
    """(seconds to the new twin's first plotted point, seconds to its finished picture, its place in line)."""
    before = page.evaluate(FIRST_SCREEN_STATE)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    slider.focus()
    started = time.monotonic()
    slider.press(key)
    page.wait_for_function(f"""old => {{ const s = ({FIRST_SCREEN_STATE})();
        return s && s.runs !== old && s.points > 0; }}""", arg=before["runs"], timeout=timeout_s * 1000, polling=50)
    first_s = time.monotonic() - started
    line = page.evaluate("() => (document.body.innerText.match(/waiting, \\d+\\w+ in line/) || [''])[0]")
    page.wait_for_function(f"""old => {{ const s = ({FIRST_SCREEN_STATE})();
        return s && s.runs !== old && s.finished; }}""", arg=before["runs"], timeout=timeout_s * 1000, polling=50)
    return first_s, time.monotonic() - started, line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=5, help="knob changes to time (the median is reported)")
    p.add_argument("--busy", type=int, default=0, help="busy loops to run beside the server (0: a quiet machine)")
    p.add_argument("--busy-s", type=float, default=600, help="each busy loop ends by itself after this long")
    p.add_argument("--timeout", type=float, default=300, help="seconds a change may take before the bench fails")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    loops: list[subprocess.Popen] = []
    rows = []
    try:
        with app_server() as server, chromium() as browser:
            trained_s = wait_for_classroom(server["store"])
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server["url"] + "/")
            page.wait_for_function(f"() => {{ const s = ({FIRST_SCREEN_STATE})(); return s && s.finished; }}",
                                   timeout=120_000)
            loops = busy_loops(args.busy, args.busy_s)
            time.sleep(2.0 if loops else 0.5)  # the loops are running; the page is idle
            for i in range(args.changes):
                label, key = CHANGES[i % len(CHANGES)]
                first_s, finished_s, line = one_change(page, label, key, args.timeout)
                rows.append({"knob": label, "first_point_s": round(first_s, 2), "finished_s": round(finished_s, 2),
                             "queued": line})
                print(f"{label:24s} {key:10s} first point {first_s:5.2f} s   finished {finished_s:5.2f} s  {line}",
                      flush=True)
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()
    first = statistics.median(r["first_point_s"] for r in rows)
    finished = statistics.median(r["finished_s"] for r in rows)
    print(f"\nserver start to classroom twin finished (no page open): {trained_s:.1f} s")
    print(f"median of {len(rows)} changes, {args.busy} busy loop(s): first new point {first:.2f} s, "
          f"classroom-sized twin finished {finished:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"busy": args.busy, "changes": rows, "median_first_point_s": first,
                                         "median_finished_s": finished, "server_trained_s": trained_s}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
