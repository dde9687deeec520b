"""The Lab's look-inside views of a twin run: adversarial patches and network weights at a logged step.

Both read the weight snapshots the runs stored; the patch view regenerates the run's test
set from its config (deterministic) and attacks one example with the run's PGD.
"""

from __future__ import annotations

import json

import streamlit as st

from core.engine.config import Config, ConfigError
from core.engine.look_inside import adversarial_patches, feature_labels, neuron_labels, run_test_set, weight_features
from core.engine.measure.budget import check_server, patch_view_cost
from core.figures.charts import RUN_LABEL, decomposition_figure, patches_figure, weights_figure
from pages import _keys as keys
from pages._common import md_escape, md_message, run_store
from pages._live import CHART_CONFIG
from pages._polling import live_fragment


@st.cache_resource(show_spinner="Regenerating the test set…", max_entries=2)
def cached_test_set(config_json: str):
    return run_test_set(Config.from_dict(json.loads(config_json)))


@st.cache_resource(show_spinner=False, max_entries=64)
def cached_view(config_json: str, run_id: str, step: int, index: int):
    """A snapshot never changes once stored, so (run, step, example) identifies the view."""
    cfg = Config.from_dict(json.loads(config_json))
    W = run_store().load_snapshot(run_id, step)
    return adversarial_patches(cfg, W, cached_test_set(config_json), index, step)


def step_picker(label: str, keys_: tuple[str, str], steps: list[int]) -> int:
    """The step a view shows: the newest snapshot while "follow the newest step" is on (it follows a run that
    is training), else the one the user picks on a slider.

    The server never writes either widget's value. A refresh queued on a busy server carries the widget values
    the browser had when it asked; had the server moved a slider itself, such a stale value would read as the
    user's choice and the view would stop following. A toggle and a slider only the user moves cannot go stale."""
    follow_key, slider_key = keys_
    if len(steps) == 1:
        st.caption(f"{label}: {steps[0]} (the only snapshot so far)")
        return steps[0]
    follow = st.toggle("follow the newest step", value=True, key=follow_key,
                       help="On: the view shows the newest stored snapshot and moves on as the run trains. Off: pick "
                       "a step on the slider.")
    if follow:
        st.caption(f"{label}: {steps[-1]} (the newest snapshot)")
        return steps[-1]
    if st.session_state.get(slider_key, steps[-1]) not in steps:  # a step of runs no longer shown: start anew
        del st.session_state[slider_key]
    # keyed, the slider keeps its widget (and the user's step) while the options grow
    return st.select_slider(label, options=steps, value=steps[-1], key=slider_key,
                            help="Weights are stored at every logged step.")


def patch_view(cfg: Config, config_json: str, ids: dict, steps: list[int]) -> None:
    left, right = st.columns([3, 1])
    with left:
        step = step_picker("training step", (keys.LAB_PATCH_FOLLOW, keys.LAB_PATCH_STEP), steps)
    with right:
        index = st.number_input("test example", min_value=0, max_value=cfg.n_test - 1, step=1,
                                key=keys.LAB_PATCH_EXAMPLE, help="Which test example to attack.")
    views = {mode: cached_view(config_json, run_id, step, int(index)) for mode, run_id in ids.items()}
    first = next(iter(views.values()))
    threat = md_escape(cfg.threat_model)  # markdown: patch_l2 keeps its underscore
    lines = [f"Test example {index} is of class **{first.y + 1}**: its ★ patches hold u{first.y + 1}, the others "
             f"v{first.y + 1}. PGD-{cfg.pgd_steps} within ε = {cfg.eps:g} ({threat}) at step {step}:"]
    for mode, v in views.items():
        outcome = "still right" if v.pred_attacked == v.y else f"now says class {v.pred_attacked + 1}"
        lines.append(f"- {RUN_LABEL[mode]} model: says class {v.pred_clean + 1} on the clean example, "
                     f"{outcome} under attack.")
    st.markdown("\n".join(lines))
    st.plotly_chart(patches_figure(views, feature_labels(cfg.k)), key=keys.LAB_PATCH_CHART, config=CHART_CONFIG)
    st.plotly_chart(decomposition_figure(views), key=keys.LAB_DECOMP_CHART, config=CHART_CONFIG)


def weights_view(cfg: Config, ids: dict, steps: list[int]) -> None:
    step = step_picker("training step", (keys.LAB_WEIGHTS_FOLLOW, keys.LAB_WEIGHTS_STEP), steps)
    store = run_store()
    matrices = {mode: weight_features(store.load_snapshot(run_id, step), cfg.k) for mode, run_id in ids.items()}
    st.plotly_chart(weights_figure(matrices, feature_labels(cfg.k), neuron_labels(cfg.k, cfg.m), step),
                    key=keys.LAB_WEIGHTS_CHART, config=CHART_CONFIG)
    st.caption("Rows: the m neurons of each class; columns: u₁..u_k (robust), v₁..v_k (non-robust), and the norm of "
               "the weight outside those 2k directions. A class that learned its robust feature lights up u_r.")


INSIDE_POLL_S = 3.0  # while the runs train: each new step is a new attack in the server, so not every second


def inside_views(runs: dict, active: bool = False) -> None:
    """Its own fragment: moving a slider here redraws these views only, not the whole Lab; while the runs
    train it refreshes by itself and follows their newest snapshot."""
    live_fragment(_inside_panel, active, runs, at_least_s=INSIDE_POLL_S)


def _inside_panel(runs: dict) -> None:
    store = run_store()
    ids = {mode: runs[mode] for mode in ("std", "adv") if mode in runs}
    found = {mode: store.get_run(run_id) for mode, run_id in ids.items()}
    ids = {mode: ids[mode] for mode, run in found.items() if run is not None}
    if not ids:
        return
    config = next(run["config"] for run in found.values() if run is not None)
    try:
        cfg, config_json = Config.from_dict(config), json.dumps(config, sort_keys=True)
    except ConfigError as err:  # a run stored by an older version whose config no longer validates
        st.info(f"No look-inside views for this run: {md_message(str(err))}")
        return
    per_run = [set(store.snapshot_steps(run_id)) for run_id in ids.values()]
    steps = sorted(set.intersection(*per_run))
    patches_tab, weights_tab = st.tabs(["Adversarial patches", "Network weights"], key=keys.LAB_INSIDE_TAB,
                                       on_change="rerun")
    if not steps:
        st.info("The views appear with the first stored snapshot (the first logged step).")
        return
    with patches_tab:
        if patches_tab.open:
            try:  # the view regenerates the run's test set inside the server: only when it fits
                check_server("The patch view", patch_view_cost(cfg))
            except ConfigError as too_big:
                st.info(md_message(str(too_big)))
            else:
                patch_view(cfg, config_json, ids, steps)
    with weights_tab:
        if weights_tab.open:
            weights_view(cfg, ids, steps)
