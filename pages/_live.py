"""The Lab's live panel: status, progress and the curves of an attached twin run.

It is a fragment that reruns every second while a run is queued or running and stops
polling once both have ended (one last full rerun refreshes the rest of the page).
Metrics are read incrementally from the store, so a refresh costs one indexed query.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.engine.config import Config
from core.engine.inspect import downsample
from core.engine.metrics import phase_transition_step
from core.figures.charts import RUN_LABEL, accuracy_figure, correlation_figure
from pages import _keys as keys
from pages._common import ACTIVE, job_manager, run_store
from pages._owner import READ_ONLY_STOP, can_change, stop_runs

MAX_POINTS = 400  # per curve: the browser redraws every second
CHART_CONFIG = {"displaylogo": False}


def metrics(run_id: str) -> pd.DataFrame:
    """The run's metrics, reading only the rows newer than the ones this session has."""
    store = run_store()
    cache = st.session_state.setdefault(keys.LAB_FRAMES, {})
    frame = cache.get(run_id)
    last = store.last_metric_step(run_id)
    have = None if frame is None or frame.empty else int(frame["step"].iloc[-1])
    if frame is None or (last is not None and (have is None or last > have)):
        new = store.metrics_frame(run_id, since_step=have)
        frame = new if have is None else pd.concat([frame, new], ignore_index=True)
        cache[run_id] = frame
    return frame


def phase_step(frame: pd.DataFrame) -> int | None:
    rows = frame[["step", "corr_robust", "corr_nonrobust"]].dropna().to_dict("records")
    return phase_transition_step(rows)


@st.cache_data(show_spinner=False, max_entries=16)
def reduced(config_json: str, mode: str) -> list[dict]:
    from core.engine.theory import reduced_dynamics

    return reduced_dynamics(Config.from_dict(json.loads(config_json)), mode)


def _ordinal(n: int) -> str:
    return f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def status_line(mode: str, run: dict | None, run_id: str) -> None:
    if run is None:
        st.warning(f"{RUN_LABEL[mode]} run {run_id} is not in the store (deleted?).")
        return
    step, steps, status = run.get("step"), run.get("steps") or 0, run["status"]
    done = 1.0 if steps == 0 else min(1.0, (step or 0) / steps)
    text = f"**{RUN_LABEL[mode]}** · {status}"
    if status == "queued":
        position = job_manager().queue_position(run_id)
        text += f" ({_ordinal(position)} in line)" if position else " (waiting for a worker)"
    elif step is not None:
        text += f" · step {step} / {steps}"
    st.progress(done, text=text)
    if status in ("failed", "diverged", "cancelled", "interrupted") and run.get("error"):
        st.caption(f"{RUN_LABEL[mode]}: {run['error']}")


def verdict(frames: dict, phases: dict) -> str | None:
    """One sentence per finished run: which feature won, and how it fares under attack."""
    parts = []
    for mode, frame in frames.items():
        if frame.empty:
            continue
        last = frame.iloc[-1]
        robust, nonrobust = last["corr_robust"], last["corr_nonrobust"]
        winner = "robust" if robust > nonrobust else "non-robust"
        text = (f"**{RUN_LABEL[mode]}** learned the **{winner}** features (correlation {robust:.2f} robust vs "
                f"{nonrobust:.2f} non-robust); clean {last['acc_clean']:.0%}, swap {last['acc_swap']:.0%}, "
                f"PGD {last['acc_pgd']:.0%} (peak {frame['acc_pgd'].max():.0%})")
        if phases.get(mode) is not None:
            text += f"; phase transition at step {phases[mode]}"
        parts.append(text + ".")
    return "  \n".join(parts) or None


def live_panel(runs: dict, polling: bool) -> None:
    store = run_store()
    ids = {mode: runs[mode] for mode in ("std", "adv") if mode in runs}
    info = {mode: store.get_run(run_id) for mode, run_id in ids.items()}
    active = [ids[m] for m, r in info.items() if r is not None and r["status"] in ACTIVE]
    if polling and not active:
        st.rerun()  # both ended: one full rerun draws the final page and stops the polling
    top = st.columns([5, 1], vertical_alignment="center")
    with top[0]:
        for mode, run_id in ids.items():
            status_line(mode, info[mode], run_id)
    if active and can_change(info.values()):  # only the session that started them, or the admin
        top[1].button("Stop", key=keys.LAB_STOP, on_click=stop_runs, args=(active,), type="secondary",
                      help="Cancel both runs; their metrics so far are kept.")
    elif active:
        st.caption(READ_ONLY_STOP)
    frames = {mode: metrics(run_id) for mode, run_id in ids.items() if info[mode] is not None}
    if not any(len(f) for f in frames.values()):
        st.info("Waiting for the first logged step…")
        return
    phases = {mode: phase_step(frame) for mode, frame in frames.items() if not frame.empty}
    options = st.columns(2)
    raw = options[0].toggle("raw Λ, Γ", key=keys.LAB_RAW, help="Show the raw coefficients max⟨w, u_r⟩ and max⟨w, v_r⟩ "
                            "instead of the normalised correlations.")
    overlay = options[1].toggle("overlay the theory", key=keys.LAB_THEORY,
                                help="Reduced dynamics of Section 5 (SPEC 1.7), dotted: the noiseless one-neuron "
                                "model trained by the same algorithm.")
    theory = None
    if overlay:
        config = next(r["config"] for r in info.values() if r is not None)
        config_json = json.dumps(config, sort_keys=True)
        theory = {mode: reduced(config_json, mode) for mode in frames}
    shown = {mode: downsample(f, MAX_POINTS, [s for s in phases.values() if s is not None])
             for mode, f in frames.items()}
    st.plotly_chart(correlation_figure(shown, raw=raw, phase_steps=phases, theory=theory), key=keys.LAB_CORR_CHART,
                    config=CHART_CONFIG)
    st.plotly_chart(accuracy_figure(shown), key=keys.LAB_ACC_CHART, config=CHART_CONFIG)
    if not active:
        text = verdict(frames, phases)
        if text:
            st.success(text)
