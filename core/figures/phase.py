"""Phase diagrams from a sweep table: plotly heatmaps with the theory's boundaries on top.

A two-field sweep becomes one heatmap per (quantity, mode), averaged over seeds. Drawn over it:
* the density race of Lemma 5.1, S_NR / S_R = 1 (``core.engine.assumptions.density_ratio``): on one
  side standard training should learn the dense non-robust features, on the other the
  robust ones;
* for adversarial panels, the same race with both features weakened by eps (a heuristic, not
  a theorem);
* where the Theorem 4.3 swap just fits in the eps-ball (``core.engine.assumptions.swap_norm`` = eps;
  for patch_l2, eps = sqrt(2) beta).
The curves are contours of those functions over the swept plane, so they work for any two
swept fields (s, P, alpha, beta, eps, q, ...). Used by the dashboard's Sweep page and by
``python -m core.figures.phase`` to render docs/img/.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go

from ..engine.assumptions import density_ratio, swap_norm
from ..engine.config import Config
from .charts import RUN_DASH, RUN_MARKER

QUANTITIES = {
    "corr_gap": "corr_robust - corr_nonrobust",
    "acc_pgd": "PGD accuracy",
    "acc_swap": "swap accuracy",
    "acc_clean": "clean accuracy",
}
_RANGE = {"corr_gap": (-1.0, 1.0)}  # the gap's sign is the point: centre its colour scale on 0


def phase_table(frame, x: str, y: str, quantity: str, mode: str):
    """Seed-averaged quantity on the (x, y) grid: (xs, ys, Z with Z[j, i] at (xs[i], ys[j]))."""
    rows = frame[(frame["mode"] == mode) & (frame["status"] == "finished")].copy()
    if quantity == "corr_gap":
        rows["corr_gap"] = rows["corr_robust"] - rows["corr_nonrobust"]
    table = rows.groupby([y, x])[quantity].mean().unstack(x)
    xs, ys = sorted(frame[x].unique()), sorted(frame[y].unique())
    table = table.reindex(index=ys, columns=xs)
    return xs, ys, table.to_numpy(dtype=float)


def _theory_plane(base: Config, x: str, y: str, xs: tuple, ys: tuple, fn, n: int = 31):
    """fn(config-like) on a fine grid over the swept cells, in cell coordinates: cell i sits at i, and between
    two cells a field's value runs linearly from one to the next, so a curve crosses the cells where its
    values lie even when the grid is uneven (s = 1,2,3,4,6,8,12)."""
    gx = np.linspace(0, len(xs) - 1, n) if len(xs) > 1 else np.array([-0.5, 0.5])
    gy = np.linspace(0, len(ys) - 1, n) if len(ys) > 1 else np.array([-0.5, 0.5])
    vx = np.interp(gx, range(len(xs)), xs)
    vy = np.interp(gy, range(len(ys)), ys)
    fields = base.to_dict()  # once: a deep copy per grid point was 2.2 s of every phase_figures call
    values = np.empty((len(gy), len(gx)))
    for j, value_y in enumerate(vy):
        for i, value_x in enumerate(vx):
            values[j, i] = fn(SimpleNamespace(**{**fields, x: value_x, y: value_y}))
    return gx, gy, values.round(4)  # 4 digits draw the same line and keep the HTML small


# The theory's boundary lines: (name, colour, dash). The Sweep page's caption is made from the same
# tuples, so it names each line by the look it has.
DENSITY_LINE = ("S_NR/S_R = 1 (Lemma 5.1)", "black", "solid")
ADVERSARIAL_LINE = ("(P-s)(beta-eps)^q = s(alpha-eps)^q (heuristic)", "grey", "dot")
SWAP_LINE = ("swap size = eps (sqrt(2) beta = eps)", "magenta", "dash")
DASH_WORD = {"solid": "solid", "dot": "dotted", "dash": "dashed"}


def boundaries_caption() -> str:
    """One sentence naming each theory line on the heatmaps by its colour and dash."""
    lines = [("the density race S_NR/S_R = 1 (Lemma 5.1)", DENSITY_LINE),
             ("for adversarial training, the same race with both features weakened by ε (a heuristic)",
              ADVERSARIAL_LINE),
             ("where the swap attack just fits in the ε-ball", SWAP_LINE)]
    parts = [f"{DASH_WORD[style[2]]} {style[1]}: {what}" for what, style in lines]
    return "Lines are the theory's boundaries — " + "; ".join(parts) + "."


def _curve(gx, gy, values, name: str, color: str, dash: str) -> go.Contour:
    """The zero level of `values` as a line trace with a legend entry."""
    return go.Contour(x=gx, y=gy, z=values, name=name, showlegend=True, showscale=False, hoverinfo="skip",
                      contours=dict(start=0, end=0, size=1, coloring="lines"),
                      colorscale=[[0, color], [1, color]], line=dict(width=3, dash=dash))


# The curves depend on the base config, the two fields, their values and the mode, not on the runs: the
# Sweep page redraws its panels as a sweep's rows come in, and each panel of a mode has the same.
@functools.lru_cache(maxsize=64)
def _theory_lines(base: Config, x: str, y: str, xs: tuple, ys: tuple, mode: str) -> tuple:
    """(gx, gy, values, name, color, dash) of each curve."""
    def log_ratio(eps):
        def fn(c):
            ratio = density_ratio(c, c.eps if eps is None else eps)
            return math.log(ratio) if 0 < ratio < math.inf else (50.0 if ratio == math.inf else -50.0)
        return fn

    def plane(fn):
        return _theory_plane(base, x, y, xs, ys, fn)

    lines = [(*plane(log_ratio(0.0)), *DENSITY_LINE)]
    if mode == "adv" and base.threat_model in ("patch_l2", "linf"):
        lines.append((*plane(log_ratio(None)), *ADVERSARIAL_LINE))
    lines.append((*plane(lambda c: swap_norm(c) - c.eps), *SWAP_LINE))
    return tuple(lines)


def theory_curves(base: Config, x: str, y: str, xs, ys, mode: str) -> list[go.Contour]:
    """Density ratio = 1 (and, for adversarial training, the eps-weakened race) and swap = eps, in cell
    coordinates (see _theory_plane)."""
    return [_curve(*line) for line in _theory_lines(base, x, y, tuple(float(v) for v in xs),
                                                    tuple(float(v) for v in ys), mode)]


def _ticks(values) -> dict:
    return dict(tickmode="array", tickvals=list(range(len(values))), ticktext=[f"{v:g}" for v in values])


def phase_figure(frame, base: Config, x: str, y: str, quantity: str, mode: str) -> go.Figure:
    """One heatmap of equal cells, one per grid point (an uneven grid is not stretched), labelled with the
    swept values; hovering and clicking a cell give its values (``cell_values``)."""
    xs, ys, Z = phase_table(frame, x, y, quantity, mode)
    low, high = _RANGE.get(quantity, (0.0, 1.0))
    label = QUANTITIES.get(quantity, quantity)
    cells = [[[vx, vy] for vx in xs] for vy in ys]
    fig = go.Figure(go.Heatmap(x=list(range(len(xs))), y=list(range(len(ys))), z=Z, zmin=low, zmax=high,
                               colorscale="RdBu", colorbar=dict(title=""), customdata=cells,
                               hovertemplate=f"{x}=%{{customdata[0]}}<br>{y}=%{{customdata[1]}}<br>"
                               f"{label}=%{{z:.3f}}<extra></extra>"))
    for curve in theory_curves(base, x, y, xs, ys, mode):
        fig.add_trace(curve)
    seeds = frame["seed"].nunique()
    fig.update_layout(
        title=f"{label}, {'standard' if mode == 'std' else 'adversarial'} training (mean of {seeds} seed(s))",
        xaxis_title=x, yaxis_title=y, legend=dict(orientation="h", y=-0.18), margin=dict(t=50, b=90),
    )
    fig.update_xaxes(range=[-0.5, len(xs) - 0.5], **_ticks(xs))
    fig.update_yaxes(range=[-0.5, len(ys) - 0.5], **_ticks(ys))
    return fig


def cell_values(point: dict) -> tuple:
    """The swept values (x, y) of a clicked heatmap cell, from a Plotly selection point."""
    data = point.get("customdata")
    if isinstance(data, list | tuple) and len(data) == 2:
        return data[0], data[1]
    return point["x"], point["y"]


def line_figure(frame, x: str, quantity: str) -> go.Figure:
    """One-field sweeps: the quantity against x, one line per mode, seed mean with min-max band."""
    fig = go.Figure()
    rows = frame[frame["status"] == "finished"].copy()
    rows["corr_gap"] = rows["corr_robust"] - rows["corr_nonrobust"]
    for mode, group in rows.groupby("mode"):
        stats = group.groupby(x)[quantity].agg(["mean", "min", "max"]).reset_index()
        fig.add_trace(go.Scatter(x=stats[x], y=stats["mean"], name=mode, mode="lines+markers",  # std vs adv: not by hue
                                 line=dict(dash=RUN_DASH.get(mode, "solid")), marker=dict(symbol=RUN_MARKER.get(mode)),
                                 error_y=dict(type="data", symmetric=False, array=stats["max"] - stats["mean"],
                                              arrayminus=stats["mean"] - stats["min"])))
    fig.update_layout(xaxis_title=x, yaxis_title=QUANTITIES.get(quantity, quantity))
    return fig


def phase_figures(frame, base: Config, fields: tuple[str, ...]) -> dict[str, go.Figure]:
    """Every panel of a sweep: '{quantity}_{mode}' heatmaps for two fields, '{quantity}' lines for one."""
    modes = [m for m in ("std", "adv") if m in set(frame["mode"])]
    if len(fields) == 1:
        return {q: line_figure(frame, fields[0], q) for q in QUANTITIES}
    x, y = fields
    return {f"{q}_{m}": phase_figure(frame, base, x, y, q, m) for q in QUANTITIES for m in modes}


def main(argv=None) -> int:
    """Render a sweep CSV's phase diagrams: HTML always, PNG too when plotly can export (kaleido)."""
    import argparse
    from pathlib import Path

    import pandas as pd

    from ..engine.presets import get_preset

    p = argparse.ArgumentParser(prog="python -m core.figures.phase")
    p.add_argument("csv")
    p.add_argument("--preset", default="classroom")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE")
    p.add_argument("--x", required=True)
    p.add_argument("--y")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--prefix", default="phase")
    args = p.parse_args(argv)
    base = get_preset(args.preset).config().with_overrides(list(args.set or []))
    frame = pd.read_csv(args.csv)
    figures = phase_figures(frame, base, (args.x, args.y) if args.y else (args.x,))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{args.prefix}.html"
    parts = [fig.to_html(full_html=False, include_plotlyjs="cdn" if i == 0 else False)
             for i, fig in enumerate(figures.values())]
    page.write_text("<html><head><meta charset='utf-8'></head><body>" + "\n".join(parts) + "</body></html>")
    print(f"wrote {page}")
    for name, fig in figures.items():
        try:
            fig.write_image(out / f"{args.prefix}_{name}.png", width=700, height=560)
        except Exception as err:  # no kaleido/Chrome here: the HTML is the figure
            print(f"no PNG ({type(err).__name__}: {str(err).splitlines()[0]}); open {page} instead")
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
