"""Pictures that do not fight the reader: every chart drawn by plotly.js in Debian's chromium, at the widths the
pages give it, and measured. Titles and legends stay inside the figure and apart, a patch axis names every ★ row,
and row names never print over a neighbouring panel.

plotly.js is loaded once from the plotly package (no network); each figure is drawn with Plotly.newPlot and its
parts measured with getBoundingClientRect.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import plotly
import pytest
from test_palette import EVERY_CHART, fake_frame, fake_view, theory_rows

from core.figures import charts

pytestmark = pytest.mark.browser
if shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from _browser import chromium  # noqa: E402

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
WIDTHS = (600,)  # narrow: where a legend wraps and a title runs out of room

MEASURE = """([figure, width]) => {
  const div = document.getElementById('chart');
  div.innerHTML = '';
  const layout = Object.assign({}, figure.layout, {width: width});
  return Plotly.newPlot(div, figure.data, layout, {staticPlot: true}).then(() => {
    const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const root = box(div.querySelector('.main-svg'));
    const title = div.querySelector('.gtitle');
    const legend = div.querySelector('.legend');
    const full = div._fullLayout;
    const plots = Object.keys(full).filter(k => /^xaxis\\d*$/.test(k)).map(k => {
      const x = full[k], y = full[x.anchor.replace('y', 'yaxis')];
      return [root[0] + x._offset, root[1] + y._offset, root[0] + x._offset + x._length,
              root[1] + y._offset + y._length];
    });
    return {
      root: root,
      title: title ? box(title) : null,
      legend: legend ? box(legend.querySelector('.bg') || legend) : null,
      subplotTitles: Array.from(div.querySelectorAll('.annotation')).filter(a =>
          (figure.layout.annotations || []).some(n => n.text === a.textContent && n.yref === 'paper'
                                                       && n.yanchor === 'bottom' && n.y >= 1))
          .map(box),
      plots: plots,
      yticks: Array.from(div.querySelectorAll('.ytick text')).map(t => [t.textContent, box(t)]),
      xticks: Array.from(div.querySelectorAll('.xtick text')).map(t => t.textContent),
    };
  });
}"""


def overlap(a, b, slack: float = 0.5) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def inside(a, root, slack: float = 0.5) -> bool:
    return a[0] >= root[0] - slack and a[1] >= root[1] - slack and a[2] <= root[2] + slack and a[3] <= root[3] + slack


@pytest.fixture(scope="module")
def draw():
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.set_content("<html><body style='margin:0'><div id='chart'></div></body></html>")
        page.add_script_tag(path=str(PLOTLY_JS))

        def measure(fig, width):
            return page.evaluate(MEASURE, [json.loads(fig.to_json()), width])

        yield measure
        page.close()


LEGEND_CHARTS = ("correlations", "correlations raw + theory", "correlations 3 seeds", "accuracies",
                 "accuracies 3 seeds", "decomposition", "minima", "overlay", "real features", "real accuracy",
                 "dynamics", "accuracy bars", "arms")


@pytest.mark.parametrize("name", LEGEND_CHARTS)
def test_title_and_legend_stay_inside_the_figure_and_apart(draw, name):
    fig = EVERY_CHART[name]
    for width in WIDTHS:
        got = draw(fig, width)
        assert got["title"] is not None and inside(got["title"], got["root"]), (name, width, got["title"])
        if got["legend"] is None:
            continue
        assert inside(got["legend"], got["root"]), (name, width, "legend outside the figure")
        assert not overlap(got["title"], got["legend"]), (name, width, "legend covers the title")
        for plot in got["plots"]:
            assert not overlap(got["legend"], plot), (name, width, "legend covers the plot")
        for sub in got["subplotTitles"]:
            assert not overlap(got["legend"], sub), (name, width, "legend covers a subplot title")


def test_the_overlay_of_the_theory_keeps_the_title_clear_in_projector_type(draw):
    frames = {"std": fake_frame(0), "adv": fake_frame(1)}
    theory = {"std": theory_rows(), "adv": theory_rows()}
    fig = charts.for_projector(charts.correlation_figure(frames, theory=theory, phase_steps={"adv": 40}))
    for width in WIDTHS:
        got = draw(fig, width)
        assert not overlap(got["title"], got["legend"]) and inside(got["title"], got["root"]), width


def star_views(P: int = 50, stars=(1, 23, 36)):
    """Patch views whose ★ rows fall on even and odd rows (p2, p24, p37)."""
    views = {"std": fake_view(0), "adv": fake_view(1)}
    robust = np.zeros(P, dtype=bool)
    robust[list(stars)] = True
    rng = np.random.default_rng(0)
    for v in views.values():
        v.robust = robust
        v.clean, v.perturbation, v.perturbed = (rng.normal(size=(P, 11)) for _ in range(3))
    return views


def test_every_star_row_is_named_and_the_patch_title_fits(draw):
    fig = charts.patches_figure(star_views(), [f"f{i}" for i in range(11)])
    for width in WIDTHS:
        got = draw(fig, width)
        named = {text for text, _ in got["yticks"]}
        assert {"p2 ★", "p24 ★", "p37 ★"} <= named, sorted(named)
        assert inside(got["title"], got["root"]), (width, "the title is cut")


def test_row_names_never_print_over_a_neighbouring_panel(draw):
    frames = EVERY_CHART
    for name in ("patches", "weights", "example"):
        for width in WIDTHS:
            got = draw(frames[name], width)
            panels = got["plots"]
            for text, box in got["yticks"]:
                for plot in panels:
                    assert not overlap(box, plot), (name, width, text, "a row name over a panel")


def test_the_first_screens_strip_names_its_star_patch(draw):
    fig = EVERY_CHART["strip"]
    got = draw(fig, 600)
    assert any(text.endswith("★") for text in got["xticks"]), got["xticks"]
    assert inside(got["title"], got["root"])
