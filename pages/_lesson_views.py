"""The Lesson's charts after a reveal: the Lab's own builders with the seeds as bands, and the chapters' special
views (one example's patches, the swap on one example, the spray in the patch view, real digits)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.engine.config import Config
from core.figures.charts import (
    accuracy_figure,
    arms_figure,
    correlation_figure,
    example_figure,
    example_strip,
    for_projector,
    real_figures,
)
from core.lesson import Chapter
from pages._common import presentation, run_store
from pages._live import median_phase

CHART_CONFIG = {"displaylogo": False}


def show(fig: go.Figure, key: str) -> None:
    """A chart, with projector-sized type in presentation mode."""
    if presentation():
        for_projector(fig)
    st.plotly_chart(fig, key=key, config=CHART_CONFIG)


@st.cache_data(show_spinner=False, max_entries=8)
def example_data(config_json: str, swap: bool) -> tuple[dict, list[bool], int]:
    """Test example 0 of the config's test set: its patches on u, v and the rest, and with the swap applied."""
    import torch

    from core.engine.attacks import swap_perturbation
    from core.engine.look_inside import project_patches, run_test_set

    cfg = Config.from_dict(json.loads(config_json))
    data = run_test_set(cfg.replace(n_test=min(cfg.n_test, 8)))
    X = data.X[0]
    panels = {"clean patches": project_patches(X, cfg.k)}
    if swap:
        delta = swap_perturbation(data, torch.Generator().manual_seed(cfg.seed))[0]
        panels["swap δ (Theorem 4.3)"] = project_patches(delta, cfg.k)
        panels["swapped patches"] = project_patches(X + delta, cfg.k)
    return panels, data.robust[0].tolist(), int(data.y[0])


@st.cache_data(show_spinner=False, max_entries=32)
def data_strip(config_json: str, height: int = 210) -> go.Figure:
    """One example as a strip of patches (★ = robust): the first screen's and the Lesson's opening picture."""
    from core.engine.look_inside import feature_labels

    cfg = Config.from_dict(json.loads(config_json))
    panels, robust, y = example_data(config_json, False)
    r = sum(robust)
    title = (f"One example (class {y + 1}): {r} ★ patch{'es' if r > 1 else ''} with u{y + 1}, "
             f"{len(robust) - r} with v{y + 1}")
    return example_strip(panels["clean patches"], robust, feature_labels(cfg.k), title, height=height)


def example_view(cfg: Config, *, swap: bool) -> None:
    from core.engine.look_inside import feature_labels

    panels, robust, y = example_data(json.dumps(cfg.to_dict(), sort_keys=True), swap)
    r = sum(robust)
    if swap:
        text = (f"One test example of class {y + 1}. The swap moves every one of its {len(robust) - r} dense patches "
                f"from v{y + 1} to another class's v (by √2·β ≈ {2 ** 0.5 * cfg.beta:.2f} each, within ε = "
                f"{cfg.eps:g}); the ★ robust patch keeps u{y + 1}.")
    else:
        text = (f"One example of class {y + 1}: {r} ★ patch(es) of {len(robust)} carry the robust feature u{y + 1} "
                f"at α = {cfg.alpha:g}; the other {len(robust) - r} carry the non-robust v{y + 1} at β = {cfg.beta:g}. "
                f"Columns: u₁..u_k, v₁..v_k and the size of the noise (rest).")
    st.markdown(text)
    title = "The swap on one example" if swap else "One example's patches projected on u₁..u_k, v₁..v_k"
    show(example_figure(panels, robust, feature_labels(cfg.k), title), "lesson_example_chart")


def frames_by_arm(ids: dict) -> dict:
    """arm -> mode -> [metric frame per seed], seeds in order."""
    store = run_store()
    out: dict = {}
    for (arm, _seed, mode), run_id in sorted(ids.items(), key=lambda item: (item[0][0], item[0][1], item[0][2])):
        frame = store.metrics_frame(run_id)
        if not frame.empty:
            out.setdefault(arm, {}).setdefault(mode, []).append(frame)
    return out


def spray_view(chapter: Chapter, ids: dict) -> None:
    """Chapter 7: the one-step-trained network at its last snapshot under PGD: the perturbation is dense."""
    from core.engine.look_inside import feature_labels
    from core.figures.charts import decomposition_figure, patches_figure
    from pages._inside import cached_view

    arm = chapter.experiment.arms[0]
    key = next((k for k in sorted(ids) if k[0] == arm.name and k[2] == "adv"), None)
    if key is None:
        return
    store = run_store()
    run = store.get_run(ids[key])
    steps = store.snapshot_steps(ids[key]) if run else []
    if not steps:
        return
    cfg = Config.from_dict(run["config"])
    view = cached_view(json.dumps(run["config"], sort_keys=True), ids[key], steps[-1], 0)
    outcome = "still right" if view.pred_attacked == view.y else f"fooled: it now says class {view.pred_attacked + 1}"
    st.markdown(f"**The spray, in the patch view** ({arm.name}, seed {key[1]}, step {steps[-1]}): PGD spreads a "
                f"small change over every patch instead of cancelling one feature; the network is {outcome}.")
    show(patches_figure({"adv": view}, feature_labels(cfg.k)), "lesson_spray_chart")
    show(decomposition_figure({"adv": view}), "lesson_spray_decomp")


def real_view(ids: dict) -> None:
    """Chapter 8: the real-image run's curves and its Table 1 numbers (first seed), as on the Real images page."""
    from core.runs.real_runs import load_result

    store = run_store()
    run_id = ids[min(ids)]
    feat, acc = real_figures(store.metrics_frame(run_id))
    left, right = st.columns(2)
    with left:
        show(feat, "lesson_real_feat")
    with right:
        show(acc, "lesson_real_acc")
    result = load_result(store, run_id) or {}
    rows = [{"training": "standard" if mode == "std" else "adversarial",
             **{name: numbers.get(key) for key, name in (("acc_clean", "clean"), ("acc_pgd", "PGD"),
                                                          ("feat_acc_nonrobust", "non-robust feat."),
                                                          ("feat_acc_robust", "robust feat."))}}
            for mode, numbers in result.get("runs", {}).items()]
    if rows:
        st.markdown("**Table 1 on the built-in digits** (compare the paper's MNIST row: standard 100 % clean, "
                    "0 % PGD; adversarial keeps PGD and leans on the robust dataset)")
        numbers = {c: st.column_config.NumberColumn(format="%.3f") for c in rows[0] if c != "training"}
        st.dataframe(pd.DataFrame(rows), hide_index=True, column_config=numbers)


def _steps(chapter: Chapter) -> int | None:
    """The planned length of the chapter's runs: the x axis ends there while they grow."""
    exp = chapter.experiment
    return max((getattr(cfg, "steps", 0) for arm in exp.arms if arm.modes for cfg in exp.configs(arm, 1)),
               default=None)


def charts(chapter: Chapter, ids: dict, *, live: bool = False) -> None:
    """What the chapter shows (chapter.shows), and nothing that answers a later chapter; ``live`` while its runs
    train: the curves and bands grow, the special views wait for the end."""
    exp, shows = chapter.experiment, chapter.shows
    if exp.kind == "data":
        return  # the example is the opening's picture, right above the question
    if exp.kind == "real":
        if not live:
            real_view(ids)
        return
    frames = frames_by_arm(ids)
    steps = _steps(chapter)
    if shows.arms_metric and len(exp.arms) > 1:
        arms = {arm.name.replace("_", " "): frames.get(arm.name, {}).get("adv", []) for arm in exp.arms}
        label = "PGD accuracy" if shows.arms_metric == "acc_pgd" else shows.arms_metric
        show(arms_figure(arms, shows.arms_metric, f"{label} of adversarial training, each setup (mean and min–max "
                         "over seeds)"), "lesson_arms_chart")
    for arm in exp.arms:
        by_mode = {mode: fs for mode, fs in frames.get(arm.name, {}).items() if mode in shows.modes}
        if not by_mode:
            continue
        if len(exp.arms) > 1:
            st.markdown(f"**{arm.name.replace('_', ' ')}**")
        # the switch of adversarial training, marked as in the Lab (the median over the seeds that have one)
        phases = {"adv": median_phase(by_mode["adv"])} if "adv" in by_mode else {}
        if shows.correlations:
            show(correlation_figure(by_mode, steps=steps, phase_steps=phases), f"lesson_corr_{arm.name}")
        if shows.raw:
            show(correlation_figure(by_mode, raw=True, steps=steps, phase_steps=phases), f"lesson_raw_{arm.name}")
        if shows.accuracies:
            show(accuracy_figure(by_mode, metrics=shows.accuracies, loss=False, steps=steps),
                 f"lesson_acc_{arm.name}")
    if live:
        return
    if shows.example == "swap":
        example_view(exp.configs(exp.arms[0], 1)[0], swap=True)
    if shows.spray:
        spray_view(chapter, ids)
