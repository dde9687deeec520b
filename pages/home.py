"""The first screen: the phenomenon at once, on one screen of 1280 x 720.

Three sentences, one example's patches, the classroom twin (its correlations and accuracies) and the main
knobs. The server trains the classroom twin when it starts (pages/_server.py), so it is usually finished
before anyone arrives. Moving a knob is a what-if (pages/_whatif.py): its twins train by themselves and grow
live, and the setup it replaced is dropped. The knobs are the Lab's setup too: its link opens the same setup
with every knob.
"""

from __future__ import annotations

import json

import streamlit as st

from core.engine.config import Config, ConfigError
from core.engine.presets import get_preset
from core.figures.charts import accuracy_bars, correlation_figure
from pages import _keys as keys
from pages import _server as server
from pages import _whatif as whatif
from pages._common import ACTIVE, apply_setup, job_manager, leave_pages_v1, md_message, preset_values, run_store
from pages._lesson_views import data_strip
from pages._live import CHART_CONFIG, built_when_moved, metrics, ordinal, phase_step
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
BASE = "classroom"
SLOT = "home"
# The main knobs: (field, label, low, high, step). The ranges keep every what-if classroom-sized and quick.
SLIDERS = (
    ("alpha", "robust strength α", 0.1, 2.0, 0.1),
    ("beta", "non-robust strength β", 0.05, 1.0, 0.05),
    ("eps", "attack radius ε", 0.05, 0.6, 0.05),
    ("s", "robust patches s (of 50)", 1, 12, 1),
)
ALGORITHMS = {"pgd": "PGD, 3 steps", "one_step": "one step (paper)"}
CHART_PX = 290  # the charts' height: the whole screen fits 720 px
MAIN = tuple(name for name, *_ in SLIDERS) + ("train_attack",)
# The first screen fits 1280 x 720: less space above the content than Streamlit's default page.
COMPACT_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.4rem; padding-bottom: 0.5rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.75rem; padding: 0 0 0.3rem 0; }
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p { font-size: 0.95rem; }
[data-testid="stVerticalBlock"] { gap: 0.6rem; }
[data-testid="stElementContainer"][data-stale="true"] { opacity: 1 !important; }
</style>"""


def values() -> dict:
    """The main knobs' values: the session's own, starting from the classroom's."""
    if keys.HOME_VALUES not in ss:
        base = preset_values(BASE)
        ss[keys.HOME_VALUES] = {name: base[name] for name in MAIN}
    return ss[keys.HOME_VALUES]


def changed(name: str) -> None:
    """A knob moved: the first screen's setup, and the Lab's (so its link opens the same what-if)."""
    value = ss[keys.HOME_PREFIX + name]
    if value is None:  # a second click on the chosen attack unselects it: keep the attack
        ss[keys.HOME_PREFIX + name] = values()[name]
        return
    values()[name] = round(value, 2) if isinstance(value, float) else value
    apply_setup(BASE, {**preset_values(BASE), **values()})


def config() -> tuple[Config | None, ConfigError | None]:
    try:
        return get_preset(BASE).config(**values()), None
    except ConfigError as err:
        return None, err


def knobs() -> None:
    """The main knobs in one row."""
    current = values()
    columns = st.columns([1] * len(SLIDERS) + [1.25], gap="medium")
    for column, (name, label, low, high, step) in zip(columns, SLIDERS, strict=False):
        column.slider(label, low, high, current[name], step, key=keys.HOME_PREFIX + name, on_change=changed,
                      args=(name,), help=HELP[name])
    columns[-1].segmented_control("adversarial training's attack", list(ALGORITHMS), format_func=ALGORITHMS.get,
                                  default=current["train_attack"], key=keys.HOME_PREFIX + "train_attack",
                                  on_change=changed, args=("train_attack",), help=HELP["train_attack"])


HELP = {
    "alpha": "How strong the robust feature u is in its patch. Bigger: harder for an attack to erase.",
    "beta": "How strong the non-robust feature v is in each of its patches. Weak, but in almost every patch.",
    "eps": "How far the attacker may move each patch (its l2 length). Cancelling a non-robust patch takes β.",
    "s": "How many of the 50 patches carry the robust feature. More: the robust feature wins even without an "
         "adversary.",
    "train_attack": "How adversarial training attacks each example before a step: three PGD steps, or the paper's "
                    "single clipped step (its PGD accuracy peaks, then decays: Lesson chapter 7).",
}


def status_text(runs: dict) -> str:
    """Where each run stands, in one line: queued (and its place in line), training (step), finished."""
    parts = []
    for mode, label in (("std", "standard"), ("adv", "adversarial")):
        run = runs.get(mode)
        if run is None:
            continue
        if run["status"] == "queued":
            position = job_manager().queue_position(run["id"])
            parts.append(f"{label}: waiting, {ordinal(position)} in line" if position else f"{label}: waiting for "
                         "a worker")
        elif run["status"] == "running":
            parts.append(f"{label}: step {run.get('step') or 0} of {run.get('steps')}")
        else:
            parts.append(f"{label}: {run['status']}")
    return " · ".join(parts)


def figures(ids: dict, frames: dict, finished: bool, steps: int):
    """The twin's two charts, built again only when a logged step arrived or the runs ended."""
    def build():
        phases = {"adv": phase_step(frames["adv"])} if "adv" in frames else {}
        corr = correlation_figure(frames, phase_steps=phases, steps=steps, compact=True, height=CHART_PX)
        bars = accuracy_bars(frames, height=CHART_PX)
        for fig in (corr, bars):  # what a browser (and the benchmark) reads: which runs, and whether they ended
            fig.update_layout(meta={**fig.layout.meta, "runs": f"{ids.get('std')},{ids.get('adv')}",
                                    "finished": finished})
        return corr, bars

    stamp = (ids.get("std"), ids.get("adv"), tuple((m, len(f)) for m, f in frames.items()), finished, steps)
    return built_when_moved(keys.HOME_FIGURES, stamp, build)


def panel(ids: dict, polling: bool, steps: int) -> None:
    """The twin's status, correlations and accuracies; polled while it trains, then one full rerun."""
    store = run_store()
    runs = {mode: store.get_run(ids[mode], final=False) for mode in ("std", "adv") if ids.get(mode)}
    active = [mode for mode, run in runs.items() if run is not None and run["status"] in ACTIVE]
    if polling and not active:
        st.rerun()
    frames = {mode: frame for mode in runs if not (frame := metrics(ids[mode])).empty}
    finished = bool(runs) and all(run and run["status"] == "finished" for run in runs.values())
    corr, bars = figures(ids, frames, finished, steps)
    left, right = st.columns([1.6, 1])
    left.plotly_chart(corr, key=keys.HOME_CORR_CHART, config=CHART_CONFIG)
    right.plotly_chart(bars, key=keys.HOME_ACC_CHART, config=CHART_CONFIG)
    st.caption(status_text({m: {**r, "id": ids[m]} for m, r in runs.items() if r}) or "starting…")


server.start()  # where the server did not start the workers itself (started without app.py's st.App)
st.session_state.url_setup = False  # the what-if lives in this session; the Lab's link shares a setup
st.markdown(COMPACT_CSS, unsafe_allow_html=True)
cfg, err = config()

top_left, top_right = st.columns([1.25, 1], gap="medium")
with top_left:
    st.title("Robust Feature Lab")
    st.markdown(
        "Each example is 50 patches (right): one ★ holds its class's **robust** feature u, strong (α); the other 49 "
        "its **non-robust** feature v, weak (β) but everywhere. The same network learns from them twice: by "
        "**standard** training (solid lines) and by **adversarial** training (dashed), which first attacks every "
        "example within a radius ε per patch. Standard training picks the dense v and breaks under attack, "
        "adversarial training switches to the sparse u and holds: move a knob and the pair retrains by itself.")
    links = st.columns(3)
    links[0].page_link("pages/lesson.py", label="The Lesson", icon=":material/school:",
                       help="Eight questions: predict, then watch the runs decide.")
    links[1].page_link("pages/lab.py", label="Lab: every knob", icon=":material/science:",
                       help="This setup with every knob, several seeds, and a look inside the network.")
    links[2].page_link("pages/room.py", label="Room: a class votes", icon=":material/groups:",
                       help="Students vote on the Lesson's questions from their own devices.")
with top_right:
    if cfg is not None:
        st.plotly_chart(data_strip(json.dumps(cfg.to_dict(), sort_keys=True)), key=keys.HOME_STRIP_CHART,
                        config=CHART_CONFIG)

knobs()
if err is not None:
    st.error(md_message(str(err)), icon=":material/error:")
elif not server.workers_allowed() and whatif.current(SLOT, cfg) is None:
    found = {mode: run_store().find_cached(cfg, mode) for mode in ("std", "adv")}
    if all(found.values()):
        panel(found, False, cfg.steps)
    else:
        st.info("No finished runs of this setup yet, and this server starts no training by itself.")
else:
    ids, refused = whatif.follow(cfg, SLOT, preset=BASE)
    if refused:
        st.error(md_message(refused), icon=":material/block:")
    else:
        store = run_store()
        active = any((store.get_run(i) or {}).get("status") in ACTIVE for i in (ids["std"], ids["adv"]))
        live_fragment(panel, active, ids, active, cfg.steps, fast=active)
