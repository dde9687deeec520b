"""``python -m core lesson``: every chapter's experiments headless, each chapter's verdict printed.

Identical setups train once (chapters 2-4 and chapter 7's multi-step arm share the classroom
twins). With ``--store`` the runs are recorded, and setups already finished in the store are read
back instead of retrained: run it before class and the Lesson page shows every chapter at once.
Bad input (``--seeds 9``, ``--chapters 12``) exits with code 2 and one line, before any work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..lesson import (
    CHAPTERS,
    CHECKS,
    LessonError,
    LessonRun,
    chapter_results,
    chapter_verdict,
    check_seeds,
    get_chapter,
    lesson_jobs,
)


def add_lesson_parser(sub) -> None:
    p = sub.add_parser("lesson", help="run the Lesson's chapters headless and print each chapter's verdict")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per chapter, N in 1..5 (default 3)")
    p.add_argument("--chapters", default="", metavar="LIST", help="comma-separated chapter numbers (default: all)")
    p.add_argument("--json", metavar="PATH", help="write each chapter's verdict as JSON")
    p.add_argument("--store", metavar="PATH", help="record the runs in this run store; reuse what it already holds")
    p.set_defaults(func=cmd_lesson)


def parse_chapters(text: str) -> list:
    if not text.strip():
        return list(CHAPTERS)
    return [get_chapter(part.strip()) for part in text.split(",")]


def run_job(job, store=None) -> dict:
    """{mode: run} for one distinct setup: read from the store when it holds it, else trained (and recorded)."""
    if store is not None:
        from ..runs.lesson_runs import find_run, load_run

        found = {mode: load_run(store, find_run(store, job.config, mode)) for mode in job.modes}
        found = {mode: run for mode, run in found.items() if run is not None}
        todo = tuple(mode for mode in job.modes if mode not in found)
        if not todo:
            return found
    else:
        found, todo = {}, job.modes
    if job.kind == "real":
        return {**found, "real": _run_real(job, store)}
    if store is not None:
        from .runs import run_twins_recorded

        results, _ = run_twins_recorded(store.path, job.config, todo, preset=job.preset)
    else:
        from ..engine.train import run_twins

        results = run_twins(job.config, todo)
    return {**found, **results}


def _run_real(job, store):
    if store is None:
        from ..real import run_real

        return run_real(job.config)
    from ..runs.real_runs import MODE, PERCENT, record_real

    run_id = store.create_run(job.config, MODE, preset=job.preset, client_id="cli", steps=PERCENT)
    try:
        result = record_real(store, run_id, job.config)
    except BaseException as err:
        store.finish_run(run_id, "failed", f"failed: {type(err).__name__}: {err}".splitlines()[0], only_if_active=True)
        raise
    store.finish_run(run_id, result.status, result.reason)
    return result


def chapter_json(chapter, verdict) -> dict:
    data = verdict.to_json()
    for name, entry in data["checks"].items():
        entry["text"] = CHECKS[name].text
    return {"number": chapter.number, "id": chapter.id, "title": chapter.title, **data}


def cmd_lesson(args) -> int:
    try:
        seeds = check_seeds(args.seeds)
        chapters = parse_chapters(args.chapters)
    except LessonError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = None
    if args.store:
        from ..runs.store import RunStore

        store = RunStore(args.store)
    jobs = lesson_jobs(chapters, seeds)
    runs_by_key = {}
    for index, job in enumerate(jobs, 1):
        print(f"[{index}/{len(jobs)}] {job.preset} seed {job.config.seed}: {', '.join(job.modes)}", file=sys.stderr)
        try:
            runs_by_key[job.key] = run_job(job, store)
        except Exception as err:  # one broken setup makes its chapters incomplete, not the whole lesson
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            print(f"  failed: {reason}", file=sys.stderr)
            runs_by_key[job.key] = {mode: LessonRun([], "failed", reason) for mode in job.modes}
    report = []
    for chapter in chapters:
        verdict = chapter_verdict(chapter, chapter_results(chapter, runs_by_key, seeds), seeds)
        report.append(chapter_json(chapter, verdict))
        print(f"{chapter.number}. {chapter.title}: {verdict.summary()}")
        for name, (held, total) in verdict.checks.items():
            if held < total:
                print(f"   {name} held on {held}/{total}: " + "; ".join(verdict.details[name]))
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": seeds, "chapters": report}, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if store is not None:
        print(f"runs recorded in {store.path}", file=sys.stderr)
    return 0 if all(entry["holds"] for entry in report) else 1
