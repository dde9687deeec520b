"""The running app for the benches that drive a browser: `streamlit run app.py` on a free loopback port with a
fresh store of its own, and Debian's chromium through playwright. Both stop within bounded time."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launch(store: Path, log: Path, start_timeout_s: float = 120, env: dict | None = None):
    """``streamlit run app.py`` on a free loopback port with its store at `store` and its output in `log`;
    yields {"url", "store", "started"} (the server's start, monotonic) once it answers."""
    port = free_port()
    env = {**os.environ, **(env or {}), "RFL_STORE": str(store)}
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                 "--server.address", "127.0.0.1", "--server.port", str(port),
                                 "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout_s
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.3)
            else:
                raise RuntimeError(f"streamlit did not come up within {start_timeout_s:g} s")
            yield {"url": url, "store": store, "started": started}
        finally:
            proc.terminate()  # the server shuts its job workers down on exit
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def app_server(start_timeout_s: float = 120):
    """The app with a fresh store in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp, launch(Path(tmp) / "runs.sqlite", Path(tmp) / "server.log",
                                                      start_timeout_s) as server:
        yield server


def wait_for_classroom(store: Path, timeout_s: float = 600) -> float:
    """Seconds until the classroom twin the server trains at its start is finished in the store."""
    from core.engine.presets import get_preset
    from core.runs.store import RunStore

    cfg, started = get_preset("classroom").config(), time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if store.exists() and all(RunStore(store).find_cached(cfg, mode) for mode in ("std", "adv")):
            return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"the classroom twin did not finish within {timeout_s:g} s")


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# JavaScript: the first screen's charts (correlations) and what they show: {runs, finished, points}.
FIRST_SCREEN_STATE = """() => {
  const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(el => el.layout && el.layout.uirevision === 'correlations');
  if (!el || !el.layout.meta) return null;
  const points = (el._fullData || []).reduce((n, t) => n + (t.type === 'scatter' ? t._length || 0 : 0), 0);
  return {runs: el.layout.meta.runs, finished: !!el.layout.meta.finished, points: points};
}"""
