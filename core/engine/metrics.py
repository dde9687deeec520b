"""What is measured at each logged step (SPEC 1.6, the paper's Section 6.1 and Definition 4.1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attacks import OneStepAttack, PGDAttack, swap_perturbation
from .config import Config
from .data import PatchData
from .network import Arch, chunk_rows, chunks, logits
from .threats import get_threat_model

# The metric names of SPEC 1.6, in the order tables and CSV columns show them.
METRICS = (
    "corr_robust",
    "corr_nonrobust",
    "lambda_robust",
    "gamma_nonrobust",
    "acc_clean",
    "acc_pgd",
    "acc_swap",
    "acc_robust_feature",
    "acc_nonrobust_feature",
    "acc_onestep",
    "loss",
    "acc_train",
)


def feature_alignment(W: torch.Tensor, k: int, m: int) -> dict[str, float]:
    """The paper's weight-feature correlations: max over a class's neurons, mean over classes.

    corr_* use the normalised inner product <w, u_r> / ||w||; lambda/gamma the raw one.
    """
    per_class = W.view(k, m, -1)
    classes = torch.arange(k, device=W.device)
    raw_robust = per_class[classes, :, classes]  # (k, m): <w_{r,i}, u_r> = W[r, i, r]
    raw_nonrobust = per_class[classes, :, classes + k]
    norms = per_class.norm(dim=2).clamp_min(1e-12)
    return {
        "corr_robust": (raw_robust / norms).amax(1).mean().item(),
        "corr_nonrobust": (raw_nonrobust / norms).amax(1).mean().item(),
        "lambda_robust": raw_robust.amax(1).mean().item(),
        "gamma_nonrobust": raw_nonrobust.amax(1).mean().item(),
    }


def phase_transition_step(history: list[dict]) -> int | None:
    """First logged step where corr_robust overtakes corr_nonrobust after being behind."""
    behind = False
    for row in history:
        if row["corr_robust"] < row["corr_nonrobust"]:
            behind = True
        elif behind and row["corr_robust"] > row["corr_nonrobust"]:
            return row["step"]
    return None


@dataclass
class EvalSet:
    """The test set and its fixed variants, built once per data set (twin runs share it)."""

    test: PatchData
    X_robust_only: torch.Tensor  # non-robust feature terms removed: acc_robust_feature
    X_nonrobust_only: torch.Tensor  # robust feature terms removed: acc_nonrobust_feature
    X_swap: torch.Tensor  # Theorem 4.3 swap applied

    @classmethod
    def build(cls, test: PatchData, seed: int) -> EvalSet:
        generator = torch.Generator().manual_seed(seed)
        return cls(test, test.without("nonrobust"), test.without("robust"), test.X + swap_perturbation(test, generator))


def accuracy(W, X, y, arch: Arch) -> float:
    rows = chunk_rows(len(y), X.shape[1], max(W.shape), X.device)
    correct = 0
    for part in chunks(len(y), rows):
        correct += (logits(W, X[part], arch).argmax(1) == y[part]).sum().item()
    return correct / max(1, len(y))


def attacked_accuracy(W, X, y, arch: Arch, attack, generator) -> float:
    rows = chunk_rows(len(y), X.shape[1], max(W.shape), X.device)
    correct = 0
    for part in chunks(len(y), rows):
        delta, _ = attack.perturb(W, X[part], y[part], arch, generator)
        correct += (logits(W, X[part] + delta, arch).argmax(1) == y[part]).sum().item()
    return correct / max(1, len(y))


def pgd_attack(cfg: Config) -> PGDAttack:
    return PGDAttack.standard(get_threat_model(cfg.threat_model), cfg.eps, cfg.pgd_steps, cfg.pgd_objective)


def evaluate(W: torch.Tensor, ev: EvalSet, cfg: Config, step: int) -> dict[str, float]:
    """Test metrics at weights W. PGD's random start is seeded by (seed, step), so two
    runs evaluated at the same step face the same starts."""
    arch = Arch.from_config(cfg)
    y = ev.test.y
    threat = get_threat_model(cfg.threat_model)
    generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    n = cfg.n_pgd
    out = feature_alignment(W, cfg.k, cfg.m)
    out["acc_clean"] = accuracy(W, ev.test.X, y, arch)
    out["acc_pgd"] = attacked_accuracy(W, ev.test.X[:n], y[:n], arch, pgd_attack(cfg), generator)
    out["acc_swap"] = accuracy(W, ev.X_swap, y, arch)
    out["acc_robust_feature"] = accuracy(W, ev.X_robust_only, y, arch)
    out["acc_nonrobust_feature"] = accuracy(W, ev.X_nonrobust_only, y, arch)
    one_step = OneStepAttack(threat, cfg.eps, cfg.eta_a, cfg.train_objective)
    out["acc_onestep"] = attacked_accuracy(W, ev.test.X, y, arch, one_step, None)
    return out
