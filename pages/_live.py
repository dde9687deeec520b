"""The Lab's live panel: status, progress and the curves of an attached twin run (or of one twin
pair per seed: then the charts draw each series' mean with a min–max band).

It is a fragment that reruns every second while a run is queued or running and stops
polling once both have ended (one last full rerun refreshes the rest of the page).
Metrics are read incrementally from the store, so a refresh costs one indexed query.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.engine.config import Config
from core.engine.look_inside import downsample
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


def ordinal(n: int) -> str:
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
        text += f" ({ordinal(position)} in line)" if position else " (waiting for a worker)"
    elif step is not None:
        text += f" · step {step} / {steps}"
    st.progress(done, text=text)
    if status in ("failed", "diverged", "cancelled", "interrupted") and run.get("error"):
        st.caption(f"{RUN_LABEL[mode]}: {run['error']}")


def seed_groups(runs: dict) -> list[dict]:
    """{mode: run id} per seed: ``runs["seeds"]`` when several seeds were submitted, else the one pair."""
    groups = runs.get("seeds") or [runs]
    return [{mode: g[mode] for mode in ("std", "adv") if g.get(mode)} for g in groups]


def seeds_status(mode: str, found: list[tuple[str, dict | None]]) -> None:
    """One progress bar per mode over all its seeds: the mean fraction done, and how many are where."""
    fractions, counts = [], {}
    for _, run in found:
        status = run["status"] if run else "missing"
        counts[status] = counts.get(status, 0) + 1
        steps = (run or {}).get("steps") or 0
        done = ((run or {}).get("step") or 0) / steps if steps else 1.0
        fractions.append(1.0 if status == "finished" else min(1.0, done))
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    st.progress(sum(fractions) / max(1, len(fractions)), text=f"**{RUN_LABEL[mode]}** · {len(found)} seeds: {parts}")
    for run_id, run in found:
        if run and run["status"] in ("failed", "diverged", "cancelled", "interrupted") and run.get("error"):
            st.caption(f"{RUN_LABEL[mode]} {run_id}: {run['error']}")


def _mark(held: int, total: int) -> str:
    """Every seed, some, none: a Material icon in its colour (emoji need a font the machine may not have)."""
    return (":green[:material/check:]" if held == total else ":orange[:material/warning:]" if held
            else ":red[:material/close:]")


def seed_verdict(frames: dict) -> str | None:
    """On how many seeds each of the paper's claims holds (core.engine.claims on each seed's history)."""
    from pages._lesson_adapt import claims_by_seed_rows

    rows = claims_by_seed_rows(frames)
    if not rows:
        return None
    lines = [f"{_mark(held, total)} {RUN_LABEL[mode]}: {text} — holds on **{held}/{total}** seeds"
             for mode, text, held, total in rows]
    return "  \n".join(lines)


def decay_note(frames: dict) -> str | None:
    """Where adversarial training's PGD accuracy rose and then fell back: the spray attack (Lesson chapter 7)."""
    seeds = frames.get("adv")
    seeds = seeds if isinstance(seeds, list) else [seeds] if seeds is not None else []
    decayed = [f for f in seeds if not f.empty and f["acc_pgd"].max() - f["acc_pgd"].dropna().iloc[-1] >= 0.15]
    if not decayed:
        return None
    f = decayed[0]
    return (f"Adversarial training's PGD accuracy rose to {f['acc_pgd'].max():.0%} and then decayed to "
            f"{f['acc_pgd'].dropna().iloc[-1]:.0%} ({len(decayed)} of {len(seeds)} seed(s)): the dense *spray* attack "
            "wins once the robust weights grow. Lesson chapter 7 shows why, and how multi-step PGD training keeps it.")


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
    groups = seed_groups(runs)
    many = len(groups) > 1
    found = {mode: [(g[mode], store.get_run(g[mode], final=False)) for g in groups if mode in g]
             for mode in ("std", "adv")}
    found = {mode: pairs for mode, pairs in found.items() if pairs}
    active = [run_id for pairs in found.values() for run_id, run in pairs
              if run is not None and run["status"] in ACTIVE]
    if polling and not active:
        st.rerun()  # both ended: one full rerun draws the final page and stops the polling
    # The status goes into a box above the charts but is written after them: a refresh cut short on a busy
    # server (Streamlit stops a run at its next element when the next refresh is due) can leave the status
    # behind the curves, never the curves behind a status that says the run is done.
    top = st.container()
    per_seed = {mode: [f for f in (metrics(run_id) for run_id, run in pairs if run is not None) if not f.empty]
                for mode, pairs in found.items()}
    if any(per_seed.values()):
        charts(found, per_seed, many)
    else:
        st.info("Waiting for the first logged step…")
    with top:
        head = st.columns([5, 1], vertical_alignment="center")
        with head[0]:
            for mode, pairs in found.items():
                if many:
                    seeds_status(mode, pairs)
                else:
                    status_line(mode, pairs[0][1], pairs[0][0])
        everyone = [run for pairs in found.values() for _, run in pairs]
        if active and can_change(everyone):  # only the session that started them, or the admin
            head[1].button("Stop", key=keys.LAB_STOP, on_click=stop_runs, args=(active,), type="secondary",
                           help="Cancel the runs; their metrics so far are kept.")
        elif active:
            st.caption(READ_ONLY_STOP)


def built_when_moved(key: str, stamp, build):
    """build(), or what it gave this session last time under `key` while `stamp` has not moved.

    A refresh between two logged steps draws the same charts, and building Plotly figures is most of a refresh:
    every open page refreshes every few seconds, a what-if several times a second."""
    cached = st.session_state.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, build())
        st.session_state[key] = cached
    return cached[1]


def charts(found: dict, per_seed: dict, many: bool) -> None:
    """The correlation and accuracy charts of the runs (seeds as bands), their toggles and, once every run ended,
    the verdict."""
    active = [run for pairs in found.values() for _, run in pairs if run is not None and run["status"] in ACTIVE]
    frames = {mode: fs if many else fs[0] for mode, fs in per_seed.items() if fs}
    phases = {mode: median_phase(fs) for mode, fs in per_seed.items() if fs}
    options = st.columns(2)
    raw = options[0].toggle("raw Λ, Γ", key=keys.LAB_RAW, help="Show the raw coefficients max⟨w, u_r⟩ and max⟨w, v_r⟩ "
                            "instead of the normalised correlations.")
    overlay = options[1].toggle("overlay the theory", key=keys.LAB_THEORY,
                                help="The reduced dynamics of the paper's Section 5, dotted: the noiseless "
                                "one-neuron model trained by the same algorithm.")
    theory = None
    if overlay:
        config = next(run["config"] for pairs in found.values() for _, run in pairs if run is not None)
        config_json = json.dumps(config, sort_keys=True)
        theory = {mode: reduced(config_json, mode) for mode in frames}
    ids = tuple(run_id for pairs in found.values() for run_id, _ in pairs)
    stamp = (ids, tuple((mode, tuple(len(f) for f in fs)) for mode, fs in per_seed.items()), raw, overlay)

    def build():
        keep = [s for s in phases.values() if s is not None]
        shown = {mode: [downsample(f, MAX_POINTS, keep) for f in fs] if many else downsample(fs, MAX_POINTS, keep)
                 for mode, fs in frames.items()}
        steps = max((run.get("steps") or 0) for pairs in found.values() for _, run in pairs if run is not None)
        return (correlation_figure(shown, raw=raw, phase_steps=phases, theory=theory, steps=steps),
                accuracy_figure(shown, steps=steps))

    corr, acc = built_when_moved(keys.LAB_FIGURES, stamp, build)
    st.plotly_chart(corr, key=keys.LAB_CORR_CHART, config=CHART_CONFIG)
    st.plotly_chart(acc, key=keys.LAB_ACC_CHART, config=CHART_CONFIG)
    if not active:
        text = seed_verdict(per_seed) if many else verdict(frames, phases)
        if text:
            st.success(text)
        if note := decay_note(frames):
            st.warning(note)
            st.page_link("pages/lesson.py", label="Lesson chapter 7: why PGD accuracy decays", icon=":material/school:",
                         query_params={"chapter": "7"})


def median_phase(frames: list[pd.DataFrame]) -> int | None:
    """The phase transition of one seed; of several, the median of the seeds that have one."""
    steps = sorted(s for s in (phase_step(f) for f in frames) if s is not None)
    return steps[len(steps) // 2] if steps else None
