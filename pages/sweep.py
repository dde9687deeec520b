"""Sweep: one or two knobs x seeds -> phase diagrams with the theory's boundaries drawn on top.

Thin page: widgets -> SweepSpec -> a job of the job manager (JobManager.submit_sweep: admitted against
the person's budget like a run, trained by a job worker at the workers' priority, or handed to a Dask
cluster; never in this script) -> the store, which holds each run as it finishes -> core.figures.phase
figures. A sweep belongs to the browser that started it: a reload shows it again, its owner (or the
admin) can stop it, and a link (?sweep=ID) shows it to anyone. Clicking a cell opens that run's setup in
the Lab. The cluster's address comes from the server's settings (RFL_DASK_SCHEDULER, or dask_scheduler
in .streamlit/secrets.toml; docs/cluster.md), never from a student.
"""

import json
import math
import os

import streamlit as st

from core.engine.config import Config, ConfigError
from core.engine.measure.estimate import format_seconds
from core.engine.presets import PRESETS
from core.figures.phase import QUANTITIES, boundaries_caption, cell_values, phase_figures
from core.runs.cluster import ClusterStatus, cluster_status
from core.runs.jobs import JobRefused
from core.runs.sweep import sweep_frame
from core.runs.sweep_spec import SweepSpec, estimate_seconds, parse_grid
from pages import _keys as keys
from pages._common import ACTIVE, apply_setup, client_id, job_manager, leave_pages_v1, md_message, run_store
from pages._errors import one_line
from pages._fields import FIELDS
from pages._owner import READ_ONLY_STOP, can_change, stop_runs
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

NUMERIC = [f.name for f in FIELDS if f.choices is None and f.name not in ("seed", "threads")]
EXAMPLES = {"s": "1,2,4,8", "beta": "0.1:0.7:7", "eps": "0.1:0.4:4", "alpha": "0.5:1.5:5", "P": "20,50,100"}
# A grid is checked and estimated in this server before it is admitted: 100 000 runs took 9 s to check and
# 81 s to estimate. The page stops long before that; the command line takes the larger grids.
PAGE_MAX_RUNS = 1000


def scheduler_setting() -> str | None:
    """The server's Dask scheduler address, if its operator set one."""
    address = os.environ.get("RFL_DASK_SCHEDULER", "").strip()
    if not address:
        try:
            address = str(st.secrets.get("dask_scheduler", "")).strip()
        except Exception:  # no secrets.toml: no cluster
            address = ""
    return address or None


@st.cache_data(ttl=10, show_spinner=False)
def cluster(address: str) -> ClusterStatus:
    """Asked at most every 10 s, within 3 s (core.runs.cluster.STATUS_TIMEOUT_S): the page never waits long."""
    return cluster_status(address)


def worker_table(status: ClusterStatus) -> list[dict]:
    gib = 2**30
    return [{"worker": w.name, "threads": w.threads, "memory used (GiB)": round(w.memory / gib, 2),
             "memory limit (GiB)": round(w.memory_limit / gib, 2) if w.memory_limit else None}
            for w in status.workers]


# A grid of hundreds of runs takes a second to check and to estimate (every point's config is built
# and validated): each is done once per input, not on every click of every session.
@st.cache_resource(max_entries=64, show_spinner=False)
def build_spec(preset: str, grids: tuple[str, ...], seeds: int, mode: str, overrides: tuple[str, ...]):
    try:
        base = PRESETS[preset].config().with_overrides(overrides)
        parsed = tuple(parse_grid(g, base) for g in grids)
        runs = math.prod(len(values) for _, values in parsed) * seeds * (2 if mode == "both" else 1)
        if runs > PAGE_MAX_RUNS:  # counted before the grid is built
            raise ConfigError("grid", f"{runs} runs; a sweep from this page has at most {PAGE_MAX_RUNS} "
                                      "(fewer values or seeds; `python -m core sweep` takes more)")
        return SweepSpec(base, parsed, seeds, mode), None
    except ConfigError as err:
        return None, err


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)  # the estimate's timings are kept a minute too
def sweep_seconds(spec_inputs: tuple, cluster_threads: int | None) -> float:
    """What the sweep costs on one job worker (or the cluster's threads): what it is admitted against."""
    return estimate_seconds(build_spec(*spec_inputs)[0], cluster_threads=cluster_threads or 1)


@one_line
def start_sweep(spec_inputs: tuple, address: str | None, cluster_threads: int | None) -> None:
    spec, error = build_spec(*spec_inputs)
    if error is not None:
        return
    backend = {"backend": "dask", "scheduler": address, "cluster_threads": cluster_threads} if address else {}
    try:
        st.session_state.sweep_id = job_manager().submit_sweep(spec, client_id=client_id(), preset=spec_inputs[0],
                                                               **backend)
        st.session_state.pop(keys.SWEEP_FIGURES, None)
    except JobRefused as err:
        st.session_state.sweep_refused = str(err)


def shown_sweep() -> str | None:
    """The sweep this page shows: the one just started or chosen, a link's, else this browser's newest."""
    ss = st.session_state
    if ss.get(keys.SWEEP_ID):
        return ss.sweep_id
    linked = st.query_params.get("sweep", "")
    if linked.isalnum() and len(linked) <= 40:
        return linked
    mine = run_store().list_sweeps(client_id(), limit=1)
    return mine[0]["id"] if mine else None


@st.cache_resource(max_entries=32, show_spinner=False)
def stored_spec(sweep_id: str, config_json: str) -> SweepSpec:
    return SweepSpec.from_dict(json.loads(config_json))


st.title(":material/grid_on: Sweep: where does the picture flip?")
st.caption("Sweep one or two knobs over a grid and several seeds; every cell is a finished run, "
           "coloured by its final metrics. " + boundaries_caption())

left, right = st.columns([1, 2])
with left:
    preset = st.selectbox("base preset", list(PRESETS), index=list(PRESETS).index("classroom"), key=keys.SWEEP_PRESET)
    x = st.selectbox("first knob", NUMERIC, index=NUMERIC.index("s"), key=keys.SWEEP_X)
    x_values = st.text_input(f"values of {x}", EXAMPLES.get(x, "1,2,3"), key=f"sweep_xv_{x}",
                             help="A list (1,2,4) or A:B:N for N evenly spaced points from A to B.")
    y = st.selectbox("second knob (optional)", ["(none)", *NUMERIC], index=1 + NUMERIC.index("beta"), key=keys.SWEEP_Y)
    y_values = None
    if y != "(none)":
        y_values = st.text_input(f"values of {y}", EXAMPLES.get(y, "1,2,3"), key=f"sweep_yv_{y}")
    seeds = st.number_input("seeds per point", 1, 10, 1, key=keys.SWEEP_SEEDS)
    mode = st.radio("training", ["both", "std", "adv"], horizontal=True, key=keys.SWEEP_MODE)
    eval_every = st.checkbox("evaluate only at the end (much faster)", True, key=keys.SWEEP_FINAL_ONLY,
                             help="Sweeps need final metrics only; per-step evaluation is half a run's time.")

grids = [f"{x}={x_values}"] + ([f"{y}={y_values}"] if y_values is not None else [])
overrides = [f"eval_every={PRESETS[preset].config().steps}"] if eval_every else []
spec_inputs = (preset, tuple(grids), int(seeds), mode, tuple(overrides))
spec, error = (None, ConfigError("grid", "the two knobs must differ")) if y == x else build_spec(*spec_inputs)

address = scheduler_setting()
status = cluster(address) if address else None
on_cluster = False
with left:
    if status is not None and status.error is not None:
        st.warning(f"The Dask cluster is unreachable, so sweeps run on this server: {status.error}",
                   icon=":material/cloud_off:")
    elif status is not None:
        where = st.radio("run on", [f"the cluster ({len(status.workers)} workers, {status.threads} threads)",
                                    "this server"], key=keys.SWEEP_WHERE,
                         help=f"The Dask scheduler at {status.address}, set by the server's operator.")
        on_cluster = where.startswith("the cluster")
        with st.expander(f"{len(status.workers)} workers at {status.address}", expanded=False):
            st.dataframe(worker_table(status), hide_index=True, key=keys.SWEEP_WORKERS)
    threads = max(1, status.threads) if on_cluster else None
    if error is not None:
        st.error(md_message(str(error)), icon=":material/error:")
    else:
        where = "the cluster" if on_cluster else "this machine"
        st.info(f"{len(spec)} runs, about {format_seconds(sweep_seconds(spec_inputs, threads))} on {where}.")
    st.button("Run sweep", type="primary", disabled=error is not None, key=keys.SWEEP_RUN, on_click=start_sweep,
              args=(spec_inputs, status.address if on_cluster else None, threads),
              help="The sweep runs as a background job of this browser's, on one job worker: the page can be "
                   "closed and opened again.")
    if refused := st.session_state.pop(keys.SWEEP_REFUSED, None):
        st.error(md_message(refused))

sweep_id = shown_sweep()
sweep_row = run_store().get_run(sweep_id, final=False) if sweep_id else None
if sweep_row is not None and sweep_row["mode"] != "sweep":
    sweep_row = None
if sweep_row is not None:
    st.session_state.url_extra = {"sweep": sweep_row["id"]}


def open_in_lab(spec: SweepSpec, frame, point: dict) -> None:
    """The clicked cell's setup (first seed) and its runs go to the Lab."""
    match = frame
    for name, value in point.items():
        match = match[abs(match[name].astype(float) - float(value)) < 1e-9]
    if match.empty:
        return
    seed = int(match["seed"].min())
    cfg: Config = spec.base.replace(**{k: type(getattr(spec.base, k))(v) for k, v in point.items()}, seed=seed)
    apply_setup(st.session_state.get(keys.SWEEP_PRESET, "classroom"), cfg.to_dict())
    ids = {row["mode"]: row["run_id"] for _, row in match[match["seed"] == seed].iterrows() if "run_id" in row}
    if ids:
        st.session_state.lab_runs = ids
    st.switch_page("pages/lab.py")


def tab_title(name: str) -> str:
    """'corr_gap_adv' -> 'corr_robust - corr_nonrobust (adversarial)'; one-field panels have no mode."""
    quantity, _, mode = name.rpartition("_")
    if mode in ("std", "adv"):
        return f"{QUANTITIES[quantity]} ({'standard' if mode == 'std' else 'adversarial'})"
    return QUANTITIES.get(name, name)


# While a sweep runs the page polls it. Each poll drew every panel (8 at two fields), which took the
# server 0.6-0.8 s and the browser ~0.8 s of CPU: a 56-run sweep that takes 53 s alone took 96 s in the
# page (docs/engine.md). Now a poll every 2 s at most (less often when many sessions poll: the server's
# shared budget, pages/_polling.py), and panels made again only when new rows came in.
POLL_S = 2.0


def live(sweep_id: str) -> None:
    """Polls while the sweep is active; one full rerun when it ends stops the polling."""
    run = run_store().get_run(sweep_id, final=False)
    if run is None:
        st.warning("That sweep is not in the run store any more.")
        return
    running = run["status"] in ACTIVE
    if not running and st.session_state.get(keys.SWEEP_POLLING):
        st.session_state.sweep_polling = False
        st.rerun()
    st.session_state.sweep_polling = running
    spec = stored_spec(sweep_id, json.dumps(run["config"], sort_keys=True))
    done, total = run.get("step") or 0, run.get("steps") or len(spec)
    if run["status"] == "queued":
        state = f" — queued ({job_manager().queue_position(sweep_id) or '?'} in line)"
    else:
        state = " — running" if running else f" — {'done' if run['status'] == 'finished' else run['status']}"
    st.progress(min(1.0, done / max(total, 1)), text=f"{done} of {total} runs finished{state}")
    if run["status"] in ("failed", "interrupted") or (run["status"] == "cancelled" and run.get("error")):
        st.caption(md_message(f"The sweep ended {run['status']}: {run.get('error') or 'no reason recorded'}"))
    if running and can_change([run]):  # its owner, a browser watching it, or the admin
        st.button("Stop sweep", key=keys.SWEEP_STOP, on_click=stop_runs, args=([sweep_id],),
                  help="Its finished runs stay in the store and on this page.")
    elif running:
        st.caption(READ_ONLY_STOP.replace("these runs", "this sweep").replace("stop them", "stop it"))
    frame = sweep_frame(run_store(), sweep_id) if done else None
    if frame is None or frame.empty:
        st.caption("The first cells appear as soon as their runs finish.")
        return
    workers = frame["worker"].dropna() if "worker" in frame else []
    if len(workers):
        counts = workers.value_counts().sort_index()
        st.caption("On the cluster, runs finished by worker: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    drawn = st.session_state.get(keys.SWEEP_FIGURES)
    if drawn is None or drawn[0] != (sweep_id, len(frame)):
        drawn = (sweep_id, len(frame)), phase_figures(frame, spec.base, spec.fields)
        st.session_state[keys.SWEEP_FIGURES] = drawn
    figures = drawn[1]
    names = list(figures)
    tabs = st.tabs([tab_title(n) for n in names])
    for tab, name in zip(tabs, names, strict=True):
        with tab:
            event = st.plotly_chart(figures[name], key=f"sweep_fig_{name}", on_select="rerun",
                                    selection_mode="points", width="stretch")
            points = (event or {}).get("selection", {}).get("points", []) if event else []
            if points and len(spec.fields) == 2:
                p = points[0]
                open_in_lab(spec, frame, dict(zip(spec.fields, cell_values(p), strict=True)))
    table = frame.drop(columns=[c for c in ("worker",) if c in frame])
    st.download_button("Download the table (CSV)", table.to_csv(index=False), "sweep.csv", "text/csv",
                       key=keys.SWEEP_CSV)
    if not running:
        pick_and_open(spec, frame)


def pick_and_open(spec: SweepSpec, frame) -> None:
    """Open one point in the Lab: the swept values as choices (a click on a cell does the same)."""
    columns = st.columns(len(spec.fields) + 1, vertical_alignment="bottom")
    point = {}
    for column, name in zip(columns, spec.fields, strict=False):
        point[name] = column.selectbox(name, sorted(frame[name].unique().tolist()), key=f"sweep_pick_{name}")
    if columns[-1].button("Open in the Lab", key=keys.SWEEP_OPEN):
        open_in_lab(spec, frame, point)


with right:
    if sweep_row is None:
        st.caption("Choose the knobs and press Run sweep. Try s = 1,2,4,8 against β = 0.1:0.7:7: "
                   "standard training flips from non-robust to robust features along the density curve.")
    else:
        live_fragment(live, sweep_row["status"] in ACTIVE, sweep_row["id"], at_least_s=POLL_S)
