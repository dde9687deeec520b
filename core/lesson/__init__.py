"""The Lesson: the paper's argument as chapters a class follows — predict, run, reveal.

Chapters are plain data (``CHAPTERS``): a question with its answers, the experiment that
decides it (presets plus overrides, modes, seeds), what to look at, a short explanation and
the names of the checks that decide the reveal. ``chapter_verdict`` turns the runs of a
chapter (any objects with ``.final``, ``.history``, ``.phase_transition_step``) into a
verdict that says on how many seeds the checks held — or that the runs are incomplete, so
that no page ever reveals what its runs did not produce.

May import: ``core.engine`` and ``core.real``. Never ``core.runs``, ``core.figures`` or
``core.cli``: the store-side helpers live in ``core.runs.lesson_runs``.
"""

from .chapters import (
    CHAPTERS,
    MAX_SEEDS,
    OPENING,
    Arm,
    Chapter,
    Experiment,
    LessonError,
    Shows,
    check_seeds,
    get_chapter,
)
from .checks import CHECKS, LessonCheck
from .plan import Job, chapter_keys, chapter_results, lesson_jobs
from .verdict import LessonRun, Verdict, chapter_verdict, real_run, run_from_history

__all__ = ["CHAPTERS", "CHECKS", "MAX_SEEDS", "OPENING", "Arm", "Chapter", "Experiment", "Job", "LessonCheck",
           "LessonError", "LessonRun", "Shows", "Verdict", "chapter_keys", "chapter_results", "chapter_verdict",
           "check_seeds", "get_chapter", "lesson_jobs", "real_run", "run_from_history"]
