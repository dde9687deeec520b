"""The Lesson page's runs: which runs a chapter has (this session's, or anyone's cached ones), submitting the
missing ones as background jobs, and turning finished ones into what core.lesson's verdict reads.

Keys are (arm, seed, mode). Everything trains in the job workers; the page only reads the store.
"""

from __future__ import annotations

import streamlit as st

from core.lesson import Chapter, chapter_keys, chapter_verdict, real_run, run_from_history
from pages import _keys as keys
from pages._common import ACTIVE, client_id, job_manager, run_store
from pages._lesson_adapt import history

ENDED_BADLY = ("failed", "cancelled", "interrupted", "diverged")


def wanted(chapter: Chapter, seeds: int) -> dict[tuple[str, int, str], object]:
    """(arm, seed, mode) -> the config to run, for every run the chapter's experiment needs."""
    exp = chapter.experiment
    return {(arm, seed, mode): cfg for (arm, seed), (_, cfg, _) in chapter_keys(chapter, seeds).items()
            for mode in exp.arm(arm).modes}


def _latest(store, cfg, mode: str) -> str | None:
    """A finished run of this config if any (the cache), else the newest of any status."""
    return store.find_cached(cfg, mode) or store.find_latest(cfg, mode)


def _session_ids() -> dict:
    return st.session_state.setdefault(keys.LESSON_IDS, {})


def chapter_ids(chapter: Chapter, seeds: int) -> dict[tuple[str, int, str], str | None]:
    """The run of each needed (arm, seed, mode): submitted in this session, else found in the store."""
    store = run_store()
    mine = _session_ids().get((chapter.number, seeds), {})
    return {key: mine.get(key) or _latest(store, cfg, key[2]) for key, cfg in wanted(chapter, seeds).items()}


def submit(chapter: Chapter, seeds: int) -> str | None:
    """Queue every needed run that has no finished one; None, or the one-line reason the manager refused."""
    from core.runs.jobs import JobRefused

    store, manager = run_store(), job_manager()
    ids = {}
    try:
        for key, cfg in wanted(chapter, seeds).items():
            arm, _, mode = key
            cached = store.find_cached(cfg, mode)
            if cached:
                ids[key] = cached
            elif mode == "real":
                ids[key] = manager.submit_real(cfg, client_id=client_id())
            else:
                ids[key] = manager.submit(cfg, mode, client_id=client_id(), preset=arm)
    except JobRefused as err:
        return str(err)
    finally:
        _session_ids()[(chapter.number, seeds)] = ids
    return None


def statuses(ids: dict) -> dict:
    store = run_store()
    return {key: (store.get_run(run_id) if run_id else None) for key, run_id in ids.items()}


def state(chapter: Chapter, runs: dict) -> str:
    """'data' (nothing to train), 'none' (not run yet), 'active', 'failed' (some run ended badly) or 'finished'."""
    if chapter.experiment.kind == "data":
        return "data"
    if not runs or any(r is None for r in runs.values()):
        return "none" if all(r is None for r in runs.values()) else "partial"
    found = [r["status"] for r in runs.values()]
    if any(s in ACTIVE for s in found):
        return "active"
    if any(s in ENDED_BADLY for s in found):
        return "failed"
    return "finished"


def results(ids: dict, runs: dict) -> dict:
    """{(arm, seed): {mode: run}} as core.lesson.chapter_verdict reads it, from the store."""
    from core.runs.real_runs import load_result

    store = run_store()
    out: dict = {}
    for (arm, seed, mode), run_id in ids.items():
        run = runs.get((arm, seed, mode))
        if run is None:
            continue
        if mode == "real":
            item = real_run(load_result(store, run_id), run["status"], run.get("error"))
        else:
            item = run_from_history(history(store.metrics_frame(run_id)), run["status"], run.get("error"))
        out.setdefault((arm, seed), {})[mode] = item
    return out


def verdict(chapter: Chapter, seeds: int, ids: dict, runs: dict):
    return chapter_verdict(chapter, results(ids, runs) if ids else {}, seeds=seeds)
