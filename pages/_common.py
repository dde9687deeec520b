"""Shared by the pages: cached services, the session's setup (config values, preset, attached runs)
and its mirror in the URL, so that a link or a refreshed tab restores the same setup."""

from __future__ import annotations

import json
import math
import os

import streamlit as st
import torch

from core.engine.config import Config, ConfigError, parse_value
from core.engine.presets import PRESETS
from pages import _keys as keys
from pages._fields import DEFAULTS, FIELDS, KINDS, typed
from pages._markdown import md_escape, md_message  # noqa: F401  (the pages import them from here)
from pages._streamlit_internals import leave_pages_v1  # noqa: F401  (the pages import it from here)

# The server's own computations (patch view, theory) are small; the cores belong to the job workers,
# and on a busy machine two spinning threads are many times slower than one (measured: 5.6 s vs 0.2 s).
torch.set_num_threads(1)

DEFAULT_PRESET = "classroom"
NO_PRESET = "defaults"  # the Config defaults (see core/engine/config.py)
PRESET_CHOICES = (*PRESETS, NO_PRESET)
ACTIVE = ("queued", "running")
MAX_IMPORT_BYTES = 64 * 1024  # a config is a few hundred bytes; the server caps uploads at 1 MB anyway


# ---- services: one per server process ----------------------------------------------------
def server_settings() -> dict:
    """The operator's .streamlit/secrets.toml as a dict ({} without one): caps, admin token, secrets."""
    try:
        return dict(st.secrets)
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return {}


@st.cache_resource(show_spinner=False)
def _job_manager():
    """Every run and sweep is admitted against the operator's caps (core/runs/admission.py; README, "Sharing
    one server with a class"); a browser that proved the admin token is not capped."""
    from core.runs.admission import Caps, memory_budget
    from core.runs.jobs import get_manager
    from pages._admins import person_is_admin

    settings = server_settings()
    return get_manager(store_path=None, caps=Caps.from_settings(settings), memory_budget=memory_budget(settings),
                       is_admin=person_is_admin, background_workers=1)


def job_manager():
    """The process-wide job manager (it starts the worker processes: only created when needed)."""
    return _or_store_message(_job_manager)


def _or_store_message(open_service):
    """A service on the run store, or the store's one-line problem (not a database, a newer schema, a full
    disk) shown in place of the page's content; nothing is cached until the store opens."""
    from core.runs.schema import StoreError

    try:
        return open_service()
    except StoreError as err:
        st.error(md_message(str(err)), icon=":material/database:")
        st.stop()


def prewarm_jobs() -> None:
    """Create the job manager on the first Lab visit: its workers import torch and warm up in their own
    processes (seconds) while the user reads the page, so that Run starts training at once.
    RFL_PREWARM=0 turns it off (the page tests, which never train)."""
    if os.environ.get("RFL_PREWARM", "1") != "0":
        job_manager()


@st.cache_resource(show_spinner=False)
def _run_store():
    from core.runs.store import RunStore

    store = RunStore(None)
    store.check()
    return store


def run_store():
    """A reader on the run store (RFL_STORE or runs/runs.sqlite); cheap, unlike the manager."""
    return _or_store_message(_run_store)


def client_id() -> str:
    """This person: one id per browser (its signed cookie, pages/_identity.py), the same in every tab and
    after a reload. It owns runs, sweeps, votes and a room's teacher seat, and its work is admitted
    against one person's share of the server."""
    from pages._identity import person

    return person()


def tab_id() -> str:
    """One id per tab, for what is counted per tab rather than per person."""
    from pages._identity import tab_id as this_tab

    return this_tab()


# ---- the setup ------------------------------------------------------------------------------
def preset_values(name: str) -> dict:
    overrides = PRESETS[name].overrides if name in PRESETS else {}
    return {f.name: typed(f.name, overrides.get(f.name, DEFAULTS[f.name])) for f in FIELDS}


def widget_key(name: str) -> str:
    return keys.KNOB_PREFIX + name


def init_setup() -> None:
    """Once per browser session: the setup from the URL (a shared link), else the default preset."""
    ss = st.session_state
    if keys.LAB_VALUES not in ss:
        params = st.query_params
        preset = params.get("preset", DEFAULT_PRESET)
        notes = []
        if preset not in PRESET_CHOICES:
            notes.append(f"unknown preset {_clip(preset)!r} in the link; using {DEFAULT_PRESET} "
                         f"(presets: {', '.join(PRESET_CHOICES)})")
            preset = DEFAULT_PRESET
        values = preset_values(preset)
        for name in values:
            if name in params:
                try:
                    values[name] = link_value(name, params[name], values)
                except ConfigError as err:
                    notes.append(f"ignored from the link: {err}")
        ss.lab_values, ss.lab_preset, ss.lab_url_notes = values, preset, notes
        runs = _runs_from_params(params)
        if runs:
            ss.lab_runs = runs
        real = params.get("real", "")
        if real.isalnum() and len(real) <= 40:  # the Real images page's run
            ss.real_run = real
        if params.get("present") == "1":
            ss.frame_presentation = True


MAX_LINK_TEXT = 200  # a link's value longer than this is not a value of any knob
JS_SAFE_INT = 2**53 - 1  # a number input (JavaScript) holds integers up to this exactly


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def link_value(name: str, raw: str, values: dict):
    """One knob's value from a link, parsed by its type (never evaluated). A value the knob's input cannot
    hold (not finite, beyond 2^53, very long text) raises ConfigError naming the field and what is allowed;
    a value it can hold but the config refuses is kept, so the Lab shows the message by that knob."""
    if len(raw) > MAX_LINK_TEXT:
        raise ConfigError(name, f"the link's value is {len(raw)} characters long; a value is at most {MAX_LINK_TEXT}")
    value = typed(name, parse_value(name, KINDS[name], raw))
    if isinstance(value, (int, float)) and not (math.isfinite(value) and abs(value) <= JS_SAFE_INT):
        try:  # the config's own message names the allowed range
            Config.from_dict({**values, name: value})
        except ConfigError as err:
            if err.field == name:
                raise
        raise ConfigError(name, f"{raw!r} is not a finite number within ±2^53")
    return value


def apply_setup(preset: str, values: dict) -> None:
    """Replace every value (and the widgets showing them) by a preset's or an imported config's."""
    ss = st.session_state
    ss.lab_preset = ss.lab_preset_pick = preset if preset in PRESET_CHOICES else NO_PRESET
    ss.lab_values = {f.name: typed(f.name, values.get(f.name, DEFAULTS[f.name])) for f in FIELDS}
    for name, value in ss.lab_values.items():
        ss[widget_key(name)] = value


def _runs_from_params(params) -> dict | None:
    """``pair=<pair id>`` (twins submitted together) or ``runs=<std id>,<adv id>`` (e.g. cached twins). Runs that
    are not the Lab's (a real-image run, a sweep) are left out with a note: the Lab cannot draw them."""
    runs = None
    if "runs" in params:
        parts = params["runs"].split(",")
        if len(parts) == 2 and all(p.isalnum() and len(p) <= 40 for p in parts):
            runs = {"std": parts[0], "adv": parts[1]}
    if runs is None and "pair" in params and params["pair"].isalnum() and len(params["pair"]) <= 40:
        found = {r["mode"]: r["id"] for r in run_store().pair_runs(params["pair"]) if r["mode"] in ("std", "adv")}
        runs = {**found, "pair": params["pair"]} if found else None
    if runs is None:
        return None
    for mode in ("std", "adv"):
        if runs.get(mode) and not engine_runs([runs[mode]], mode):
            runs.pop(mode)
    return runs if {"std", "adv"} & set(runs) else None


def engine_runs(run_ids: list[str], mode: str | None = None) -> bool:
    """Whether a link's runs are the Lab's (standard or adversarial, of ``mode`` when given); a real-image run
    or a sweep adds one note, once, naming the page that shows it (the Lab cannot draw it)."""
    store, ok = run_store(), True
    notes = st.session_state.setdefault(keys.LAB_URL_NOTES, [])
    for run_id in dict.fromkeys(run_ids):
        run = store.get_run(run_id, final=False)
        if run is None or run["mode"] in ((mode,) if mode else ("std", "adv")):
            continue
        ok = False
        where = "the Real images page" if run["mode"] == "real" else "the page it was made on"
        note = f"run {run['id']} of the link is a {run['mode']} run, not the Lab's: open it on {where}"
        if note not in notes:
            notes.append(note)
    return ok


def attached_runs(ids: dict) -> dict:
    """Run ids of a twin submission, plus their pair id when both belong to one pair (new twins do)."""
    store = run_store()
    pairs = {(store.get_run(run_id) or {}).get("pair_id") for run_id in ids.values()}
    pair = pairs.pop() if len(pairs) == 1 else None
    return {**ids, "pair": pair} if pair else dict(ids)


def build_config(values: dict) -> tuple[Config | None, ConfigError | None]:
    """Validate the values (never evaluating anything); the error names its field."""
    try:
        cfg = Config.from_dict(values)
        from core.engine.resources import check_memory, resolve_device

        check_memory(cfg, resolve_device(cfg.device))
        return cfg, None
    except ConfigError as err:
        return None, err


def parse_config_upload(data: bytes) -> tuple[Config | None, str | None, str | None]:
    """(config, preset, error): plain JSON only, validated by Config; nothing is ever executed."""
    if len(data) > MAX_IMPORT_BYTES:
        return None, None, f"the file is {len(data)} bytes; a config is at most {MAX_IMPORT_BYTES}"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, or an integer of over 4300 digits
        return None, None, f"not valid JSON: {' '.join(str(err).split())[:200]}"
    except RecursionError:
        return None, None, "not a config: nested too deeply"
    if not isinstance(doc, dict):
        return None, None, "expected a JSON object of config fields"
    preset = doc.get("preset") if isinstance(doc.get("preset"), str) else None
    fields = doc.get("config", doc) if isinstance(doc.get("config"), dict) else doc
    fields = {k: v for k, v in fields.items() if k != "preset"}
    try:
        return Config.from_dict(fields), preset, None
    except ConfigError as err:
        return None, None, str(err)
    except TypeError as err:  # e.g. a list where a number belongs
        return None, None, f"bad value: {err}"


def setup_link() -> dict:
    """The Lab's setup as link parameters: the preset, the fields that differ from it, the attached runs."""
    ss = st.session_state
    preset = ss.get(keys.LAB_PRESET, DEFAULT_PRESET)
    base = preset_values(preset)
    params = {"preset": preset}
    for name, value in ss.get(keys.LAB_VALUES, {}).items():
        if value != base[name]:
            params[name] = str(value)
    runs = ss.get(keys.LAB_RUNS) or {}
    if runs.get("pair"):
        params["pair"] = runs["pair"]
    elif {"std", "adv"} <= set(runs):
        params["runs"] = f"{runs['std']},{runs['adv']}"
    return params


def setup_params() -> dict:
    """The URL of the current setup: the preset, the fields that differ from it, the attached runs."""
    ss = st.session_state
    params = setup_link() if ss.get(keys.URL_SETUP, True) else {}
    if ss.get(keys.REAL_RUN) and ss.get(keys.URL_SETUP, True):
        params["real"] = ss.real_run
    if ss.get(keys.PRESENTATION):
        params["present"] = "1"
    if ss.get(keys.ROOM_CODE):  # the Room page's room: a refreshed tab stays in it
        params["room"] = ss.room_code
    params.update(ss.get(keys.URL_EXTRA) or {})  # the current page's own (Lesson: chapter, seeds); app.py clears it
    return params


def sync_url() -> None:
    """Write the setup into the address bar when it changed: copying the URL shares the setup."""
    wanted = setup_params()
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)




def presentation() -> bool:
    return bool(st.session_state.get(keys.PRESENTATION))


# What a link names when it is a Lab setup: the preset, attached runs, the seed count, or any knob.
LAB_LINK_KEYS = frozenset({"preset", "pair", "runs", "nseeds", "seedruns"}) | frozenset(f.name for f in FIELDS)


def is_lab_link(params) -> bool:
    """Whether a link's query names a Lab setup (and no Lesson chapter): such a link opens the Lab."""
    names = set(params.keys())
    return bool(names & LAB_LINK_KEYS) and "chapter" not in names
