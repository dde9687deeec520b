"""A chapter's verdict from its runs: on how many seeds its checks held, or why it cannot say yet.

``results`` maps (arm name, seed) to {mode: run}. A run is anything with ``.final`` (the metrics of
core.engine.metrics at its last logged step), ``.history`` and ``.phase_transition_step`` (core.engine's
RunResult, or ``run_from_history`` over stored rows); a real run is a core.real RealResult or
``real_run(result_json)``. A run may carry ``.status`` (finished when absent) and ``.reason``.
A missing seed or run that a check reads, or any given run that did not finish, makes the verdict "incomplete":
never "holds", so a page never reveals what its runs did not produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.metrics import phase_transition_step
from .chapters import Chapter
from .checks import CHECKS


@dataclass
class LessonRun:
    """A run rebuilt from stored data: what chapter_verdict reads of core.engine.train.RunResult."""

    history: list[dict]
    status: str = "finished"
    reason: str | None = None
    data: dict | None = None  # a real run's RealResult JSON
    phase_transition_step: int | None = field(init=False)

    def __post_init__(self):
        rows = [r for r in self.history if "corr_robust" in r and "corr_nonrobust" in r]
        self.phase_transition_step = phase_transition_step(rows)

    @property
    def final(self) -> dict:
        return {key: value for key, value in self.history[-1].items() if key != "step"} if self.history else {}


def run_from_history(history: list[dict], status: str = "finished", reason: str | None = None) -> LessonRun:
    """A run from stored metric rows (each with "step" and the metrics of core.engine.metrics), oldest first."""
    return LessonRun(list(history), status, reason)


def real_run(data: dict | None, status: str | None = None, reason: str | None = None) -> LessonRun:
    """A real-image run from its RealResult JSON (core.runs.real_runs.load_result); None = no result yet."""
    status = status or (data or {}).get("status") or "failed"
    reason = reason or (data or {}).get("reason")
    if data is None and status == "finished":  # nothing to check: never reveal on it
        status, reason = "failed", "finished without a stored result"
    return LessonRun([], status, reason, data=data)


@dataclass(frozen=True)
class Verdict:
    chapter: int
    holds: bool  # complete, and every check held on every seed
    seeds_held: int  # seeds on which every check held
    seeds: int  # seeds asked for
    checks: dict[str, tuple[int, int]]  # check name -> (seeds held, seeds evaluated)
    details: dict[str, tuple[str, ...]] = field(default_factory=dict)  # check name -> one line per evaluated seed
    missing: tuple[str, ...] = ()  # "arm seed s mode" not in the results
    failed: tuple[str, ...] = ()  # "arm seed s mode: status: reason" for runs that did not finish
    reason: str | None = None  # one line when the verdict is not "holds"

    @property
    def state(self) -> str:
        """"holds", "fails" (every run finished, some check did not hold) or "incomplete"."""
        if self.missing or self.failed:
            return "incomplete"
        return "holds" if self.holds else "fails"

    def summary(self) -> str:
        if self.state == "holds":
            return f"holds on {self.seeds_held}/{self.seeds} seeds"
        return f"{self.state}: {self.reason}"

    def to_json(self) -> dict:
        return {"holds": self.holds, "state": self.state, "seeds_held": self.seeds_held, "seeds": self.seeds,
                "checks": {name: {"held": held, "total": total, "details": list(self.details.get(name, ()))}
                           for name, (held, total) in self.checks.items()},
                "missing": list(self.missing), "failed": list(self.failed), "reason": self.reason}


def _status(run) -> str:
    return getattr(run, "status", "finished") or "finished"


def chapter_verdict(chapter: Chapter, results: dict, seeds=None) -> Verdict:
    """Run the chapter's checks on every seed. ``seeds`` (a list, or a count n for 0..n-1) says which
    seeds must be there; by default the seeds found in ``results``, or the experiment's own if none.

    The data chapter trains nothing: its checks read each seed's Config, and ``results`` is ignored.
    """
    exp = chapter.experiment
    if seeds is None:
        found = sorted({seed for _, seed in results})
        seeds = tuple(found) if found and exp.kind != "data" else exp.seeds
    seeds = exp.seed_list(seeds)
    # the runs the checks read must be there; any other run given must not have failed either
    needs = {need for name in chapter.checks for need in CHECKS[name].needs}
    arms = {arm.name for arm in exp.arms}
    missing, failed, subjects = [], [], {}
    if exp.kind == "data":
        subjects = dict(zip(seeds, exp.configs(exp.arms[0], seeds), strict=True))
    else:
        for seed in seeds:
            runs, complete = {}, True
            given = {(arm, mode) for (arm, s), modes in results.items() if s == seed and arm in arms for mode in modes}
            for arm, mode in sorted(needs | given):
                run = (results.get((arm, seed)) or {}).get(mode)
                if run is None:
                    missing.append(f"{arm} seed {seed} {mode}")
                    complete = False
                elif _status(run) != "finished":
                    why = getattr(run, "reason", None)
                    failed.append(f"{arm} seed {seed} {mode}: {_status(run)}" + (f": {why}" if why else ""))
                    complete = False
                else:
                    runs.setdefault(arm, {})[mode] = run
            if complete:
                subjects[seed] = runs
    tally = {name: [0, 0] for name in chapter.checks}
    details: dict[str, list[str]] = {name: [] for name in chapter.checks}
    seeds_held = 0
    for seed, subject in subjects.items():
        all_held = True
        for name in chapter.checks:
            held, detail = CHECKS[name].test(subject)
            tally[name][0] += bool(held)
            tally[name][1] += 1
            details[name].append(f"seed {seed}: {detail}")
            all_held = all_held and bool(held)
        seeds_held += all_held
    complete = not missing and not failed
    holds = complete and seeds_held == len(seeds) and len(seeds) > 0
    reason = None
    if failed:
        reason = f"{len(failed)} run(s) did not finish, e.g. {failed[0]}"
    elif missing:
        reason = f"{len(missing)} run(s) missing, e.g. {missing[0]}"
    elif not holds:
        broken = [name for name, (held, total) in tally.items() if held < total]
        reason = f"held on {seeds_held}/{len(seeds)} seeds; not every seed: {', '.join(broken)}"
    return Verdict(chapter.number, holds, seeds_held, len(seeds), {k: (v[0], v[1]) for k, v in tally.items()},
                   {k: tuple(v) for k, v in details.items()}, tuple(missing), tuple(failed), reason)
