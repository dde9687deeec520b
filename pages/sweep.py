"""Sweep: one or two knobs x seeds -> phase diagrams with the theory's boundaries drawn on top.

Thin page: widgets -> SweepSpec -> a SweepRunner (training runs in joblib's worker processes, or
on a Dask cluster, never in this script) -> core.figures.phase figures. Clicking a cell opens that
run's setup in the Lab. The cluster's address comes from the server's settings (RFL_DASK_SCHEDULER,
or dask_scheduler in .streamlit/secrets.toml; docs/cluster.md), never from a student.
"""

import os

import streamlit as st

from core.engine.config import Config, ConfigError
from core.engine.estimate import format_seconds
from core.engine.presets import PRESETS
from core.figures.phase import QUANTITIES, boundaries_caption, cell_values, phase_figures
from core.runs.cluster import ClusterStatus, cluster_status
from core.runs.sweep_runner import SweepRunner
from core.runs.sweep_spec import SweepSpec, estimate_seconds, parse_grid
from pages import _keys as keys
from pages._common import apply_setup, leave_pages_v1, md_message
from pages._fields import FIELDS
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

NUMERIC = [f.name for f in FIELDS if f.choices is None and f.name not in ("seed", "threads")]
EXAMPLES = {"s": "1,2,4,8", "beta": "0.1:0.7:7", "eps": "0.1:0.4:4", "alpha": "0.5:1.5:5", "P": "20,50,100"}


@st.cache_resource(show_spinner=False)
def sweeps() -> dict[str, SweepRunner]:
    """Sweeps of this server process by id, so a refreshed page finds its sweep again."""
    return {}


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


# A grid of thousands of runs takes seconds to check and to estimate (every point's config is built
# and validated): each is done once per input, not on every click of every session.
@st.cache_resource(max_entries=64, show_spinner=False)
def build_spec(preset: str, grids: tuple[str, ...], seeds: int, mode: str, overrides: tuple[str, ...]):
    try:
        base = PRESETS[preset].config().with_overrides(overrides)
        spec = SweepSpec(base, tuple(parse_grid(g, base) for g in grids), seeds, mode)
        return spec, None
    except ConfigError as err:
        return None, err


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)  # the estimate's timings are kept a minute too
def sweep_seconds(spec_inputs: tuple, cluster_threads: int | None) -> float:
    return estimate_seconds(build_spec(*spec_inputs)[0], cluster_threads=cluster_threads)


st.title("Sweep: where does the picture flip?")
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
        st.warning(f"The Dask cluster is unreachable, so sweeps run on this server: {status.error}", icon="📡")
    elif status is not None:
        where = st.radio("run on", [f"the cluster ({len(status.workers)} workers, {status.threads} threads)",
                                    "this server"], key=keys.SWEEP_WHERE,
                         help=f"The Dask scheduler at {status.address}, set by the server's operator.")
        on_cluster = where.startswith("the cluster")
        with st.expander(f"{len(status.workers)} workers at {status.address}", expanded=False):
            st.dataframe(worker_table(status), hide_index=True, key=keys.SWEEP_WORKERS)
    if error is not None:
        st.error(md_message(str(error)), icon="⚠️")
    else:
        threads, where = (max(1, status.threads), "the cluster") if on_cluster else (None, "this machine")
        st.info(f"{len(spec)} runs, about {format_seconds(sweep_seconds(spec_inputs, threads))} on {where}.")
    if st.button("Run sweep", type="primary", disabled=error is not None, key=keys.SWEEP_RUN):
        backend = {"backend": "dask", "scheduler": status.address} if on_cluster else {}
        runner = SweepRunner(spec, preset=preset, **backend).start()
        sweeps()[runner.id] = runner
        st.session_state.sweep_id = runner.id

runner = sweeps().get(st.session_state.get(keys.SWEEP_ID) or st.query_params.get("sweep", ""))


def open_in_lab(runner: SweepRunner, point: dict) -> None:
    """The clicked cell's setup (first seed) and its runs go to the Lab."""
    frame = runner.frame()
    match = frame
    for name, value in point.items():
        match = match[abs(match[name].astype(float) - float(value)) < 1e-9]
    if match.empty:
        return
    seed = int(match["seed"].min())
    cfg: Config = runner.spec.base.replace(**{k: type(getattr(runner.spec.base, k))(v) for k, v in point.items()},
                                           seed=seed)
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


def live(runner: SweepRunner) -> None:
    """Polls while the sweep runs; one full rerun when it ends stops the polling."""
    if not runner.running and st.session_state.get(keys.SWEEP_POLLING):
        st.session_state.sweep_polling = False
        st.rerun()
    st.session_state.sweep_polling = runner.running
    done = len(runner.rows)
    st.progress(done / max(runner.total, 1), text=f"{done} of {runner.total} runs finished"
                + (" — running" if runner.running else (" — cancelled" if runner.cancelled else " — done")))
    if runner.error:
        st.error(f"The sweep stopped: {md_message(str(runner.error))}")
    by_worker = runner.finished_by_worker()
    if runner.scheduler is not None and by_worker:
        st.caption(f"On the cluster at {runner.scheduler}, runs finished by worker: "
                   + ", ".join(f"{name} {count}" for name, count in sorted(by_worker.items())))
    if runner.running and st.button("Stop sweep", key=keys.SWEEP_STOP):
        runner.cancel()
    if done == 0:
        st.caption("The first cells appear as soon as their runs finish.")
        return
    frame = runner.frame()
    drawn = st.session_state.get(keys.SWEEP_FIGURES)
    if drawn is None or drawn[0] != (runner.id, len(frame)):
        drawn = (runner.id, len(frame)), phase_figures(frame, runner.spec.base, runner.spec.fields)
        st.session_state[keys.SWEEP_FIGURES] = drawn
    figures = drawn[1]
    names = list(figures)
    tabs = st.tabs([tab_title(n) for n in names])
    for tab, name in zip(tabs, names, strict=True):
        with tab:
            event = st.plotly_chart(figures[name], key=f"sweep_fig_{name}", on_select="rerun",
                                    selection_mode="points", width="stretch")
            points = (event or {}).get("selection", {}).get("points", []) if event else []
            if points and len(runner.spec.fields) == 2:
                p = points[0]
                open_in_lab(runner, dict(zip(runner.spec.fields, cell_values(p), strict=True)))
    st.download_button("Download the table (CSV)", frame.to_csv(index=False), "sweep.csv", "text/csv",
                       key=keys.SWEEP_CSV)
    if not runner.running:
        pick_and_open(runner, frame)


def pick_and_open(runner: SweepRunner, frame) -> None:
    """Open one point in the Lab: the swept values as choices (a click on a cell does the same)."""
    columns = st.columns(len(runner.spec.fields) + 1, vertical_alignment="bottom")
    point = {}
    for column, name in zip(columns, runner.spec.fields, strict=False):
        point[name] = column.selectbox(name, sorted(frame[name].unique().tolist()), key=f"sweep_pick_{name}")
    if columns[-1].button("Open in the Lab", key=keys.SWEEP_OPEN):
        open_in_lab(runner, point)


with right:
    if runner is None:
        st.caption("Choose the knobs and press Run sweep. Try s = 1,2,4,8 against β = 0.1:0.7:7: "
                   "standard training flips from non-robust to robust features along the density curve.")
    else:
        live_fragment(live, runner.running, runner, at_least_s=POLL_S)
