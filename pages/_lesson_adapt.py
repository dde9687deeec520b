"""From the run store's metric frames to the paper's claims, per seed: the Lab's multi-seed verdict.

A stored run has no RunResult, only its logged rows; core.engine.claims wants .final, .history and
.phase_transition_step. ``history_run`` rebuilds that view from a frame (core.lesson.run_from_history
does the same where it is available), and the tally counts on how many seeds each claim holds.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from core.engine.claims import check_claims
from core.engine.metrics import phase_transition_step

CLAIM_COLUMNS = ("corr_robust", "corr_nonrobust", "acc_clean", "acc_pgd", "acc_swap")


def history(frame: pd.DataFrame) -> list[dict]:
    """The evaluated rows (every claim column present), oldest first."""
    present = [c for c in CLAIM_COLUMNS if c in frame]
    return frame.dropna(subset=present).to_dict("records")


def history_run(frame: pd.DataFrame):
    try:
        from core.lesson import run_from_history
    except ImportError:  # before the Lesson's core package: the same three attributes, built here
        rows = history(frame)
        final = {k: v for k, v in rows[-1].items() if k != "step"} if rows else {}
        return SimpleNamespace(history=rows, final=final, phase_transition_step=phase_transition_step(rows))
    return run_from_history(history(frame))


def claims_by_seed_rows(frames: dict) -> list[tuple[str, str, int, int]]:
    """(mode, claim, seeds held, seeds) for frames = mode -> [one metric frame per seed], seeds in the same order."""
    per_mode = {mode: [f for f in fs if not f.empty] for mode, fs in frames.items()}
    n = min((len(fs) for fs in per_mode.values() if fs), default=0)
    tally: dict[tuple[str, str], list[int]] = {}
    for i in range(n):
        results = {mode: history_run(fs[i]) for mode, fs in per_mode.items() if len(fs) > i}
        results = {mode: r for mode, r in results.items() if r.history}
        for claim in check_claims(results):
            held = tally.setdefault((claim.mode, claim.text), [0, 0])
            held[0] += bool(claim.passed)
            held[1] += 1
    return [(mode, text, held, total) for (mode, text), (held, total) in tally.items()]
