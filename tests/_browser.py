"""What the browser tests share: a streamlit server of their own on 127.0.0.1, and Debian's chromium.

Both come up and go down within bounded time; the server's run store lives where the caller says.
"""

import contextlib
import shutil
from pathlib import Path

from playwright import sync_api  # requirements-dev.txt: a missing install fails, never skips

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def streamlit_server(store: Path, log_dir: Path):
    """``streamlit run app.py`` on a free loopback port with its own store; yields {"url", "store"}."""
    from bench.live_app import launch  # the benches' own: the same command, port and shutdown

    with launch(store, log_dir / "server.log", start_timeout_s=60, env={"RFL_PREWARM": "1"}) as server:
        yield server


@contextlib.contextmanager
def chromium():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
