"""Plotly figures of the dashboard, one builder per chart; no UI code.

Conventions shared by every chart, so that a reader learns them once:
robust feature = green, non-robust = red; standard training = solid line, adversarial =
dashed; the reduced-dynamics theory = dotted. Every figure has a title saying what it shows
and a constant ``uirevision``, so a chart redrawn each second keeps the user's zoom.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROBUST, NONROBUST = "#1a9850", "#d73027"
RUN_LABEL = {"std": "standard", "adv": "adversarial"}
RUN_DASH = {"std": "solid", "adv": "dash"}
RUN_COLOR = {"std": "#4575b4", "adv": "#f46d43"}
ACC_METRICS = {
    "acc_clean": ("clean", "#4575b4"),
    "acc_pgd": ("PGD", "#762a83"),
    "acc_swap": ("swap (Thm 4.3)", "#fdae61"),
    "acc_robust_feature": ("robust feature only", ROBUST),
    "acc_nonrobust_feature": ("non-robust feature only", NONROBUST),
}
_BASE = dict(template="plotly_white", hovermode="x unified")


def _layout(fig: go.Figure, title: str, revision: str, *, subplots: bool = False, **extra) -> go.Figure:
    """Shared look: title, then the legend in a row under it (above any subplot titles), zoom kept on redraw.

    The legend goes on top because below the plot it collides with the axis title once it wraps.
    """
    legend = dict(orientation="h", yanchor="bottom", y=1.12 if subplots else 1.02, x=0)
    fig.update_layout(**{**_BASE, "legend": legend, "margin": dict(l=10, r=10, t=130 if subplots else 100, b=10),
                         **extra},
                      title=dict(text=title, x=0.01, y=0.98, yanchor="top", yref="container"), uirevision=revision)
    return fig


def correlation_figure(frames: dict, *, raw: bool = False, phase_steps: dict | None = None,
                       theory: dict | None = None) -> go.Figure:
    """Weight-feature correlations of both runs; the phase transition as a vertical line.

    frames: mode -> DataFrame with step and the SPEC 1.6 columns; theory: mode -> rows of
    core.engine.theory.reduced_dynamics, drawn dotted.
    """
    robust, nonrobust = ("lambda_robust", "gamma_nonrobust") if raw else ("corr_robust", "corr_nonrobust")
    fig = go.Figure()
    for mode, frame in frames.items():
        if frame is None or frame.empty:
            continue
        for column, color, name in ((robust, ROBUST, "robust"), (nonrobust, NONROBUST, "non-robust")):
            fig.add_trace(go.Scatter(x=frame["step"], y=frame[column], mode="lines", name=f"{name} · {RUN_LABEL[mode]}",
                                     line=dict(color=color, dash=RUN_DASH[mode], width=2.5)))
    for mode, rows in (theory or {}).items():
        steps = [r["step"] for r in rows]
        for column, color, name in ((robust, ROBUST, "robust"), (nonrobust, NONROBUST, "non-robust")):
            fig.add_trace(go.Scatter(x=steps, y=[r[column] for r in rows], mode="lines", opacity=0.7,
                                     name=f"theory {name} · {RUN_LABEL[mode]}",
                                     line=dict(color=color, dash="dot" if mode == "std" else "dashdot", width=1.5)))
    for mode, step in (phase_steps or {}).items():
        if step is not None:
            fig.add_vline(x=step, line=dict(color="#555", dash="dot", width=1.5),
                          annotation_text=f"phase transition ({RUN_LABEL[mode]}) at step {step}",
                          annotation_position="top right")
    last = max([int(f["step"].max()) for f in frames.values() if f is not None and not f.empty] + [1])
    fig.update_xaxes(range=[0, last])  # the phase-transition label would otherwise widen the autorange
    what = "raw coefficients Λ = max⟨w, u_r⟩, Γ = max⟨w, v_r⟩" if raw else "normalised ⟨w, feature⟩ / ‖w‖"
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="Λ, Γ" if raw else "correlation", **({} if raw else dict(range=[-0.05, 1.05])))
    return _layout(fig, f"Which features the neurons learn: {what}", "correlations", height=420)


def accuracy_figure(frames: dict) -> go.Figure:
    """Test accuracies of each run side by side, and both runs' training loss."""
    fig = make_subplots(rows=1, cols=3, column_widths=[0.38, 0.38, 0.24], horizontal_spacing=0.06,
                        subplot_titles=("standard training: accuracies", "adversarial training: accuracies",
                                        "training loss (log scale)"))
    for col, mode in enumerate(("std", "adv"), start=1):
        frame = frames.get(mode)
        if frame is None or frame.empty:
            continue
        for metric, (name, color) in ACC_METRICS.items():
            fig.add_trace(go.Scatter(x=frame["step"], y=frame[metric], mode="lines", name=name, legendgroup=metric,
                                     showlegend=col == 1, line=dict(color=color, dash=RUN_DASH[mode], width=2)),
                          row=1, col=col)
        fig.add_trace(go.Scatter(x=frame["step"], y=frame["loss"], mode="lines", name=f"loss · {RUN_LABEL[mode]}",
                                 line=dict(color=RUN_COLOR[mode], dash=RUN_DASH[mode], width=2)), row=1, col=3)
    fig.update_yaxes(range=[-0.03, 1.03], row=1, col=1)
    fig.update_yaxes(range=[-0.03, 1.03], row=1, col=2)
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=3)  # decades only
    last = max([int(f["step"].max()) for f in frames.values() if f is not None and not f.empty] + [1])
    fig.update_xaxes(title="training step", matches="x", range=[0, last])  # one time axis for all three
    return _layout(fig, "What each model gets right: clean, attacked and feature-only test accuracy",
                   "accuracies", subplots=True, height=440)


def _heatmap(z, x, y, coloraxis: str) -> go.Heatmap:
    return go.Heatmap(z=z, x=x, y=y, coloraxis=coloraxis, hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>")


def patches_figure(views: dict, labels: list[str]) -> go.Figure:
    """Clean patches, PGD perturbation and perturbed patches (patches x features) for each model.

    views: mode -> core.engine.inspect.PatchView. Robust patches (J_R) are starred on the y axis.
    """
    modes = [m for m in ("std", "adv") if m in views]
    titles = [name for _ in modes for name in ("clean patches", "PGD perturbation δ", "perturbed patches")]
    fig = make_subplots(rows=len(modes), cols=3, subplot_titles=titles, horizontal_spacing=0.04,
                        vertical_spacing=0.1)
    reach = reach_delta = 1e-9
    for row, mode in enumerate(modes, start=1):
        v = views[mode]
        y = [f"p{p + 1}{' ★' if v.robust[p] else ''}" for p in range(len(v.robust))]
        fig.add_trace(_heatmap(v.clean, labels, y, "coloraxis"), row=row, col=1)
        fig.add_trace(_heatmap(v.perturbation, labels, y, "coloraxis2"), row=row, col=2)
        fig.add_trace(_heatmap(v.perturbed, labels, y, "coloraxis"), row=row, col=3)
        verdict = "fooled" if v.pred_attacked != v.y else "not fooled"
        fig.update_yaxes(title=dict(text=f"<b>{RUN_LABEL[mode]} model</b> ({verdict})", font=dict(size=13)),
                         row=row, col=1)
        reach = max(reach, abs(v.clean).max(), abs(v.perturbed).max())
        reach_delta = max(reach_delta, abs(v.perturbation).max())
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9))
    fig.update_xaxes(tickfont=dict(size=9), tickangle=0)
    fig.update_layout(
        coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                       colorbar=dict(title="patches", x=1.0, len=0.45, y=0.78)),
        coloraxis2=dict(colorscale="PuOr", cmid=0, cmin=-reach_delta, cmax=reach_delta,
                        colorbar=dict(title="δ (middle)", x=1.0, len=0.45, y=0.22)),
    )
    P = len(next(iter(views.values())).robust) if views else 10
    return _layout(fig, "One test example under PGD: patches projected on u₁..u_k, v₁..v_k and the rest (★ = robust "
                   "patch)", "patches", height=max(420, len(modes) * (160 + 9 * P)), hovermode="closest")


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
                             marker_color=RUN_COLOR[mode], hovertemplate="%{x:.1%}<extra>" + RUN_LABEL[mode] +
                             "</extra>"))
    fig.update_xaxes(title="share of ‖δ‖²", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "What the attack does: the perturbation's energy by feature direction", "decomposition",
                   height=380, barmode="group", hovermode="closest")


def weights_figure(matrices: dict, labels: list[str], neurons: list[str], step: int) -> go.Figure:
    """Neurons x features heatmap of each model's weights at one logged step."""
    modes = [m for m in ("std", "adv") if m in matrices]
    fig = make_subplots(rows=1, cols=len(modes), subplot_titles=[f"{RUN_LABEL[m]} network" for m in modes],
                        horizontal_spacing=0.08)
    reach = max([abs(matrices[m][:, :-1]).max() for m in modes] + [1e-9])
    for col, mode in enumerate(modes, start=1):
        fig.add_trace(_heatmap(matrices[mode], labels, neurons, "coloraxis"), row=1, col=col)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=9))
    fig.update_xaxes(tickfont=dict(size=9))
    fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0, cmin=-reach, cmax=reach,
                                     colorbar=dict(title="weight")))
    return _layout(fig, f"Inside the network at step {step}: each neuron's weights on the 2k features",
                   "weights", height=max(420, 140 + 11 * len(neurons)),
                   hovermode="closest")


def dynamics_figure(theory: dict, *, raw: bool = True) -> go.Figure:
    """Reduced dynamics alone (Section 5): Lambda(t) and Gamma(t) of both trainings."""
    robust, nonrobust = ("lambda_robust", "gamma_nonrobust") if raw else ("corr_robust", "corr_nonrobust")
    fig = go.Figure()
    for mode, rows in theory.items():
        steps = [r["step"] for r in rows]
        for column, color, name in ((robust, ROBUST, "Λ robust" if raw else "robust"),
                                    (nonrobust, NONROBUST, "Γ non-robust" if raw else "non-robust")):
            fig.add_trace(go.Scatter(x=steps, y=[r[column] for r in rows], mode="lines",
                                     name=f"{name} · {RUN_LABEL[mode]}",
                                     line=dict(color=color, dash=RUN_DASH[mode], width=2.5)))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="coefficient" if raw else "correlation")
    return _layout(fig, "Reduced dynamics (Lemmas 5.1, 5.2): one noiseless example per class, w_r = Λ u_r + Γ v_r",
                   "dynamics", height=420)


MINIMUM_STYLE = {"nonrobust": ("non-robust minimum c·v_r (Prop. 3.1)", NONROBUST),
                 "robust": ("robust minimum c·u_r (Prop. 3.2)", ROBUST)}


def minima_figure(rows: list[dict], chosen: float) -> go.Figure:
    """Constructed minima c·v_r and c·u_r: training loss against the scale c, and accuracies at the chosen c."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=("loss falls towards 0 as c grows: both are global minima",
                                        f"accuracy at c = {chosen:g}"))
    for kind, (name, color) in MINIMUM_STYLE.items():
        part = sorted((r for r in rows if r["minimum"] == kind), key=lambda r: r["scale"])
        fig.add_trace(go.Scatter(x=[r["scale"] for r in part], y=[max(r["loss"], 1e-12) for r in part],
                                 mode="lines+markers", name=name, legendgroup=kind, line=dict(color=color)),
                      row=1, col=1)
        at = next((r for r in part if r["scale"] == chosen), None)
        if at is not None:
            fig.add_trace(go.Bar(x=["clean", "PGD", "swap (Thm 4.3)"], y=[at["acc_clean"], at["acc_pgd"],
                                 at["acc_swap"]], name=name, legendgroup=kind, showlegend=False,
                                 marker_color=color, texttemplate="%{y:.0%}", textposition="outside"),
                          row=1, col=2)
    fig.add_vline(x=chosen, line=dict(color="#555", dash="dot"), row=1, col=1)
    fig.update_xaxes(type="log", dtick=1, title="scale c", row=1, col=1)
    fig.update_yaxes(type="log", dtick=2, exponentformat="power", title="loss", row=1, col=1)
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%", title="accuracy", row=1, col=2)
    return _layout(fig, "Two global minima: both fit the data, only the robust one survives the swap attack",
                   "minima", subplots=True, height=440, barmode="group", hovermode="closest")


def overlay_figure(frames: dict, metric: str) -> go.Figure:
    """One metric of several stored runs on one chart; frames: label -> DataFrame."""
    fig = go.Figure()
    for label, frame in frames.items():
        fig.add_trace(go.Scatter(x=frame["step"], y=frame[metric], mode="lines", name=label))
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title=metric)
    return _layout(fig, f"{metric} of the selected runs", "overlay", height=420)
