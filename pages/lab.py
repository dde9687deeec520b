"""Lab: set up the experiment, start standard and adversarial training as twins, watch the switch."""

from __future__ import annotations

import streamlit as st

from core.engine.config import Config
from pages import _controls as controls
from pages import _keys as keys
from pages import _server as server
from pages import _whatif as whatif
from pages._common import (
    ACTIVE,
    attached_runs,
    client_id,
    job_manager,
    leave_pages_v1,
    md_escape,
    md_message,
    presentation,
    prewarm_jobs,
    run_store,
)
from pages._errors import one_line
from pages._inside import inside_views
from pages._live import live_panel, seed_groups
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
# While the live panel redraws every second, Streamlit would dim its charts during each redraw (stale
# elements): a fixed stylesheet keeps them at full strength, so the curves grow without flicker.
LIVE_CSS = '<style>[data-testid="stElementContainer"][data-stale="true"] { opacity: 1 !important; }</style>'


@one_line  # a store that fails says so in one line (pages/_errors.py)
def start(cfg: Config) -> None:
    """Submit the twins, one pair per seed (seed, seed+1, ...); a finished run with the same config is reused
    unless 'retrain' is ticked."""
    from core.runs.jobs import JobRefused

    preset = ss.lab_preset if ss.lab_preset != "defaults" else None
    groups = []
    for i in range(controls.seeds()):
        try:
            ids = job_manager().submit_twins(cfg if i == 0 else cfg.replace(seed=cfg.seed + i), client_id=client_id(),
                                             preset=preset, fresh=bool(ss.get(keys.LAB_FRESH)))
        except JobRefused as err:
            ss.lab_flash = str(err) + (f" ({len(groups)} seed(s) were started)" if groups else "")
            break
        groups.append(attached_runs(ids))
    if groups:
        ss.lab_runs = groups[0] if len(groups) == 1 else {**groups[0], "seeds": groups}
        ss.pop(keys.LAB_FRAMES, None)


def detach(cfg: Config | None) -> None:
    """Hide the runs; the setup they answer is not answered again by itself until it changes."""
    ss.pop(keys.LAB_RUNS, None)
    if cfg is not None:
        ss.lab_dismissed = whatif.setup_key(cfg)


AUTO_LIMIT_S = 60.0  # a setup estimated at most this long answers by itself; a longer one waits for Run


def answer_by_itself(cfg: Config | None) -> str | None:
    """A what-if: show the runs of the setup on the left without a Run press (one seed; cached and shared runs
    as Run would find them). None, or one line on why the page waits for Run."""
    if cfg is None or controls.seeds() > 1:
        return None
    runs = ss.get(keys.LAB_RUNS)
    if runs and not differences(runs, cfg):
        return None  # the runs on screen are this setup's
    if ss.get(keys.LAB_DISMISSED) == whatif.setup_key(cfg):
        return None
    if not server.workers_allowed():  # no training starts by itself; a finished pair is still shown
        found = {mode: run_store().find_cached(cfg, mode) for mode in ("std", "adv")}
        if all(found.values()):
            ss.lab_runs = attached_runs(found)
            ss.pop(keys.LAB_FRAMES, None)
        return None
    store = run_store()
    trained = all(store.find_cached(cfg, mode) or store.find_latest(cfg, mode, ACTIVE) for mode in ("std", "adv"))
    wall_s = controls.wall_seconds(cfg)
    if wall_s > AUTO_LIMIT_S and not trained:  # runs someone already made are shown whatever they cost
        return f"This setup takes about {controls.format_seconds(wall_s)}: press **Run** to train it."
    preset = ss.lab_preset if ss.lab_preset != "defaults" else None
    ids, refused = whatif.follow(cfg, "lab", preset=preset)
    if refused:
        return md_message(refused)
    ss.lab_runs = ids
    ss.pop(keys.LAB_FRAMES, None)
    return None


def differences(runs: dict, cfg: Config | None) -> list[str]:
    """Fields where the shown runs' setup differs from the controls (where they run does not count)."""
    run = run_store().get_run(runs.get("std") or runs.get("adv") or "")
    if run is None or cfg is None:
        return []
    mine = cfg.to_dict()
    return [f"{k}={v}" for k, v in run["config"].items() if k not in ("device", "threads") and mine.get(k) != v]


def runs_active(runs: dict) -> bool:
    store = run_store()
    return any((store.get_run(run_id) or {}).get("status") in ACTIVE
               for group in seed_groups(runs) for run_id in group.values())


st.title(":material/science: The Lab")
if not presentation():
    st.caption("The same two-layer network trained twice on the same data: by **standard** training it learns the "
               "dense, weak *non-robust* features; by **adversarial** training it switches to the sparse, strong "
               "*robust* ones (Li & Li, ICLR 2025). A quick setup answers by itself; a long one waits for **Run**. "
               "How to read the charts: **About**.")
controls.seeds_from_link()
for note in ss.get(keys.LAB_URL_NOTES, []):
    st.warning(md_escape(note))  # they quote the link's text

prewarm_jobs()
left, right = st.columns([1, 2.4], gap="large")
with left:
    controls.preset_picker()
    cfg, err = controls.validated()
    controls.seeds_input()
    waiting = answer_by_itself(cfg)
    runs = ss.get(keys.LAB_RUNS)
    busy = bool(runs) and runs_active(runs)
    st.button("▶ Run", key=keys.LAB_RUN, type="primary", disabled=cfg is None or busy, on_click=start, args=(cfg,),
              width="stretch",
              help="Fix the field marked in red first." if cfg is None else
              "Wait for the current runs, or stop them." if busy else "Start both runs as background jobs.")
    if flash := ss.pop(keys.LAB_FLASH, None):
        st.error(md_message(flash))
    controls.shown_error(err)
    controls.estimate(cfg)
    if not presentation():
        st.checkbox("retrain even if cached", key=keys.LAB_FRESH,
                    help="Off: a finished run of the same setup and code is shown at once instead of retrained.")
    controls.knobs(err)
    controls.checks(cfg)
    ss.lab_config = cfg.to_dict() if cfg is not None else None  # what the tests (and the Theory page) read
    ss.lab_error = (err.field, str(err)) if err is not None else None

with right:
    if waiting:
        st.info(waiting, icon=":material/timer:")
    if not runs:
        if not waiting:
            st.info("No runs yet. Pick a preset (classroom takes seconds), then press **Run**.")
    else:
        if busy:
            st.markdown(LIVE_CSS, unsafe_allow_html=True)
        else:
            st.button("Clear", key=keys.LAB_DETACH, on_click=detach, args=(cfg,),
                      help="Hide these runs (they stay on the Runs page).")
        if changed := differences(runs, cfg):
            st.caption(f"These runs were made with a different setup ({md_message(', '.join(changed))}); press Run "
                       "to train the one on the left.")
        fast = busy and cfg is not None and whatif.current("lab", cfg) is not None
        live_fragment(live_panel, busy, runs, busy, fast=fast)
        inside_views(runs, busy)  # the first seed's pair
ss.url_extra = controls.seeds_params(ss.get("lab_runs"))
