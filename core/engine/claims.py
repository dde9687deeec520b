"""The paper's qualitative claims as checks on a finished twin run.

Used by the tests (on small presets, several seeds), by the knob search written up in
docs/, and by anyone asking "did this run show what the theory says?".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    mode: str
    text: str
    passed: bool
    value: float


def peak(history: list[dict], metric: str) -> float:
    return max((row[metric] for row in history), default=float("nan"))


def pgd_decays(history: list[dict], drop: float = 0.1) -> bool:
    """PGD accuracy ended at least ``drop`` below its peak: the one-step algorithm's decay (docs/engine.md),
    for a verdict that says so and points at the Lesson's chapter 7."""
    return bool(history) and history[-1]["acc_pgd"] < peak(history, "acc_pgd") - drop


def check_claims(results: dict) -> list[Claim]:
    """Theorem 4.3 for the standard run, Theorem 4.4 for the adversarial one."""
    claims: list[Claim] = []
    if "std" in results:
        f = results["std"].final
        claims += [
            Claim("std", "corr_nonrobust >= 1.5 corr_robust", f["corr_nonrobust"] >= 1.5 * f["corr_robust"],
                  f["corr_nonrobust"] / max(f["corr_robust"], 1e-12)),
            Claim("std", "acc_clean >= 0.99", f["acc_clean"] >= 0.99, f["acc_clean"]),
            Claim("std", "acc_swap <= 0.05", f["acc_swap"] <= 0.05, f["acc_swap"]),
            Claim("std", "acc_pgd <= 0.05", f["acc_pgd"] <= 0.05, f["acc_pgd"]),
            Claim("std", "acc_nonrobust_feature >= 0.9", f["acc_nonrobust_feature"] >= 0.9,
                  f["acc_nonrobust_feature"]),
        ]
    if "adv" in results:
        r = results["adv"]
        f = r.final
        claims += [
            Claim("adv", "corr_robust > corr_nonrobust", f["corr_robust"] > f["corr_nonrobust"],
                  f["corr_robust"] - f["corr_nonrobust"]),
            Claim("adv", "has a phase transition", r.phase_transition_step is not None,
                  float(r.phase_transition_step if r.phase_transition_step is not None else -1)),
            Claim("adv", "acc_clean >= 0.95", f["acc_clean"] >= 0.95, f["acc_clean"]),
            Claim("adv", "acc_swap >= 0.9", f["acc_swap"] >= 0.9, f["acc_swap"]),
            Claim("adv", "acc_robust_feature >= 0.95", f["acc_robust_feature"] >= 0.95, f["acc_robust_feature"]),
        ]
        if "std" in results:
            gain = peak(r.history, "acc_pgd") - peak(results["std"].history, "acc_pgd")
            claims.append(Claim("adv", "peak acc_pgd >= std's + 0.15", gain >= 0.15, gain))
    return claims


@dataclass(frozen=True)
class ClaimTally:
    """One claim over several seeds: on how many of them it held."""

    mode: str
    text: str
    held: int
    total: int
    values: tuple[float, ...] = ()

    @property
    def holds(self) -> bool:
        return self.total > 0 and self.held == self.total


def claims_by_seed(results_per_seed: list[dict]) -> list[ClaimTally]:
    """check_claims on each seed's twin results ({mode: run}), tallied per claim in check_claims' order.

    A claim counts only on the seeds where it could be checked (its runs are there); pass only
    finished runs, so that a failed seed shows as a smaller total rather than as a claim that failed.
    """
    order: list[tuple[str, str]] = []
    tally: dict[tuple[str, str], list] = {}
    for results in results_per_seed:
        for claim in check_claims(results):
            key = (claim.mode, claim.text)
            if key not in tally:
                order.append(key)
                tally[key] = [0, 0, []]
            tally[key][0] += bool(claim.passed)
            tally[key][1] += 1
            tally[key][2].append(claim.value)
    return [ClaimTally(mode, text, tally[(mode, text)][0], tally[(mode, text)][1], tuple(tally[(mode, text)][2]))
            for mode, text in order]
