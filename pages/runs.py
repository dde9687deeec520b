"""Runs: the history in the store; overlay, download, delete; open a pair or import a config into the Lab.

The runs of sweeps are left out unless asked for (a sweep of hundreds would push every other run off the
list; the Sweep page shows them). With the admin token: the queue, each job's owner (an anonymous short
id) and estimate, and buttons to stop everything of one person or any one run or sweep.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import streamlit as st

from core.classroom.persons import short_id
from core.engine.measure.estimate import format_seconds
from core.engine.metrics import METRICS
from core.figures.charts import overlay_figure
from pages import _keys as keys
from pages._common import (
    NO_PRESET,
    apply_setup,
    job_manager,
    leave_pages_v1,
    md_escape,
    parse_config_upload,
    run_store,
)
from pages._errors import flash, one_line
from pages._owner import READ_ONLY_DELETE, can_change, delete_runs, is_admin, requester, stop_runs
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
LIST_LIMIT = 500


def table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        final = r.get("final") or {}
        rows.append({
            "id": r["id"], "pair": r.get("pair_id") or "", "mode": r.get("mode"), "status": r["status"],
            "preset": r.get("preset") or "", "created": datetime.fromtimestamp(r["created"]).strftime("%m-%d %H:%M"),
            "step": r.get("step"), "steps": r.get("steps"),
            "corr robust": final.get("corr_robust"), "corr non-robust": final.get("corr_nonrobust"),
            "clean": final.get("acc_clean"), "PGD": final.get("acc_pgd"), "swap": final.get("acc_swap"),
        })
    return pd.DataFrame(rows)


def run_json(run: dict) -> dict:
    frame = run_store().metrics_frame(run["id"])
    keep = ("id", "pair_id", "mode", "status", "preset", "created", "finished", "seed", "device", "code_version",
            "error", "step", "steps")
    return {**{k: run.get(k) for k in keep}, "config": run["config"],
            "metrics": json.loads(frame.to_json(orient="records"))}


@one_line
def open_in_lab(run: dict) -> None:
    if run.get("mode") == "real":  # a real-image run has its own page
        ss.real_run = run["id"]
        ss.runs_goto_real = True
        return
    pair = run.get("pair_id")
    ids = {r["mode"]: r["id"] for r in run_store().pair_runs(pair)} if pair else {run["mode"]: run["id"]}
    apply_setup(run.get("preset") or NO_PRESET, run["config"])
    ss.lab_runs = {**ids, "pair": pair} if pair else ids
    ss.pop(keys.LAB_FRAMES, None)
    ss.runs_goto_lab = True


def load_into_lab(preset: str | None, values: dict) -> None:
    apply_setup(preset or NO_PRESET, values)
    ss.runs_goto_lab = True


@one_line
def delete(selected: list[dict]) -> None:
    delete_runs(selected)  # only the runs this browser started, unless it holds the admin token
    ss.pop(keys.LAB_FRAMES, None)


@one_line
def stop_person(person: str) -> None:
    if not job_manager().stop_person(person, requester()):
        flash(f"person {short_id(person)} has nothing queued or running any more")


def admin_queue() -> None:
    """The queue as the admin sees it, and the two ways to clear it; it follows the queue while there is one."""
    st.subheader("The queue (admin)")
    live_fragment(queue_panel, bool(job_manager().queue_view()), at_least_s=QUEUE_POLL_S)


QUEUE_POLL_S = 3.0


def queue_panel() -> None:
    rows = job_manager().queue_view()
    if not rows:
        st.caption("Nothing is queued or running.")
        return
    st.dataframe(pd.DataFrame([{
        "run": r["run_id"], "kind": r["mode"], "preset": r["preset"] or "", "person": short_id(r["person"]),
        "watchers": r["watchers"], "place": "running" if r["place"] == 0 else f"{r['place']} in line",
        "estimate": format_seconds(r["estimate_s"]), "memory (MiB)": round(r["memory"] / 2**20)} for r in rows]),
        hide_index=True, key=keys.RUNS_QUEUE)
    left, right = st.columns(2, vertical_alignment="bottom")
    people = sorted({r["person"] for r in rows}, key=short_id)
    person = left.selectbox("person", people, format_func=short_id, key=keys.RUNS_ADMIN_PERSON)
    left.button("Stop everything of this person", key=keys.RUNS_ADMIN_STOP_PERSON, on_click=stop_person,
                args=(person,), help="Their runs stop; runs others watch too go on without them.")
    labels = {r["run_id"]: f"{r['run_id']} · {r['mode']} · {short_id(r['person'])}" for r in rows}
    job = right.selectbox("run or sweep", list(labels), format_func=labels.get, key=keys.RUNS_ADMIN_JOB)
    right.button("Stop it for everyone", key=keys.RUNS_ADMIN_STOP_JOB, on_click=stop_runs, args=([job],))


st.title(":material/history: Runs")
if is_admin():
    admin_queue()
with_sweeps = st.toggle("include the runs of sweeps", key=keys.RUNS_WITH_SWEEPS,
                        help="Sweeps' runs are on the Sweep page; here they would push the others off the list.")
runs = run_store().list_runs(limit=LIST_LIMIT, sweeps=with_sweeps)
sweeps, sweep_runs = run_store().count_sweeps()
if not runs:
    st.info("No runs stored yet: start one in the Lab.")
else:
    frame = table(runs)
    hidden = "" if with_sweeps or not sweeps else f" ({sweep_runs} runs of {sweeps} sweep(s) are on the Sweep page)"
    st.caption(f"The {len(runs)} newest runs{hidden}; select rows to compare, download or delete them.")
    event = st.dataframe(frame, key=keys.RUNS_TABLE, on_select="rerun", selection_mode="multi-row", hide_index=True,
                         column_config={c: st.column_config.NumberColumn(format="%.2f")
                                        for c in ("corr robust", "corr non-robust", "clean", "PGD", "swap")})
    chosen = [runs[i] for i in event.selection.rows] if event and event.selection else []
    if chosen:
        metric = st.selectbox("metric", METRICS, key=keys.RUNS_METRIC)
        frames = {f"{r['id']} · {r['mode']} · {r.get('preset') or 'custom'}": run_store().metrics_frame(r["id"])
                  for r in chosen}
        st.plotly_chart(overlay_figure(frames, metric), key=keys.RUNS_OVERLAY, config={"displaylogo": False})
        long = pd.concat([f.assign(run_id=r["id"], mode=r["mode"]) for f, r in zip(frames.values(), chosen,
                                                                                     strict=True)])
        cols = st.columns(4)
        cols[0].download_button("metrics (CSV)", long.to_csv(index=False), "metrics.csv", "text/csv",
                                key=keys.RUNS_CSV)
        cols[1].download_button("runs (JSON)", json.dumps([run_json(r) for r in chosen], indent=1), "runs.json",
                                "application/json", key=keys.RUNS_JSON)
        cols[2].download_button("config (JSON)", json.dumps(chosen[0]["config"], indent=1, sort_keys=True),
                                "config.json", "application/json", key=keys.RUNS_CONFIG,
                                help="The first selected run's config: import it here later, or share it.")
        cols[3].button("Open in the Lab", key=keys.RUNS_OPEN, on_click=open_in_lab, args=(chosen[0],),
                       help="Show the first selected run and its twin in the Lab, with its setup "
                                "(a real-image run: on the Real images page).")
        mine = [r for r in chosen if can_change([r])]
        if len(mine) < len(chosen):
            st.caption(READ_ONLY_DELETE.format(n=len(chosen) - len(mine)))
        if mine:
            with st.expander(f"Delete {len(mine)} selected run(s)"):
                sure = st.checkbox("yes, delete them and their metrics", key=keys.RUNS_SURE)
                st.button("Delete", key=keys.RUNS_DELETE, disabled=not sure, on_click=delete, args=(mine,))

st.subheader("Import a config")
upload = st.file_uploader("config JSON (from a download here or `python -m core run --json`)", type=["json"],
                          key=keys.RUNS_UPLOAD)
if upload is not None:
    cfg, preset, error = parse_config_upload(upload.getvalue())
    if error:
        st.error(f"Not imported: {md_escape(error)}")  # the message quotes the file's text
    else:
        st.json(cfg.to_dict(), expanded=False)
        st.button("Load into the Lab", key=keys.RUNS_LOAD, type="primary", on_click=one_line(load_into_lab),
                  args=(preset, cfg.to_dict()))

# Buttons act in callbacks (a click survives a rerun that way), then the page moves on here.
if ss.pop(keys.RUNS_GOTO_LAB, False):
    st.switch_page("pages/lab.py")
if ss.pop(keys.RUNS_GOTO_REAL, False):
    st.switch_page("pages/real.py")
