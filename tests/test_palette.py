"""Readable by the whole class: every chart the app shows, built on small fake data, checked for the rule that
no two series that carry meaning differ by hue alone (and never by red against green).

Meaningful pairs are traces whose names differ only by robust / non-robust or standard / adversarial (std / adv):
each such pair must differ in line dash or marker symbol (or bar pattern). Separately, no two traces of one chart
may differ only by a red-versus-green hue: about one man in twelve cannot tell those apart.
"""

from __future__ import annotations

import colorsys
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.engine.config import Config
from core.engine.metrics import METRICS
from core.figures import charts, phase

STEPS = np.arange(0, 101, 10)


def fake_frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {"step": STEPS, **{m: rng.uniform(0.05, 0.95, len(STEPS)) for m in METRICS}}
    data["loss"] = np.linspace(1.0, 0.01, len(STEPS))
    return pd.DataFrame(data)


def fake_view(y: int = 0):
    from core.engine.look_inside import PatchView

    rng = np.random.default_rng(y)
    P, width = 6, 11
    return PatchView(y=y, robust=np.array([True] + [False] * (P - 1)), clean=rng.normal(size=(P, width)),
                     perturbation=rng.normal(size=(P, width)), perturbed=rng.normal(size=(P, width)),
                     decomposition={k: 1 / 7 for k in charts.DECOMPOSITION_HELP}, pred_clean=y, pred_attacked=1,
                     delta_norm=0.3)


def theory_rows() -> list[dict]:
    return [{"step": int(s), "corr_robust": 0.1 * i, "corr_nonrobust": 0.05 * i, "lambda_robust": 0.1 * i,
             "gamma_nonrobust": 0.2 * i} for i, s in enumerate(STEPS)]


def sweep_frame() -> pd.DataFrame:
    rows = []
    for mode, eps, seed in itertools.product(("std", "adv"), (0.1, 0.2, 0.3), (0, 1)):
        rows.append({"mode": mode, "eps": eps, "s": 1, "seed": seed, "status": "finished", "corr_robust": 0.5,
                     "corr_nonrobust": 0.3, "acc_clean": 1.0, "acc_pgd": 0.2, "acc_swap": 0.1})
    return pd.DataFrame(rows)


def real_frame() -> pd.DataFrame:
    data = {"step": [1, 2, 3]}
    for mode in ("std", "adv"):
        for name in ("feat_acc_robust", "feat_acc_nonrobust", "acc_clean", "acc_pgd"):
            data[f"{mode}_{name}"] = [0.3, 0.5, 0.7]
    return pd.DataFrame(data)


def every_chart() -> dict[str, go.Figure]:
    one = {"std": fake_frame(0), "adv": fake_frame(1)}
    seeds = {"std": [fake_frame(s) for s in range(3)], "adv": [fake_frame(s + 3) for s in range(3)]}
    theory = {"std": theory_rows(), "adv": theory_rows()}
    views = {"std": fake_view(0), "adv": fake_view(1)}
    minima = [{"minimum": kind, "scale": c, "loss": 1 / c, "acc_clean": 1.0, "acc_pgd": 0.5, "acc_swap": 0.2}
              for kind in ("robust", "nonrobust") for c in (1.0, 10.0)]
    feat, acc = charts.real_figures(real_frame())
    figures = {
        "correlations": charts.correlation_figure(one, phase_steps={"adv": 40}),
        "correlations raw + theory": charts.correlation_figure(one, raw=True, theory=theory),
        "correlations 3 seeds": charts.correlation_figure(seeds),
        "accuracies": charts.accuracy_figure(one),
        "accuracies 3 seeds": charts.accuracy_figure(seeds),
        "patches": charts.patches_figure(views, [f"f{i}" for i in range(11)]),
        "decomposition": charts.decomposition_figure(views),
        "weights": charts.weights_figure({"std": np.ones((4, 11)), "adv": np.ones((4, 11))},
                                         [f"f{i}" for i in range(11)], [f"n{i}" for i in range(4)], 10),
        "dynamics": charts.dynamics_figure(theory),
        "dynamics normalised": charts.dynamics_figure(theory, raw=False),
        "minima": charts.minima_figure(minima, chosen=10.0),
        "overlay": charts.overlay_figure({"abc · std": fake_frame(0), "def · adv": fake_frame(1)}, "acc_pgd"),
        "real features": feat,
        "real accuracy": acc,
        "accuracy bars": charts.accuracy_bars(one),
        "accuracies, two metrics, standard only": charts.accuracy_figure({"std": seeds["std"]},
                                                                         metrics=("acc_clean", "acc_swap"), loss=False),
        "arms": charts.arms_figure({"one step": seeds["adv"], "multi step": [fake_frame(9)]}, "acc_pgd", "PGD"),
        "example": charts.example_figure({"clean": views["std"].clean, "δ": views["std"].perturbation},
                                         views["std"].robust, [f"f{i}" for i in range(11)], "one example"),
        "strip": charts.example_strip(views["std"].clean, views["std"].robust, [f"f{i}" for i in range(11)],
                                      "one example"),
        "sweep line": phase.line_figure(sweep_frame(), "eps", "acc_pgd"),
        "sweep phase": phase.phase_figure(sweep_frame().assign(s=lambda f: f["seed"] + 1), Config(), "eps", "s",
                                          "acc_pgd", "adv"),
    }
    return figures


# ---- the rule ------------------------------------------------------------------------------------
PAIR_WORDS = re.compile(r"non-robust|robust|standard|adversarial|\bstd\b|\badv\b")


def _plain(trace) -> bool:
    """A trace that names a series (not a band's edge, not a heatmap or a contour)."""
    return isinstance(trace, go.Scatter | go.Bar) and trace.name and trace.meta != "band" and not \
        trace.name.endswith(" · min")


def pair_key(name: str) -> str:
    return PAIR_WORDS.sub("#", re.sub(r" \(mean of \d+\)", "", name))


def style(trace) -> tuple:
    if isinstance(trace, go.Bar):
        return ("bar", trace.marker.pattern.shape or "")
    mode = trace.mode or "lines"
    symbol = trace.marker.symbol if "markers" in mode else None
    return (trace.line.dash or "solid", symbol or None)


def color(trace) -> str | None:
    value = trace.marker.color if isinstance(trace, go.Bar) else trace.line.color
    return value if isinstance(value, str) else None


def hue_family(value: str | None) -> str | None:
    if not value or not value.startswith("#") or len(value) != 7:
        return None
    r, g, b = (int(value[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    if s < 0.25 or lightness < 0.1 or lightness > 0.92:
        return None  # greys, black, white: no hue to confuse
    degrees = h * 360
    if degrees < 20 or degrees >= 335:
        return "red"
    if 75 <= degrees <= 170:
        return "green"
    return None


def violations(fig: go.Figure) -> list[str]:
    traces = [t for t in fig.data if _plain(t)]
    found = []
    for a, b in itertools.combinations(traces, 2):
        if getattr(a, "xaxis", None) != getattr(b, "xaxis", None) and a.name == b.name:
            continue  # the same series in another panel (accuracy per run)
        same_style = style(a) == style(b)
        if a.name != b.name and pair_key(a.name) == pair_key(b.name) and same_style:
            found.append(f"{a.name!r} and {b.name!r} differ only by colour ({color(a)} vs {color(b)})")
        if same_style and {hue_family(color(a)), hue_family(color(b))} == {"red", "green"}:
            found.append(f"{a.name!r} and {b.name!r} differ only by red against green")
    return found


EVERY_CHART = every_chart()  # built once: the tests read the figures, never change them


@pytest.mark.parametrize("name, fig", list(EVERY_CHART.items()), ids=list(EVERY_CHART))
def test_meaningful_series_differ_by_more_than_hue(name, fig):
    assert not violations(fig), violations(fig)


def test_the_rule_catches_red_against_green_and_hue_only_pairs():
    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="robust · standard",
                                line=dict(color="#1a9850")),
                     go.Scatter(x=[0, 1], y=[1, 0], mode="lines", name="non-robust · standard",
                                line=dict(color="#d73027"))])
    found = violations(fig)
    assert any("differ only by colour" in v for v in found) and any("red against green" in v for v in found)
    fig.data[1].line.dash = "dash"
    assert not violations(fig)


def test_the_palette_is_okabe_ito_and_features_carry_markers():
    assert charts.ROBUST in charts.OKABE_ITO.values() and charts.NONROBUST in charts.OKABE_ITO.values()
    assert charts.FEATURE_MARKER["robust"] != charts.FEATURE_MARKER["non-robust"]
    assert {hue_family(charts.ROBUST), hue_family(charts.NONROBUST)} != {"red", "green"}


def test_several_seeds_draw_a_band_per_series_around_their_mean():
    seeds = {"std": [fake_frame(s) for s in range(3)], "adv": [fake_frame(s + 3) for s in range(3)]}
    fig = charts.correlation_figure(seeds)
    bands = [t for t in fig.data if t.meta == "band"]
    lines = [t for t in fig.data if _plain(t)]
    assert len(bands) == len(lines) == 4 and all(t.fill == "tonexty" for t in bands)
    mean = next(t for t in lines if t.name.startswith("robust · standard"))
    expected = np.mean([f["corr_robust"] for f in seeds["std"]], axis=0)
    assert np.allclose(mean.y, expected)
    band = next(t for t in bands if t.name.startswith("robust · standard"))
    assert np.allclose(band.y, np.max([f["corr_robust"] for f in seeds["std"]], axis=0))
    acc = charts.accuracy_figure(seeds)
    assert len([t for t in acc.data if t.meta == "band"]) == 2 * (len(charts.ACC_METRICS) + 1)


def test_one_seed_draws_no_band():
    fig = charts.correlation_figure({"std": fake_frame(0), "adv": fake_frame(1)})
    assert not [t for t in fig.data if t.meta == "band" or t.fill]
    assert [t.name for t in fig.data] == ["robust · standard", "non-robust · standard", "robust · adversarial",
                                          "non-robust · adversarial"]


def test_the_chart_key_names_the_colours_the_charts_draw():
    """About's key is made from the same constants as the lines: blue robust, vermillion non-robust."""
    fig = charts.correlation_figure({"std": fake_frame(0), "adv": fake_frame(1)})
    drawn = {t.name.split(" · ")[0]: t.line.color for t in fig.data}
    for feature, colour_name in charts.FEATURE_COLOR_NAME.items():
        assert drawn[feature] == charts.OKABE_ITO[colour_name]
        assert f"{feature} feature = {colour_name}" in charts.chart_key() or f"{feature} = {colour_name}" in \
            charts.chart_key()
    assert "green" not in charts.chart_key() and "red " not in charts.chart_key()
    dashes = {t.name.split(" · ")[1]: t.line.dash for t in fig.data}
    assert dashes == {"standard": "solid", "adversarial": "dash"} and "adversarial run = dashed" in charts.chart_key()


def test_the_about_page_reads_its_colour_key_from_the_charts():
    source = (Path(__file__).resolve().parents[1] / "pages" / "about.py").read_text()
    assert "chart_key()" in source and "FEATURE_COLOR_NAME" in source
    for word in ("green", "red)", "(red"):
        assert word not in source, word
