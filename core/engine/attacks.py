"""Attacks: the paper's one-step training attack, PGD, and the Theorem 4.3 swap.

Gradient attacks share one interface, ``perturb(W, X, y, arch, generator) -> (delta, F)``
where F is the logits at the clean X when the attack computed them anyway (the training
loop reuses them for the training accuracy), else None; ``attacked`` returns X + delta
directly (fused where the threat model can). Every attack is per example, so the training
loop can run it chunk by chunk, for one run (W (K, d), X (n, P, d)) or a batch of runs
(W (R, K, d), X (R, n, P, d), eps and step sizes per run as (R, 1, 1, 1) tensors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import PatchData
from .network import Arch, input_grad
from .threats import ThreatModel


@dataclass(frozen=True)
class OneStepAttack:
    """The paper's attack (Section 2.5): X + clip_eps(eta_a * grad_X l(W; X, y)).

    eps and eta_a are floats, or per-run tensors (R, 1, 1, 1) for a batch of runs.
    """

    threat: ThreatModel
    eps: float
    eta_a: float
    objective: str = "margin"

    def perturb(self, W, X, y, arch: Arch, generator=None):
        X_adv, F = self.attacked(W, X, y, arch, generator)
        return X_adv.sub_(X), F

    def attacked(self, W, X, y, arch: Arch, generator=None, start=None):
        """(X + delta, clean logits): the attack point in one fused pass (threat.ascend)."""
        grad, F, _ = input_grad(W, X, y, arch, self.objective)
        return self.threat.ascend(X, grad, self.eta_a, self.eps), F


@dataclass(frozen=True)
class PGDAttack:
    """Projected steepest ascent (Madry et al.): K steps of size step_size, random start."""

    threat: ThreatModel
    eps: float
    steps: int
    step_size: float
    objective: str = "margin"
    random_start: bool = True

    @classmethod
    def standard(cls, threat, eps, steps, objective="margin"):
        """The evaluation default: step size 2.5 eps / K, so K steps can cross the ball."""
        return cls(threat, eps, steps, eps * (2.5 / max(1, steps)), objective)

    def perturb(self, W, X, y, arch: Arch, generator=None, start=None):
        """generator: one, or a list with one per run of a batch (each run draws its own start,
        so a run's numbers do not depend on the batch it is in); start: a given random start."""
        if start is not None:
            delta = start
        elif self.random_start and generator is not None:
            delta = self._random_start(X, generator)
        else:
            delta = torch.zeros_like(X)
        for _ in range(self.steps):
            grad, _, _ = input_grad(W, X + delta, y, arch, self.objective)
            delta = self.threat.project(self.threat.step_from(delta, grad, self.step_size), self.eps)
        return delta, None

    def _random_start(self, X, generator):
        if isinstance(generator, (list, tuple)):
            unit = torch.stack([self.threat.random_start(X.shape[1:], 1.0, g, X.device) for g in generator])
        else:
            unit = self.threat.random_start(X.shape, 1.0, generator, X.device)
        return unit.to(X.dtype).mul_(self.eps)

    def attacked(self, W, X, y, arch: Arch, generator=None, start=None):
        delta, _ = self.perturb(W, X, y, arch, generator, start)
        return delta.add_(X), None


def swap_perturbation(data: PatchData, generator: torch.Generator) -> torch.Tensor:
    """Theorem 4.3's model-free attack: delta_p = beta_p (v_{y'} - v_y) on J_NR, 0 on J_R.

    It replaces the non-robust feature of every dense patch by that of another class y',
    drawn uniformly among the other classes. Per-patch l2 norm is sqrt(2) beta_p.
    """
    k = data.k
    y_other = (data.y + torch.randint(1, k, data.y.shape, generator=generator).to(data.y.device)) % k
    nonrobust = (~data.robust).to(data.X.dtype)
    amount = (data.coef * nonrobust).unsqueeze(2)
    delta = torch.zeros_like(data.X)
    P = data.X.shape[1]
    delta.scatter_(2, (k + y_other)[:, None, None].expand(-1, P, 1), amount)
    delta.scatter_(2, (k + data.y)[:, None, None].expand(-1, P, 1), -amount)
    return delta
