"""The paper's one-step algorithm against 3-step PGD training over the patch dimension d (figure3 settings).

    PYTHONPATH=. python bench/d_sweep.py plan [--d 100 200 400] [--seeds 3] [--store dsweep.sqlite]
    PYTHONPATH=. python bench/d_sweep.py table RUNS... [--json table.json] [--figure docs/img/d_sweep.png]

``plan`` prints the sweep commands, one per d: each d gets its own length (``run_length``), which the
sweep's grid cannot zip with d, so every command sweeps the training attack at one d and all of them
write to one run store. ``table`` reads finished adversarial runs -- from run stores (``.sqlite``, as
the sweep commands write them) or from ``python -m core run --json`` files -- and gives, per d and
training attack, each seed's PGD-10 accuracy at its peak and at the end, the phase transition step and
when the switch completes, as a Markdown table; ``--figure`` draws PGD-10 accuracy over training.

Measures of the switch (the adversarial run's corr_robust against corr_nonrobust, logged steps only):
- ``transition``: core.engine.metrics.phase_transition_step, the first step where corr_robust
  overtakes corr_nonrobust after being behind (None when it leads from the start or never overtakes);
- ``ahead``: the first step from which corr_robust stays ahead to the end (None when it ends behind):
  the transition can cross back and forth first;
- ``swap``: the first step from which the Theorem 4.3 swap accuracy stays >= 0.9 (the switch done).
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.metrics import phase_transition_step  # noqa: E402

ATTACKS = ("one_step", "pgd")
SWAP_DONE = 0.9


def run_length(d: int) -> tuple[int, int]:
    """(steps, eval_every) of a d-sweep run: 20 d steps, logged every d / 5 (100 logged steps).

    From the seed-0 pilots (docs/d-sweep.md): the one-step runs' corr_robust led for good by about
    10 d steps (3-step PGD training switched far sooner); twice that leaves as long again after the
    switch to see whether PGD accuracy holds or decays."""
    return 20 * d, max(1, d // 5)


def init_std(d: int) -> float:
    """sigma_0 = 2 / sqrt(d): figure3's 0.2 at d = 100 (twice Xavier's 1/sqrt(d)), kept in proportion,
    so the initial weights keep their size against the features'."""
    return round(2 / math.sqrt(d), 6)


def commands(ds, seeds: int, store: str, preset: str = "figure3") -> list[str]:
    out = []
    for d in ds:
        steps, every = run_length(d)
        out.append(f"python -m core sweep --preset {preset} --mode adv --grid train_attack=one_step,pgd "
                   f"--set d={d} --set sigma_0={init_std(d):g} --set steps={steps} --set eval_every={every} "
                   f"--seeds {seeds} --store {store} --csv d_sweep_d{d}.csv")
    return out


# ---- reading runs ----


def _from_json(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    run = data["runs"].get("adv")
    if run is None or run["status"] != "finished":
        return []
    return [{"config": data["config"], "history": run["history"], "seconds": run["train_seconds"] + run["eval_seconds"],
             "source": path.name}]


def _from_store(path: Path) -> list[dict]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        runs = con.execute("SELECT id, config_json, started, finished FROM runs WHERE mode='adv' "
                           "AND status='finished'").fetchall()
        out = []
        for run_id, config, started, finished in runs:
            rows: dict[int, dict] = {}
            for step, name, value in con.execute("SELECT step, name, value FROM metrics WHERE run_id=?", (run_id,)):
                rows.setdefault(step, {"step": step})[name] = math.nan if value is None else value
            seconds = (finished - started) if started and finished else math.nan
            out.append({"config": json.loads(config), "history": [rows[s] for s in sorted(rows)], "seconds": seconds,
                        "source": f"{path.name}:{run_id}"})
        return out
    finally:
        con.close()


def load_runs(paths) -> list[dict]:
    runs = []
    for path in map(Path, paths):
        runs += _from_store(path) if path.suffix in (".sqlite", ".db") else _from_json(path)
    return runs


# ---- one run's numbers ----


def _first_for_good(history, holds) -> int | None:
    """The first logged step from which holds(row) is true to the end."""
    since = None
    for row in history:
        if holds(row):
            since = row["step"] if since is None else since
        else:
            since = None
    return since


def summarise(run: dict) -> dict:
    history, cfg = run["history"], run["config"]
    peak = max(history, key=lambda row: row["acc_pgd"])
    return {
        "d": cfg["d"], "sigma_0": cfg["sigma_0"], "train_attack": cfg["train_attack"], "seed": cfg["seed"],
        "steps": cfg["steps"],
        "peak_pgd": peak["acc_pgd"], "peak_step": peak["step"], "final_pgd": history[-1]["acc_pgd"],
        "transition": phase_transition_step(history),
        "ahead": _first_for_good(history, lambda row: row["corr_robust"] > row["corr_nonrobust"]),
        "swap": _first_for_good(history, lambda row: row["acc_swap"] >= SWAP_DONE),
        "final_swap": history[-1]["acc_swap"], "seconds": run["seconds"], "source": run["source"],
    }


# ---- the table and the figure ----


def _cell(values, fmt) -> str:
    shown = " / ".join("none" if v is None else format(v, fmt) for v in values)
    numbers = [v for v in values if v is not None]
    if len(values) > 1 and len(numbers) == len(values):
        shown += f" (mean {format(statistics.fmean(numbers), fmt)})"
    return shown


def table(summaries: list[dict]) -> str:
    """Markdown: one row per (d, training attack), each cell the seeds' values in seed order."""
    lines = ["| d | σ₀ | training attack | steps | seeds | PGD-10 peak (at step) | PGD-10 final | transition | "
             "corr_robust ahead from | swap >= 0.9 from | minutes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["d"], s["sigma_0"], s["train_attack"], s["steps"]), []).append(s)
    for (d, sigma_0, attack, steps), group in sorted(groups.items()):
        group.sort(key=lambda s: s["seed"])
        peaks = " / ".join(f"{s['peak_pgd']:.2f} ({s['peak_step']})" for s in group)
        cells = [_cell([s["final_pgd"] for s in group], ".2f"),
                 *(_cell([s[name] for s in group], "d") for name in ("transition", "ahead", "swap")),
                 _cell([s["seconds"] / 60 for s in group], ".1f")]
        seeds = ", ".join(str(s["seed"]) for s in group)
        lines.append(f"| {d} | {sigma_0:g} | {attack} | {steps} | {seeds} | {peaks} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(runs: list[dict]):
    """PGD-10 accuracy over training, one panel per training attack, one line per run (colour: d). The
    step is shown over d, the unit of the length rule: runs whose switch scales with d line up."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ds = sorted({run["config"]["d"] for run in runs})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=(
        "one-step training (the paper's algorithm)", "3-step PGD training"))
    shown = set()
    for run in sorted(runs, key=lambda r: (r["config"]["d"], r["config"]["seed"])):
        cfg, history = run["config"], run["history"]
        d = cfg["d"]
        col = 1 if cfg["train_attack"] == "one_step" else 2
        fig.add_trace(go.Scatter(x=[row["step"] / d for row in history], y=[row["acc_pgd"] for row in history],
                                 mode="lines", name=f"d = {d}", legendgroup=str(d), showlegend=d not in shown,
                                 line={"color": palette[ds.index(d) % len(palette)], "width": 1.5}), row=1, col=col)
        shown.add(d)
    fig.update_xaxes(title_text="training step / d")
    fig.update_yaxes(title_text="PGD-10 test accuracy", range=[0, 1], row=1, col=1)
    fig.update_layout(template="plotly_white", margin={"t": 40, "l": 60, "r": 20, "b": 50})
    return fig


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the sweep commands, one per d")
    plan.add_argument("--d", type=int, nargs="+", default=[100, 200, 400])
    plan.add_argument("--seeds", type=int, default=3)
    plan.add_argument("--store", default="d_sweep.sqlite")
    tab = sub.add_parser("table", help="the table (and figure) of finished adversarial runs")
    tab.add_argument("runs", nargs="+", help="run stores (.sqlite) or `python -m core run --json` files")
    tab.add_argument("--json", help="also write each run's numbers here")
    tab.add_argument("--figure", help="a PNG (rendered with chromium) or an HTML file")
    args = ap.parse_args()
    if args.command == "plan":
        print("\n".join(commands(args.d, args.seeds, args.store)))
        return 0
    runs = load_runs(args.runs)
    if not runs:
        print("no finished adversarial runs in the given files", file=sys.stderr)
        return 1
    summaries = [summarise(run) for run in runs]
    print(table(summaries))
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=1))
    if args.figure:
        fig, target = figure(runs), Path(args.figure)
        if target.suffix == ".html":
            target.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
        else:
            from render_png import render  # bench/: plotly to PNG through chromium

            written = render({"pgd": fig}, target.parent, "_tmp", width=1000, height=420)[0]
            written.replace(target)
        print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
