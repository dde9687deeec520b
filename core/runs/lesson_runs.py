"""The Lesson's runs in the run store: find a chapter's runs, submit the missing ones, read them back.

Run ids are kept in chapter_verdict's shape: ``{(arm name, seed): {mode: run id or None}}``.
Identical setups are shared by config (the store's cache key), so chapters 2-4 and chapter 7's
multi-step arm find the same classroom twins, and a lesson warmed before class
(``python -m core lesson --store PATH``) appears at once. Real-image runs (mode "real") are
found the same way: the store keys them by their RealConfig.
"""

from __future__ import annotations

from ..lesson import Chapter, chapter_keys, real_run, run_from_history
from .real_runs import MODE as REAL_MODE
from .real_runs import load_result
from .store import ACTIVE


def find_run(store, cfg, mode: str, *, active: bool = False) -> str | None:
    """A finished run with this config and mode (store.find_cached); with ``active``, else a queued or
    running one, so that asking twice never trains the same setup twice."""
    found = store.find_cached(cfg, mode)
    if found or not active:
        return found
    return store.find_latest(cfg, mode, ACTIVE)


def chapter_runs(store, chapter: Chapter, seeds=None) -> dict[tuple[str, int], dict[str, str | None]]:
    """The finished runs of a chapter already in the store; None where a mode has none yet."""
    out = {}
    for (arm_name, seed), (_, cfg, _) in chapter_keys(chapter, seeds).items():
        modes = chapter.experiment.arm(arm_name).modes
        out[(arm_name, seed)] = {mode: find_run(store, cfg, mode) for mode in modes}
    return out


def submit_chapter(manager, chapter: Chapter, seeds=None, client_id: str = "local", *, store=None) -> dict:
    """Queue what the chapter still needs; reuse finished, queued and running runs of the same setups.

    Uses only JobManager.submit_twins / submit_real. A refusal (JobRefused: a cap of the budget) is
    raised after the runs that fit were queued; calling again later queues the rest and nothing twice.
    """
    store = store if store is not None else manager.store
    ids: dict[tuple[str, int], dict[str, str | None]] = {}
    for (arm_name, seed), (_, cfg, preset) in chapter_keys(chapter, seeds).items():
        modes = chapter.experiment.arm(arm_name).modes
        found = {mode: find_run(store, cfg, mode, active=True) for mode in modes}
        ids[(arm_name, seed)] = found
        todo = tuple(mode for mode in modes if not found[mode])
        if not todo:
            continue
        if chapter.experiment.kind == "real":
            found[REAL_MODE] = manager.submit_real(cfg, client_id=client_id)
        else:
            found.update(manager.submit_twins(cfg, client_id=client_id, preset=preset, modes=todo))
    return ids


def load_run(store, run_id: str | None):
    """A stored run as chapter_verdict reads it (its status included), or None if there is no such run."""
    run = store.get_run(run_id) if run_id else None
    if run is None:
        return None
    if run["mode"] == REAL_MODE:
        return real_run(load_result(store, run_id), status=run["status"], reason=run["error"])
    frame = store.metrics_frame(run_id)
    history = [{k: v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    for row in history:
        row["step"] = int(row["step"])
    return run_from_history(history, status=run["status"], reason=run["error"])


def chapter_results(store, ids: dict) -> dict:
    """chapter_verdict's input from run ids: runs that are missing from the store stay missing."""
    results = {}
    for pair, modes in ids.items():
        runs = {mode: load_run(store, run_id) for mode, run_id in modes.items()}
        results[pair] = {mode: run for mode, run in runs.items() if run is not None}
    return results
