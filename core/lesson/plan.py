"""Which runs a set of chapters needs, each identical setup once.

Chapters 2, 3, 4 and chapter 7's multi-step arm all train the classroom twins: ``lesson_jobs``
groups every (arm, seed) of the chosen chapters by its config, so those twins train once and
every chapter reads the same runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .chapters import Chapter

MODE_ORDER = ("std", "adv", "real")


@dataclass(frozen=True)
class Job:
    key: str  # the config as sorted JSON (device and threads left out) plus the kind
    kind: str  # "synthetic" | "real"
    preset: str  # the arm's preset, recorded with the runs
    config: object  # core.engine Config or core.real RealConfig
    modes: tuple[str, ...]


def job_key(kind: str, cfg) -> str:
    data = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "threads")}
    return f"{kind}:{json.dumps(data, sort_keys=True, separators=(',', ':'))}"


def chapter_keys(chapter: Chapter, seeds=None) -> dict[tuple[str, int], tuple[str, object, str]]:
    """(arm name, seed) -> (job key, config, preset) for every arm that trains something."""
    exp = chapter.experiment
    out = {}
    for arm in exp.arms:
        if not arm.modes:
            continue
        for seed, cfg in zip(exp.seed_list(seeds), exp.configs(arm, seeds), strict=True):
            out[(arm.name, seed)] = (job_key(exp.kind, cfg), cfg, arm.preset)
    return out


def lesson_jobs(chapters, seeds=None) -> list[Job]:
    """The distinct runs the chapters need, in chapter order; modes of identical setups are merged."""
    jobs: dict[str, Job] = {}
    for chapter in chapters:
        kind = chapter.experiment.kind
        for (arm_name, _), (key, cfg, preset) in chapter_keys(chapter, seeds).items():
            modes = chapter.experiment.arm(arm_name).modes
            if key in jobs:
                merged = set(jobs[key].modes) | set(modes)
                modes = tuple(m for m in MODE_ORDER if m in merged)
                jobs[key] = Job(key, kind, jobs[key].preset, cfg, modes)
            else:
                jobs[key] = Job(key, kind, preset, cfg, tuple(m for m in MODE_ORDER if m in modes))
    return list(jobs.values())


def chapter_results(chapter: Chapter, runs_by_key: dict[str, dict], seeds=None) -> dict:
    """chapter_verdict's input from runs gathered per job key ({mode: run}); absent keys stay absent."""
    return {pair: runs_by_key[key] for pair, (key, _, _) in chapter_keys(chapter, seeds).items() if key in runs_by_key}
