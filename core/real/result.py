"""What the real-image experiment reports: progress events while it runs, the result after."""

from __future__ import annotations

from dataclasses import dataclass, field

from .real_config import RealConfig

STAGES = ("data", "reference_std", "reference_adv", "invert_nonrobust", "invert_robust",
          "train_std", "train_adv", "attacks", "done")
RUN_METRICS = ("acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust")


@dataclass
class RealProgress:
    stage: str  # one of STAGES
    fraction: float  # of the whole experiment, 0..1 (weighted by estimated cost)
    stage_fraction: float  # of this stage, 0..1
    metrics: dict | None = None  # an epoch's row in training stages; a stage's results when it ends
    message: str = ""


@dataclass
class RealResult:
    config: RealConfig
    status: str = "finished"  # finished | cancelled | diverged
    reason: str | None = None
    device: str = "cpu"
    runs: dict = field(default_factory=dict)  # "std" / "adv": final metrics plus "history"
    attacks: dict = field(default_factory=dict)  # "nrf_pgd" / "rf_pgd": success rates
    reference: dict = field(default_factory=dict)  # the reference networks' accuracies
    representatives: dict = field(default_factory=dict)  # inversion statistics per dataset
    samples: dict = field(default_factory=dict)  # a few images per dataset for display (tensors, not in JSON)
    seconds: dict = field(default_factory=dict)  # wall time per stage

    def to_json(self) -> dict:
        """The --json contract: config, runs (std, adv), attacks, plus what explains them."""
        return {"config": self.config.to_dict(), "status": self.status, "reason": self.reason,
                "device": self.device, "runs": self.runs, "attacks": self.attacks, "reference": self.reference,
                "representatives": self.representatives, "seconds": self.seconds}


def stage_costs(cfg: RealConfig, n_train: int, n_test: int) -> dict[str, float]:
    """Rough cost of each stage in forward+backward image passes, for an honest overall fraction."""
    n_rep, n_att = clip_count(cfg.n_rep, n_test), clip_count(cfg.n_attack, n_test)
    n_pgd = clip_count(cfg.n_eval_pgd, n_test)
    std = cfg.reference_epochs * n_train
    adv = std * (cfg.pgd_steps + 1)
    evals = (cfg.epochs + 1) * (n_test / 3 + n_pgd * cfg.eval_pgd_steps + 2 * n_rep / 3)
    fresh_std = cfg.epochs * n_train + evals
    return {"data": 0.0, "reference_std": std, "reference_adv": adv,
            "invert_nonrobust": cfg.inversion_steps * n_rep, "invert_robust": cfg.inversion_steps * n_rep,
            "train_std": fresh_std, "train_adv": fresh_std + cfg.epochs * n_train * cfg.pgd_steps,
            "attacks": 2 * n_att * cfg.attack_steps + 1.0}


def clip_count(requested: int, available: int) -> int:
    """A config count where 0 means all that are available."""
    return available if requested <= 0 else min(requested, available)


class Reporter:
    """Turns (stage, stage fraction) into callback events with the overall fraction."""

    def __init__(self, costs: dict[str, float], callback):
        total = sum(costs.values()) or 1.0
        self.start, acc = {}, 0.0
        for stage in STAGES:
            self.start[stage] = acc / total
            acc += costs.get(stage, 0.0)
        self.share = {s: costs.get(s, 0.0) / total for s in STAGES}
        self.callback = callback

    def __call__(self, stage: str, frac: float, metrics: dict | None = None, message: str = ""):
        if self.callback is not None:
            overall = min(1.0, self.start[stage] + self.share[stage] * frac)
            self.callback(RealProgress(stage, overall, frac, metrics, message))
