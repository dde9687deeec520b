"""Assumption 2.3 as live checks: what the theory predicts for a config.

Each check is green (the paper's regime), amber (borderline or outside it but harmless)
or red (the assumption fails: the theory predicts a different picture), with one sentence
of why. The dashboard shows them as badges; the command line prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import Config


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # green | amber | red
    value: float
    why: str


def density_ratio(cfg: Config, eps: float = 0.0) -> float:
    """S_NR / S_R = (P-s) (beta-eps)_+^q / (s (alpha-eps)_+^q): Lemma 5.1's growth race.

    With eps = 0 it is the standard-training race; with the run's eps it is the heuristic
    race under adversarial training (each feature weakened by about eps).
    """
    robust = cfg.s * max(cfg.alpha - eps, 0.0) ** cfg.q
    nonrobust = (cfg.P - cfg.s) * max(cfg.beta - eps, 0.0) ** cfg.q
    if robust == 0:
        return math.inf if nonrobust > 0 else 1.0
    return nonrobust / robust


def swap_norm(cfg: Config) -> float:
    """Size of Theorem 4.3's swap perturbation in the run's threat-model norm."""
    per_patch = math.sqrt(2) * cfg.beta
    if cfg.threat_model == "l2":
        return per_patch * math.sqrt(cfg.P - cfg.s)
    if cfg.threat_model == "linf":
        return cfg.beta
    return per_patch


def assumption_checks(cfg: Config) -> list[Check]:
    ratio_strength = cfg.alpha / cfg.beta if cfg.beta > 0 else math.inf
    checks = [
        Check(
            "strength",
            "green" if ratio_strength > 1 else "red",
            ratio_strength,
            f"alpha/beta = {ratio_strength:.2f}: "
            + (
                "the robust feature is the stronger one, as Assumption 2.3 asks."
                if ratio_strength > 1
                else "the non-robust feature is as strong as the robust one, outside Assumption 2.3."
            ),
        )
    ]
    ratio = density_ratio(cfg)
    if ratio > 1.1:
        status, why = "green", "non-robust features are denser: standard training should learn them (Lemma 5.1)."
    elif ratio >= 0.9:
        status, why = "amber", "close to 1: the race is nearly tied, so either feature may win."
    else:
        status, why = "red", "robust features win the race: standard training should learn them too."
    checks.append(Check("density", status, ratio, f"S_NR/S_R = {ratio:.2f}: {why}"))
    norm = swap_norm(cfg)
    # eps below half the size that cancels the non-robust features (half the swap's, sqrt(2) beta / 2 for
    # patch_l2) cannot undo them: the standard model is not broken (the paper's eps-too-small regime)
    half_cancel = norm / (2 * math.sqrt(2) if cfg.threat_model != "linf" else 2)
    weak = cfg.eps < half_cancel
    status = "green" if norm <= cfg.eps else "red" if weak else "amber"
    checks.append(
        Check(
            "radius",
            status,
            norm / cfg.eps,
            f"the Theorem 4.3 swap has size {norm:.3f} against eps = {cfg.eps:g}: "
            + {"green": "it fits in the ball, so the theorem's attack is allowed.",
               "amber": "it lies outside the ball; PGD must find a smaller attack (it usually does when "
                        "eps > beta/2).",
               "red": f"eps is below {half_cancel:.3f}, half of what cancels the non-robust features: PGD "
                      "should not break the standard model."}[status],
        )
    )
    if cfg.threat_model in ("patch_l2", "linf"):
        at_ratio = density_ratio(cfg, cfg.eps)
        good = at_ratio < 1
        checks.append(
            Check(
                "adversarial race (heuristic)",
                "green" if good else "amber",
                at_ratio,
                f"(P-s)(beta-eps)^q / s(alpha-eps)^q = {at_ratio:.2f}: "
                + ("adversarial training should switch to robust features. A heuristic, not a theorem."
                   if good else "the adversary leaves non-robust features ahead. A heuristic, not a theorem."),
            )
        )
    return checks
