"""Plotly figures of the dashboard, one builder per chart; no UI code.

Conventions shared by every chart, so that a reader learns them once, and readable by a whole
class (colour-blind-safe Okabe–Ito palette; no pair of series that carries meaning differs by
hue alone, tests/test_palette.py holds that rule):
robust feature = blue with round markers, non-robust = vermillion with crosses; standard
training = solid line, adversarial = dashed; the reduced-dynamics theory = dotted. Lines carry
their name at their right end where several cross. Several seeds of one series draw their mean
with a shaded min–max band. Every figure has a title saying what it shows and a constant
``uirevision``, so a chart redrawn each second keeps the user's zoom.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Okabe & Ito (2008): eight colours that stay distinct for the common colour-vision deficiencies.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
# The one source of the chart conventions: the charts draw with these, and the About page's key and the
# tests read them (so the words can never say green where the lines are blue).
FEATURE_COLOR_NAME = {"robust": "blue", "non-robust": "vermillion"}
FEATURE_COLOR = {name: OKABE_ITO[colour] for name, colour in FEATURE_COLOR_NAME.items()}
ROBUST, NONROBUST = FEATURE_COLOR["robust"], FEATURE_COLOR["non-robust"]
FEATURE_MARKER = {"robust": "circle", "non-robust": "x"}
RUN_LABEL = {"std": "standard", "adv": "adversarial"}
RUN_DASH = {"std": "solid", "adv": "dash"}
THEORY_DASH = {"std": "dot", "adv": "dashdot"}
RUN_COLOR = {"std": OKABE_ITO["black"], "adv": OKABE_ITO["orange"]}
RUN_MARKER = {"std": "square", "adv": "triangle-up"}
MARKER_NAME = {"circle": "dots", "x": "crosses", "square": "squares", "triangle-up": "triangles"}
DASH_NAME = {"solid": "solid", "dash": "dashed", "dot": "dotted", "dashdot": "dash-dotted"}


def chart_key() -> str:
    """The conventions of every chart in one sentence (markdown), from the constants the charts draw with."""
    robust, nonrobust = FEATURE_COLOR_NAME["robust"], FEATURE_COLOR_NAME["non-robust"]
    return (f"robust feature = {robust} with {MARKER_NAME[FEATURE_MARKER['robust']]}, non-robust = {nonrobust} "
            f"with {MARKER_NAME[FEATURE_MARKER['non-robust']]}; standard run = {DASH_NAME[RUN_DASH['std']]} line, "
            f"adversarial run = {DASH_NAME[RUN_DASH['adv']]}; theory = {DASH_NAME[THEORY_DASH['std']]} "
            f"(standard) and {DASH_NAME[THEORY_DASH['adv']]} (adversarial)")

ACC_METRICS = {  # name, colour, marker
    "acc_clean": ("clean", OKABE_ITO["black"], "square"),
    "acc_pgd": ("PGD", OKABE_ITO["purple"], "diamond"),
    "acc_swap": ("swap (Thm 4.3)", OKABE_ITO["orange"], "triangle-up"),
    "acc_robust_feature": ("robust only", ROBUST, FEATURE_MARKER["robust"]),
    "acc_nonrobust_feature": ("non-robust only", NONROBUST, FEATURE_MARKER["non-robust"]),
}
MARKERS_SHOWN = 12  # markers per line: enough to tell the lines apart, few enough to keep the line readable
_BASE = dict(template="plotly_white", hovermode="x unified")


def _marker(symbol: str, color: str, size: int = 8) -> dict:
    return dict(symbol=symbol, size=size, color=color, maxdisplayed=MARKERS_SHOWN, line=dict(width=1.5, color=color))


def _alpha(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def as_seeds(value) -> list[pd.DataFrame]:
    """A series' frames: one DataFrame (one seed) or a list of them (several seeds); empty ones dropped."""
    frames = value if isinstance(value, list | tuple) else [value]
    return [f for f in frames if f is not None and not f.empty]


def seed_summary(frames: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """step, mean, lo, hi, n of one column over seeds, at each logged step (seeds still running count
    where they have reached)."""
    long = pd.concat([f[["step", column]] for f in frames], ignore_index=True).dropna()
    stats = long.groupby("step")[column].agg(["mean", "min", "max", "count"]).reset_index()
    return stats.rename(columns={"min": "lo", "max": "hi", "count": "n"})


def _series(fig: go.Figure, frames: list[pd.DataFrame], column: str, *, name: str, color: str, dash: str,
            marker: str, width: float = 2.5, legendgroup: str | None = None, showlegend: bool = True,
            row: int | None = None, col: int | None = None) -> tuple[float, float] | None:
    """One series: a plain line for one seed; for several, a shaded min–max band under the mean line.

    Returns the (x, y) of the line's last point, for an end label."""
    where = dict(row=row, col=col) if row is not None else {}
    group = legendgroup or name
    if len(frames) == 1:
        x, y = frames[0]["step"], frames[0][column]
    else:
        stats = seed_summary(frames, column)
        x, y = stats["step"], stats["mean"]
        fig.add_trace(go.Scatter(x=x, y=stats["lo"], mode="lines", line=dict(width=0, color=color), hoverinfo="skip",
                                 showlegend=False, legendgroup=group, name=f"{name} · min"), **where)
        fig.add_trace(go.Scatter(x=x, y=stats["hi"], mode="lines", line=dict(width=0, color=color), fill="tonexty",
                                 fillcolor=_alpha(color, 0.18), hoverinfo="skip", showlegend=False,
                                 legendgroup=group, name=f"{name} · min–max over {len(frames)} seeds",
                                 meta="band"), **where)
        name = f"{name} (mean of {len(frames)})"
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=group, showlegend=showlegend,
                             line=dict(color=color, dash=dash, width=width), marker=_marker(marker, color)), **where)
    valid = pd.DataFrame({"x": x, "y": y}).dropna()
    return (float(valid["x"].iloc[-1]), float(valid["y"].iloc[-1])) if not valid.empty else None


def _end_labels(fig: go.Figure, labels: list[tuple[float, float, str, str]], span: float,
                plot_px: float = 280) -> None:
    """Names at the right end of the lines, nudged apart so that none covers another (16 px apart on a plot
    area of plot_px)."""
    gap = max(0.075, 16 / plot_px) * span
    placed: list[float] = []
    for x, y, text, color in sorted(labels, key=lambda t: t[1]):
        y_label = max([y, *(p + gap for p in placed)]) if placed else y
        placed.append(y_label)
        fig.add_annotation(x=x, y=y_label, text=f"<b>{text}</b>", showarrow=False, xanchor="left", xshift=6,
                           font=dict(color=color, size=13), bgcolor="rgba(255,255,255,0.75)")


TITLE_PX = 34  # the title's band at the top: one line of 16 px type
TITLE_LINE_PX = 21  # each further line of the title
TITLE_CHARS = 60  # a title line of 16 px type fits a chart 600 px wide; a longer title wraps
LEGEND_ROW_PX = 22  # one row of legend entries at 12 px
SUBPLOT_TITLE_PX = 24  # the subplot titles' band above the panels
FONT = 12


LEGEND_PLOT_PX = 500  # the narrowest plot area a legend is laid out for (a chart 600 px wide)
SUBPLOT_TITLE_CHARS = 30  # a subplot title wraps past this: a panel can be a third of a chart


def _legend_columns(names: list[str], narrow: bool = False) -> int:
    """Entries per legend row: fixed fractions of the width, each wide enough for the longest name on the
    narrowest plot, so the legend's height is known in advance and the title never has to share its band
    with a legend that wrapped."""
    entry_px = 44 + 6.8 * max((len(n) for n in names), default=0)  # the symbol, then 12 px text
    columns = max(1, min(4, int(LEGEND_PLOT_PX // entry_px)))
    return max(1, columns // 2) if narrow else columns


def _subplot_title_lines(fig: go.Figure) -> int:
    """Wrap the subplot titles (Plotly cuts them too) and return the most lines one has."""
    most = 0
    for note in fig.layout.annotations or ():
        if note.yref == "paper" and note.yanchor == "bottom" and (note.y or 0) >= 1 and note.text:
            note.text = wrap_title(note.text, SUBPLOT_TITLE_CHARS)
            most = max(most, note.text.count("<br>") + 1)
    return most


def wrap_title(text: str, limit: int = TITLE_CHARS) -> str:
    """The title in lines of at most `limit` characters (<br> between), broken at spaces: Plotly never wraps
    a title itself and cuts it at the figure's edge instead."""
    lines, line = [], ""
    for word in text.replace("<br>", " ").split(" "):
        if line and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join([*lines, line])


def _top(fig: go.Figure, scale: float = 1.0) -> None:
    """Place the title, the legend rows and the subplot titles in pixels from the top, and make the top
    margin exactly their sum: nothing in that band can overlap another, whatever the chart's width."""
    meta = fig.layout.meta or {}
    height = fig.layout.height or 450
    shown = [t.name for t in fig.data if t.name and t.showlegend is not False and meta.get("legend", True)]
    shown = list(dict.fromkeys(shown))  # a legend group shows once
    columns = _legend_columns(shown, meta.get("narrow", False))
    rows = -(-len(shown) // columns) if shown else 0
    text = wrap_title(fig.layout.title.text or "", round(TITLE_CHARS / scale))
    title_px = (TITLE_PX + TITLE_LINE_PX * text.count("<br>")) * scale
    row_px = LEGEND_ROW_PX * scale
    subplot_lines = _subplot_title_lines(fig) if meta.get("subplots") else 0
    subplot_px = (SUBPLOT_TITLE_PX + 18 * (subplot_lines - 1)) * scale if subplot_lines else 0
    top = title_px + rows * row_px + subplot_px + 8
    margin = fig.layout.margin
    fig.update_layout(
        # Plotly anchors a title of several lines by its first line: the others would rise above the top
        title=dict(text=text, y=1 - (6 + text.count("<br>") * TITLE_LINE_PX * scale) / height, yanchor="top",
                   yref="container", x=0.01, xanchor="left",
                   font=dict(size=round(16 * scale))),
        showlegend=bool(shown),
        legend=dict(orientation="h", yref="container", yanchor="top", y=1 - title_px / height, x=0, xanchor="left",
                    entrywidth=1 / columns, entrywidthmode="fraction", font=dict(size=round(FONT * scale)),
                    tracegroupgap=0, traceorder="normal"),  # groups (a band with its line) take no extra room
        margin=dict(t=top, l=margin.l if margin.l is not None else 10, r=margin.r if margin.r is not None else 10,
                    b=margin.b if margin.b is not None else 10),
    )


def _layout(fig: go.Figure, title: str, revision: str, *, subplots: bool = False, legend: bool = True,
            narrow: bool = False, **extra) -> go.Figure:
    """Shared look: the title, then the legend in rows of known height, then the plot; zoom kept on redraw.

    The legend goes on top because below the plot it collides with the axis title once it wraps."""
    fig.update_layout(**{**_BASE, "margin": dict(l=10, r=10, b=10), **extra}, title=dict(text=title),
                      uirevision=revision, meta={"subplots": subplots, "legend": legend, "narrow": narrow})
    _top(fig)
    return fig


def for_projector(fig: go.Figure, scale: float = 1.35) -> go.Figure:
    """Larger type for a projector; the title and legend band grows with it."""
    fig.update_layout(font=dict(size=round(FONT * scale)))
    fig.update_annotations(font_size=round(13 * scale))
    _top(fig, scale)
    return fig


def _last_step(frames: dict, steps: int | None = None) -> int:
    """The x axis's end: the runs' planned length when known (a live curve grows towards it), else the last
    logged step."""
    ends = [int(f["step"].max()) for value in frames.values() for f in as_seeds(value)]
    return max(ends + [steps or 0, 1])


def correlation_figure(frames: dict, *, raw: bool = False, phase_steps: dict | None = None,
                       theory: dict | None = None, end_labels: bool = True, steps: int | None = None,
                       compact: bool = False, height: int | None = None) -> go.Figure:
    """Weight-feature correlations of both runs; the phase transition as a vertical line.

    frames: mode -> DataFrame with step and the metric columns (core.engine.metrics.METRICS), or a list of them
    (one per seed: the mean with a min–max band); theory: mode -> rows of core.engine.theory.reduced_dynamics,
    drawn dotted; steps: the runs' planned length (the x axis ends there while they grow); compact: the first
    screen's small chart (the lines named at their ends, no legend).
    """
    robust, nonrobust = ("lambda_robust", "gamma_nonrobust") if raw else ("corr_robust", "corr_nonrobust")
    fig = go.Figure()
    labels = []
    for mode, value in frames.items():
        seeds = as_seeds(value)
        if not seeds:
            continue
        for column, color, name in ((robust, ROBUST, "robust"), (nonrobust, NONROBUST, "non-robust")):
            end = _series(fig, seeds, column, name=f"{name} · {RUN_LABEL[mode]}", color=color, dash=RUN_DASH[mode],
                          marker=FEATURE_MARKER[name])
            if end is not None:
                labels.append((*end, f"{name} · {mode}", color))
    for mode, rows in (theory or {}).items():
        xs = [r["step"] for r in rows]
        for column, color, name in ((robust, ROBUST, "robust"), (nonrobust, NONROBUST, "non-robust")):
            fig.add_trace(go.Scatter(x=xs, y=[r[column] for r in rows], mode="lines+markers", opacity=0.7,
                                     name=f"theory {name} · {RUN_LABEL[mode]}",
                                     line=dict(color=color, dash=THEORY_DASH[mode], width=1.5),
                                     marker=_marker(FEATURE_MARKER[name], color, size=6)))
    for mode, step in (phase_steps or {}).items():
        if step is not None:
            fig.add_vline(x=step, line=dict(color="#555", dash="dot", width=1.5),
                          annotation_text=("switch" if compact else f"phase transition ({RUN_LABEL[mode]})") +
                          f" at step {step}", annotation_position="top right")
    # the planned length keeps a growing curve from rescaling the axis; the phase-transition label would
    # otherwise widen the autorange
    fig.update_xaxes(range=[0, _last_step(frames, steps)])
    if end_labels and labels:
        span = 1.0 if not raw else max(1e-9, max(y for _, y, _, _ in labels) - min(0.0, *(y for _, y, _, _ in labels)))
        _end_labels(fig, labels, span * 1.15, plot_px=(height or (320 if compact else 420)) - 100)
    what = "raw coefficients Λ = max⟨w, u_r⟩, Γ = max⟨w, v_r⟩" if raw else "normalised ⟨w, feature⟩ / ‖w‖"
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="Λ, Γ" if raw else "correlation", **({} if raw else dict(range=[-0.05, 1.1])))
    margin = dict(l=10, r=150 if end_labels and labels else 10, b=10)
    title = "Which feature the neurons learn" if compact else f"Which features the neurons learn: {what}"
    return _layout(fig, title, "correlations", height=height or (320 if compact else 420), margin=margin,
                   legend=not compact)


def accuracy_figure(frames: dict, *, metrics: tuple[str, ...] | None = None, loss: bool = True,
                    steps: int | None = None) -> go.Figure:
    """Test accuracies of each run side by side, and both runs' training loss (one DataFrame or a list per seed).

    metrics: which accuracies (default: every one of ACC_METRICS); only the modes present in frames get a panel."""
    metrics = tuple(metrics or ACC_METRICS)
    modes = [m for m in ("std", "adv") if as_seeds(frames.get(m))]
    modes = modes or ["std", "adv"]
    panels = [f"{RUN_LABEL[m]} training: accuracies" for m in modes] + (["training loss (log scale)"] if loss else [])
    widths = [0.76 / len(modes)] * len(modes) + ([0.24] if loss else [])
    fig = make_subplots(rows=1, cols=len(panels), column_widths=widths, horizontal_spacing=0.06,
                        subplot_titles=panels)
    for col, mode in enumerate(modes, start=1):
        seeds = as_seeds(frames.get(mode))
        if not seeds:
            continue
        for metric in metrics:
            name, color, marker = ACC_METRICS[metric]
            _series(fig, seeds, metric, name=name, color=color, dash=RUN_DASH[mode], marker=marker, width=2,
                    legendgroup=metric, showlegend=col == 1, row=1, col=col)
        if loss:
            _series(fig, seeds, "loss", name=f"loss · {RUN_LABEL[mode]}", color=RUN_COLOR[mode], dash=RUN_DASH[mode],
                    marker=RUN_MARKER[mode], width=2, row=1, col=len(panels))
        fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%", row=1, col=col)
    if loss:
        fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=len(panels))  # decades only
    # one time axis for every panel
    fig.update_xaxes(title="training step", matches="x", range=[0, _last_step(frames, steps)])
    title = ("What each model gets right: clean, attacked and feature-only test accuracy" if set(metrics) ==
             set(ACC_METRICS) else "Test accuracy: " + ", ".join(ACC_METRICS[m][0] for m in metrics))
    return _layout(fig, title, "accuracies", subplots=True, height=440)


# The first screen's accuracy summary: what a reader should see at a glance.
SUMMARY_METRICS = ("acc_clean", "acc_swap", "acc_pgd")


def accuracy_bars(frames: dict, *, metrics: tuple[str, ...] = SUMMARY_METRICS, height: int = 320) -> go.Figure:
    """The latest logged accuracies of each run as bars, standard beside adversarial (hatched)."""
    fig = go.Figure()
    names = [ACC_METRICS[m][0].split(" (")[0] for m in metrics]
    for mode in ("std", "adv"):
        seeds = as_seeds(frames.get(mode))
        if not seeds:
            continue
        last = [seed_summary(seeds, m)["mean"].iloc[-1] if seeds[0][m].notna().any() else None for m in metrics]
        step = int(max(f["step"].max() for f in seeds))
        text = [None if v is None else f"{v:.0%}" for v in last]
        fig.add_trace(go.Bar(x=names, y=last, name=RUN_LABEL[mode], text=text,
                             textposition="outside", cliponaxis=False, customdata=[step] * len(names),
                             marker=dict(color=RUN_COLOR[mode], pattern_shape="/" if mode == "adv" else ""),
                             hovertemplate="%{x}: %{y:.0%} at step %{customdata}<extra>" + RUN_LABEL[mode] +
                             "</extra>"))
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", title="test accuracy")
    return _layout(fig, "Accuracy on test data: clean and attacked", "accuracy-bars", height=height,
                   barmode="group", hovermode="closest", bargap=0.3, narrow=True)


def _heatmap(z, x, y, coloraxis: str, what: str = "patch") -> go.Heatmap:
    return go.Heatmap(z=z, x=x, y=y, coloraxis=coloraxis,
                      hovertemplate=what + " %{y} · %{x}: %{z:.3f}<extra></extra>")


LABEL_EVERY = 5  # a plain patch row is named every 5 rows; a ★ row always, and no name crowds it


def patch_ticks(robust) -> tuple[list[int], list[str]]:
    """(tick values, tick texts) of a patch axis (patches numbered from 1): every robust ★ row is named,
    and every fifth row unless it sits within two rows of a ★ (their names would overlap)."""
    stars = [p + 1 for p in range(len(robust)) if robust[p]]
    plain = [n for n in range(1, len(robust) + 1) if (n == 1 or n % LABEL_EVERY == 0) and n not in stars
             and all(abs(n - s) > 2 for s in stars)]
    values = sorted(stars + plain)
    return values, [f"p{n} ★" if n in stars else f"p{n}" for n in values]


def _patch_axis(fig: go.Figure, robust, **where) -> None:
    values, texts = patch_ticks(robust)
    fig.update_yaxes(tickmode="array", tickvals=values, ticktext=texts, autorange="reversed",
                     tickfont=dict(size=10), **where)


def patches_figure(views: dict, labels: list[str]) -> go.Figure:
    """Clean patches, PGD perturbation and perturbed patches (patches x features) for each model.

    views: mode -> core.engine.look_inside.PatchView. Robust patches (J_R) are starred on the y axis, which the
    three panels of a row share (named once, on the left).
    """
    modes = [m for m in ("std", "adv") if m in views]
    titles = [name for _ in modes for name in ("clean patches", "PGD perturbation δ", "perturbed patches")]
    fig = make_subplots(rows=len(modes), cols=3, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.1, shared_yaxes=True)
    reach = reach_delta = 1e-9
    for row, mode in enumerate(modes, start=1):
        v = views[mode]
        y = list(range(1, len(v.robust) + 1))
        fig.add_trace(_heatmap(v.clean, labels, y, "coloraxis"), row=row, col=1)
        fig.add_trace(_heatmap(v.perturbation, labels, y, "coloraxis2"), row=row, col=2)
        fig.add_trace(_heatmap(v.perturbed, labels, y, "coloraxis"), row=row, col=3)
        verdict = "fooled" if v.pred_attacked != v.y else "not fooled"
        fig.update_yaxes(title=dict(text=f"<b>{RUN_LABEL[mode]} model</b> ({verdict})", font=dict(size=13)),
                         row=row, col=1)
        for col in (1, 2, 3):
            _patch_axis(fig, v.robust, row=row, col=col)
        reach = max(reach, abs(v.clean).max(), abs(v.perturbed).max())
        reach_delta = max(reach_delta, abs(v.perturbation).max())
    fig.update_xaxes(tickfont=dict(size=9), tickangle=0)
    fig.update_layout(
        coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                       colorbar=dict(title="patches", x=1.0, len=0.45, y=0.78)),
        coloraxis2=dict(colorscale="PuOr", cmid=0, cmin=-reach_delta, cmax=reach_delta,
                        colorbar=dict(title="δ (middle)", x=1.0, len=0.45, y=0.22)),
    )
    P = len(next(iter(views.values())).robust) if views else 10
    return _layout(fig, "One test example under PGD (★ = robust patch)", "patches",
                   height=max(420, len(modes) * (160 + 9 * P)), hovermode="closest", subplots=True, legend=False)


DECOMPOSITION_HELP = {
    "-v_y": "erase own non-robust feature",
    "+v_y": "strengthen own non-robust feature",
    "-u_y": "erase own robust feature",
    "+u_y": "strengthen own robust feature",
    "other u": "add other classes' robust features",
    "other v": "add other classes' non-robust features",
    "noise": "directions outside the 2k features",
}


def decomposition_figure(views: dict) -> go.Figure:
    """Where the PGD perturbation's energy goes, per model: shares of ||delta||^2 by feature group."""
    fig = go.Figure()
    for mode in ("std", "adv"):
        if mode not in views:
            continue
        parts = views[mode].decomposition
        names = [f"{key}: {DECOMPOSITION_HELP[key]}" for key in parts]
        fig.add_trace(go.Bar(y=names, x=list(parts.values()), name=RUN_LABEL[mode], orientation="h",
                             marker=dict(color=RUN_COLOR[mode], pattern_shape="/" if mode == "adv" else ""),
                             hovertemplate="%{x:.1%}<extra>" + RUN_LABEL[mode] +
                             "</extra>"))
    fig.update_xaxes(title="share of ‖δ‖²", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "What the attack does: the perturbation's energy by feature direction", "decomposition",
                   height=380, barmode="group", hovermode="closest")


def weights_figure(matrices: dict, labels: list[str], neurons: list[str], step: int) -> go.Figure:
    """Neurons x features heatmap of each model's weights at one logged step (the neuron axis is shared and
    named once, on the left)."""
    modes = [m for m in ("std", "adv") if m in matrices]
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=[f"{RUN_LABEL[m]} network" for m in modes],
                        horizontal_spacing=0.04, shared_yaxes=True)
    reach = max([abs(matrices[m][:, :-1]).max() for m in modes] + [1e-9])
    for col, mode in enumerate(modes, start=1):
        fig.add_trace(_heatmap(matrices[mode], labels, neurons, "coloraxis", "neuron"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9))
    fig.update_xaxes(tickfont=dict(size=9))
    fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                                     colorbar=dict(title="weight")))
    return _layout(fig, f"Inside the network at step {step}: each neuron's weights on the 2k features",
                   "weights", height=max(420, 140 + 11 * len(neurons)), hovermode="closest", subplots=True,
                   legend=False)


def dynamics_figure(theory: dict, *, raw: bool = True) -> go.Figure:
    """Reduced dynamics alone (Section 5): Lambda(t) and Gamma(t) of both trainings."""
    robust, nonrobust = ("lambda_robust", "gamma_nonrobust") if raw else ("corr_robust", "corr_nonrobust")
    fig = go.Figure()
    for mode, rows in theory.items():
        steps = [r["step"] for r in rows]
        for column, color, kind, name in (
                (robust, ROBUST, "robust", "Λ robust" if raw else "robust"),
                (nonrobust, NONROBUST, "non-robust", "Γ non-robust" if raw else "non-robust")):
            fig.add_trace(go.Scatter(x=steps, y=[r[column] for r in rows], mode="lines+markers",
                                     name=f"{name} · {RUN_LABEL[mode]}",
                                     line=dict(color=color, dash=RUN_DASH[mode], width=2.5),
                                     marker=_marker(FEATURE_MARKER[kind], color)))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="coefficient" if raw else "correlation")
    return _layout(fig, "Reduced dynamics (Lemmas 5.1, 5.2): one noiseless example per class, w_r = Λ u_r + Γ v_r",
                   "dynamics", height=420)


MINIMUM_STYLE = {"nonrobust": ("non-robust minimum c·v_r (Prop. 3.1)", NONROBUST, "x", "dash"),
                 "robust": ("robust minimum c·u_r (Prop. 3.2)", ROBUST, "circle", "solid")}


def minima_figure(rows: list[dict], chosen: float) -> go.Figure:
    """Constructed minima c·v_r and c·u_r: training loss against the scale c, and accuracies at the chosen c."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=("loss falls towards 0 as c grows: both are global minima",
                                        f"accuracy at c = {chosen:g}"))
    for kind, (name, color, marker, dash) in MINIMUM_STYLE.items():
        part = sorted((r for r in rows if r["minimum"] == kind), key=lambda r: r["scale"])
        fig.add_trace(go.Scatter(x=[r["scale"] for r in part], y=[max(r["loss"], 1e-12) for r in part],
                                 mode="lines+markers", name=name, legendgroup=kind, line=dict(color=color, dash=dash),
                                 marker=dict(symbol=marker, size=9, color=color)),
                      row=1, col=1)
        at = next((r for r in part if r["scale"] == chosen), None)
        if at is not None:
            fig.add_trace(go.Bar(x=["clean", "PGD", "swap (Thm 4.3)"], y=[at["acc_clean"], at["acc_pgd"],
                                 at["acc_swap"]], name=name, legendgroup=kind, showlegend=False,
                                 marker=dict(color=color, pattern_shape="/" if kind == "nonrobust" else ""),
                                 texttemplate="%{y:.0%}", textposition="outside"),
                          row=1, col=2)
    fig.add_vline(x=chosen, line=dict(color="#555", dash="dot"), row=1, col=1)
    fig.update_xaxes(type="log", dtick=1, title="scale c", row=1, col=1)
    fig.update_yaxes(type="log", dtick=2, exponentformat="power", title="loss", row=1, col=1)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="accuracy", row=1, col=2)
    return _layout(fig, "Two global minima: both fit the data, only the robust one survives the swap attack",
                   "minima", subplots=True, height=440, barmode="group", hovermode="closest")


OVERLAY_MARKERS = ("circle", "x", "square", "diamond", "triangle-up", "star", "cross", "triangle-down", "hexagon",
                   "pentagon")


def overlay_figure(frames: dict, metric: str) -> go.Figure:
    """One metric of several stored runs on one chart; frames: label -> DataFrame."""
    fig = go.Figure()
    colors = list(OKABE_ITO.values())
    for i, (label, frame) in enumerate(frames.items()):
        color, marker = colors[i % len(colors)], OVERLAY_MARKERS[i % len(OVERLAY_MARKERS)]
        fig.add_trace(go.Scatter(x=frame["step"], y=frame[metric], mode="lines+markers", name=label,
                                 line=dict(color=color, dash="dash" if "adv" in label else "solid"),
                                 marker=_marker(marker, color)))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title=metric)
    return _layout(fig, f"{metric} of the selected runs", "overlay", height=420)


def real_figures(frame: pd.DataFrame) -> tuple[go.Figure, go.Figure]:
    """Real images, per epoch: feature learning accuracy on the robust and the non-robust representative
    datasets, and clean / PGD test accuracy; standard training solid, adversarial dashed, as in the Lab.

    frame: step (epoch) and ``{mode}_{metric}`` columns, as core.runs.real_runs logs them."""
    feat, acc = go.Figure(), go.Figure()
    for mode in ("std", "adv"):
        for name, color, label in (("feat_acc_robust", ROBUST, "robust"), ("feat_acc_nonrobust", NONROBUST,
                                                                             "non-robust")):
            column = f"{mode}_{name}"
            if column in frame and frame[column].notna().any():
                feat.add_trace(go.Scatter(x=frame["step"], y=frame[column], mode="lines+markers",
                                          name=f"{label} dataset · {RUN_LABEL[mode]}",
                                          line=dict(color=color, dash=RUN_DASH[mode], width=2.5),
                                          marker=_marker(FEATURE_MARKER[label], color)))
        for name, (label, color, marker) in (("acc_clean", ACC_METRICS["acc_clean"]),
                                             ("acc_pgd", ACC_METRICS["acc_pgd"])):
            column = f"{mode}_{name}"
            if column in frame and frame[column].notna().any():
                acc.add_trace(go.Scatter(x=frame["step"], y=frame[column], mode="lines+markers",
                                         name=f"{label} · {RUN_LABEL[mode]}",
                                         line=dict(color=color, dash=RUN_DASH[mode], width=2),
                                         marker=_marker(marker, color)))
    for fig, title in ((feat, "Feature learning accuracy"), (acc, "Test accuracy: clean and PGD")):
        _layout(fig, title, "real", height=460, margin=dict(l=10, r=10, t=150, b=10))  # room for a 4-row legend
        fig.update_layout(xaxis_title="epoch", yaxis=dict(range=[0, 1.02], title="accuracy"))
    return feat, acc


def example_figure(panels: dict, robust, labels: list[str], title: str) -> go.Figure:
    """One example's patches (patches x features), one heatmap per panel, e.g. clean / swap δ / swapped.

    panels: title -> (P, 2k+1) array; robust: (P,) bools, starred on the shared y axis."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels), horizontal_spacing=0.03,
                        shared_yaxes=True)
    y = list(range(1, len(robust) + 1))
    reach = max([float(abs(z).max()) for z in panels.values()] + [1e-9])
    for col, z in enumerate(panels.values(), start=1):
        fig.add_trace(_heatmap(z, labels, y, "coloraxis"), row=1, col=col)
        _patch_axis(fig, robust, row=1, col=col)
    fig.update_xaxes(tickfont=dict(size=10), tickangle=0)
    fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                                     colorbar=dict(title="value")))
    return _layout(fig, title, "example", subplots=True, height=max(420, 120 + 9 * len(robust)),
                   hovermode="closest", legend=False)


def example_strip(patches, robust, labels: list[str], title: str, height: int = 200) -> go.Figure:
    """One example as a strip: patches along x (★ = robust), the feature directions along y; for the first
    screen, where a short wide picture fits beside the text."""
    fig = go.Figure(go.Heatmap(z=patches.T, x=list(range(1, len(robust) + 1)), y=labels, coloraxis="coloraxis",
                               hovertemplate="patch %{x} · %{y}: %{z:.2f}<extra></extra>"))
    values, texts = patch_ticks(robust)
    fig.update_xaxes(tickmode="array", tickvals=values, ticktext=texts, tickfont=dict(size=10), tickangle=0)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9), tickmode="array", tickvals=labels, ticktext=labels)
    reach = max(float(abs(patches).max()), 1e-9)
    fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                                     colorbar=dict(thickness=10, len=0.9)))
    return _layout(fig, title, "strip", height=height, hovermode="closest", legend=False,
                   margin=dict(l=10, r=10, b=10))


ARM_STYLE = (("solid", "circle", OKABE_ITO["blue"]), ("dash", "x", OKABE_ITO["vermillion"]),
             ("dot", "square", OKABE_ITO["black"]), ("dashdot", "diamond", OKABE_ITO["purple"]))


def arms_figure(arms: dict, metric: str, title: str) -> go.Figure:
    """One metric of several setups (arms) on one chart; arms: label -> DataFrame or list of them (seeds)."""
    fig = go.Figure()
    labels = []
    for i, (label, value) in enumerate(arms.items()):
        seeds = as_seeds(value)
        if not seeds:
            continue
        dash, marker, color = ARM_STYLE[i % len(ARM_STYLE)]
        end = _series(fig, seeds, metric, name=label, color=color, dash=dash, marker=marker)
        if end is not None:
            labels.append((*end, label, color))
    _end_labels(fig, labels, 1.0)
    fig.update_xaxes(title="training step", range=[0, _last_step(arms)])
    label = ACC_METRICS[metric][0] + " accuracy" if metric in ACC_METRICS else metric
    fig.update_yaxes(title=label, range=[-0.03, 1.08])
    return _layout(fig, title, f"arms-{metric}", height=420, margin=dict(l=10, r=150, t=100, b=10))
