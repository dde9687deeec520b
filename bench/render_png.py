"""Render plotly figures to PNG with Debian's chromium (no kaleido, no download).

    python bench/render_png.py docs/img/phase.csv --x s --y beta --panels corr_gap_std corr_gap_adv acc_pgd_adv

Each figure goes into a self-contained HTML page (plotly.js inline: no internet needed), which
headless chromium, driven by playwright, screenshots into docs/img/phase_<panel>.png.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.presets import get_preset  # noqa: E402
from core.figures.phase import phase_figures  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def render(figures: dict, out: Path, prefix: str, width=700, height=560) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as tmp:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        for name, fig in figures.items():
            html = Path(tmp) / f"{name}.html"
            fig.update_layout(width=width, height=height)
            html.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg")
            target = out / f"{prefix}_{name}.png"
            page.locator(".plotly-graph-div").first.screenshot(path=str(target))
            written.append(target)
        browser.close()
    return written


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--x", required=True)
    ap.add_argument("--y", required=True)
    ap.add_argument("--panels", nargs="*")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--prefix", default="phase")
    args = ap.parse_args()
    figures = phase_figures(pd.read_csv(args.csv), get_preset(args.preset).config(), (args.x, args.y))
    if args.panels:
        figures = {name: figures[name] for name in args.panels}
    for path in render(figures, Path(args.out), args.prefix):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
