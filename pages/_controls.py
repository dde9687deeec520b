"""The Lab's left column: preset, every knob with inline errors, assumption checks, run-time estimate."""

from __future__ import annotations

import json
import os

import streamlit as st

from core.engine.assumptions import assumption_checks
from core.engine.config import Config, ConfigError
from core.engine.measure.estimate import format_seconds
from core.engine.presets import PRESETS
from pages import _keys as keys
from pages._common import (
    NO_PRESET,
    PRESET_CHOICES,
    apply_setup,
    build_config,
    engine_runs,
    md_message,
    presentation,
    preset_values,
    widget_key,
)
from pages._fields import FIELDS, GROUPS, Field, choice_label

# Material icons: every browser draws them (emoji need a font the machine may not have).
BADGE = {"green": ("green", ":material/check_circle:"), "amber": ("orange", ":material/warning:"),
         "red": ("red", ":material/block:")}
MAIN = ("alpha", "beta", "eps", "s", "train_attack", "steps")  # always in view; the rest in their groups


def _pick_preset() -> None:
    name = st.session_state.lab_preset_pick
    apply_setup(name, preset_values(name))


def preset_picker() -> None:
    ss = st.session_state
    if ss.get(keys.LAB_PRESET_PICK, ss.lab_preset) != ss.lab_preset:
        ss.lab_preset_pick = ss.lab_preset
    st.selectbox("Preset", PRESET_CHOICES, index=PRESET_CHOICES.index(ss.lab_preset), key=keys.LAB_PRESET_PICK,
                 on_change=_pick_preset,
                 format_func=lambda n: "defaults (every knob at its default)" if n == NO_PRESET else n,
                 help="A named starting point; every knob below stays editable.")
    name = ss.lab_preset
    if name in PRESETS:
        st.caption(PRESETS[name].description)
    base = preset_values(name)
    changed = [n for n, v in ss.lab_values.items() if v != base[n]]
    if changed:
        st.caption(f"Changed from the preset: {md_message(', '.join(changed))}")


def read_values() -> dict:
    """The user's latest edits (widget state) into the setup, before it is validated."""
    ss = st.session_state
    for f in FIELDS:
        key = widget_key(f.name)
        if key in ss:
            ss.lab_values[f.name] = ss[key]
    return ss.lab_values


def _field(f: Field, err: ConfigError | None) -> None:
    """One knob. Its default is the setup's value, not the widget's own (0): Streamlit can drop the state
    of widgets outside a fragment when the fragment ends in st.rerun(), and then they fall back to it."""
    key = widget_key(f.name)
    value = st.session_state.lab_values[f.name]
    if f.choices:
        st.selectbox(f.label, f.choices, index=f.choices.index(value) if value in f.choices else 0, key=key,
                     help=f.help, format_func=lambda v, n=f.name: choice_label(n, v))
    else:
        is_int = isinstance(f.step, int)
        st.number_input(f.label, value=value, key=key, step=f.step, help=f.help, format="%d" if is_int else "%g")
    if err is not None and err.field == f.name:
        st.error(md_message(str(err)), icon=":material/error:")


def knobs(err: ConfigError | None) -> None:
    """The main knobs in view, the others grouped in expanders; in presentation mode only the few a class
    discusses."""
    main = [f for name in MAIN for f in FIELDS if f.name == name]
    for f in main:
        if f.basic or not presentation():
            _field(f, err)
    if presentation():
        return
    for group in GROUPS:
        members = [f for f in FIELDS if f.group == group and f.name not in MAIN]
        with st.expander(group, expanded=err is not None and err.field in {f.name for f in members}):
            for f in members:
                _field(f, err)


def validated() -> tuple[Config | None, ConfigError | None]:
    """The setup with the user's latest edits, validated; the error names a field."""
    return build_config(read_values())


def shown_error(err: ConfigError | None) -> None:
    """An error whose field has no visible input (hidden in presentation mode, or the memory check)."""
    shown = {f.name for f in FIELDS if f.basic or not presentation()}
    if err is not None and err.field not in shown:
        st.error(md_message(str(err)), icon=":material/error:")


def badge(check) -> str:
    """One assumption check as a coloured badge and its sentence (markdown)."""
    color, icon = BADGE[check.status]
    return f":{color}-badge[{icon} {check.name}] {check.why}"


def checks(cfg: Config | None) -> None:
    """The paper's Assumption 2.3 for this setup, as badges, one sentence each."""
    st.markdown("**Assumption checks** (Assumption 2.3)")
    if cfg is None:
        st.caption("They appear once every knob is valid.")
        return
    for check in assumption_checks(cfg):
        st.caption(badge(check))


# ttl: the estimate's calibration follows the machine (core.engine.measure.estimate.RECALIBRATE_S), so the
# page asks again after as long; a config's estimate is otherwise one dictionary lookup.
@st.cache_data(show_spinner=False, max_entries=64, ttl=60)
def _estimate(config_json: str) -> tuple[float, float, float, str, int, int]:
    from core.engine.measure.estimate import estimate_runtime
    from core.engine.resources import estimate_memory

    cfg = Config.from_dict(json.loads(config_json))
    est = estimate_runtime(cfg)
    return est.std_s, est.adv_s, est.wall_s, est.device, estimate_memory(cfg), est.threads


def wall_seconds(cfg: Config) -> float:
    """The estimated seconds of the twin side by side on this server."""
    return _estimate(json.dumps(cfg.to_dict(), sort_keys=True))[2]


def estimate(cfg: Config | None) -> None:
    if cfg is None:
        return
    std_s, adv_s, wall_s, device, memory, threads = _estimate(json.dumps(cfg.to_dict(), sort_keys=True))
    where = "measured on this server's CPU; a GPU is faster" if device == "cuda" else "on this server's CPU"
    # Each run's own time is on its worker's share of the cores; said so, because the pair can take less
    # than its longer run alone (that run takes the freed cores once the other is done).
    alone = "each alone" if device == "cuda" else f"each alone on {threads} core{'s' if threads > 1 else ''}"
    text = (f":material/timer: About **{format_seconds(wall_s)}** for both runs side by side ({alone}: "
            f"standard {format_seconds(std_s)}, adversarial {format_seconds(adv_s)}; {where}) "
            f"· about {memory / 2**20:.0f} MiB of memory per run.")
    if presentation():
        st.caption(f":material/timer: About **{format_seconds(wall_s)}** for both runs.")
        return
    load, cores = busy()
    if load > cores:  # the estimate is for a quiet machine; say so rather than promise it
        text += f" The server is busy now (load {load:.1f} on {cores} cores): expect it to take several times longer."
    st.caption(text, help=ESTIMATE_HELP)


# How the estimate is made, for whoever wonders why "both runs" is less than the two added up.
ESTIMATE_HELP = ("Each run trains on a worker of its own and the two run side by side; once the shorter one is "
                 "done, the longer one takes the free cores. The times come from a short timing of this server, "
                 "repeated every minute; they are for a quiet server.")


def busy() -> tuple[float, int]:
    """(1-minute load average, cores) of the server; (0, cores) where the OS does not say."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        return os.getloadavg()[0], cores
    except (AttributeError, OSError):
        return 0.0, cores


# ---- several seeds ----------------------------------------------------------------------------------------
MAX_SEEDS = 5


def seeds() -> int:
    """The seed count: the widget's newest value (Run's callback runs before the page), else the session's."""
    ss = st.session_state
    return int(ss.get(keys.LAB_SEEDS) or ss.get(keys.LAB_SEED_COUNT, 1))


def seeds_from_link() -> None:
    """Once per session: ``nseeds=N`` and ``seedruns=std,adv,std,adv,...`` from a shared Lab link (``seeds`` is the
    Lesson's)."""
    ss = st.session_state
    if keys.LAB_SEED_COUNT in ss:
        return
    params = st.query_params
    text = params.get("nseeds", "1")
    if not text.isdigit() or not 1 <= int(text) <= MAX_SEEDS:
        ss.setdefault("lab_url_notes", []).append(f"nseeds: {text[:20]!r} is not a whole number from 1 to "
                                                  f"{MAX_SEEDS}; using 1")
        text = "1"
    ss.lab_seed_count = int(text)
    ids = params.get("seedruns", "").split(",")
    if (4 <= len(ids) <= 2 * MAX_SEEDS and len(ids) % 2 == 0 and all(i.isalnum() and len(i) <= 40 for i in ids)
            and engine_runs(ids)):  # a real-image run's id gets a note, not the Lab's charts
        groups = [{"std": ids[i], "adv": ids[i + 1]} for i in range(0, len(ids), 2)]
        ss.lab_runs = {**ss.get("lab_runs", groups[0]), "seeds": groups}


def seeds_input() -> None:
    """The widget's default is the session's count (kept while the user is on another page: Streamlit drops the
    state of widgets that are not drawn)."""
    ss = st.session_state
    ss.lab_seed_count = st.number_input(
        "seeds", min_value=1, max_value=MAX_SEEDS, step=1, value=seeds(), key=keys.LAB_SEEDS,
        help="Train the same setup on this many seeds (seed, seed+1, ...): the charts draw the mean with "
        "a min–max band, and the verdict says on how many seeds each claim holds.")


def seeds_params(runs: dict | None) -> dict:
    """The Lab's own URL parameters: the seed count, and every seed's run ids when several are attached."""
    params = {"nseeds": str(seeds())} if seeds() > 1 else {}
    groups = (runs or {}).get("seeds") or []
    if len(groups) > 1 and all({"std", "adv"} <= set(g) for g in groups):
        params["seedruns"] = ",".join(f"{g['std']},{g['adv']}" for g in groups)
    return params
