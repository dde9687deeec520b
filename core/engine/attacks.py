"""Attacks: the paper's one-step training attack, PGD, and the Theorem 4.3 swap.

Gradient attacks share one interface, ``perturb(W, X, y, arch, generator) -> (delta, F)``
where F is the logits at the clean X when the attack computed them anyway (the training
loop reuses them for the training accuracy), else None. Every attack is per example, so
the training loop can run it chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import PatchData
from .network import Arch, input_grad
from .threats import ThreatModel


@dataclass(frozen=True)
class OneStepAttack:
    """The paper's attack (Section 2.5): X + clip_eps(eta_a * grad_X l(W; X, y))."""

    threat: ThreatModel
    eps: float
    eta_a: float
    objective: str = "margin"

    def perturb(self, W, X, y, arch: Arch, generator=None):
        grad, F, _ = input_grad(W, X, y, arch, self.objective)
        return self.threat.project(grad.mul_(self.eta_a), self.eps), F


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
        return cls(threat, eps, steps, 2.5 * eps / max(1, steps), objective)

    def perturb(self, W, X, y, arch: Arch, generator=None):
        if self.random_start and generator is not None:
            delta = self.threat.random_start(X.shape, self.eps, generator, X.device)
        else:
            delta = torch.zeros_like(X)
        for _ in range(self.steps):
            grad, _, _ = input_grad(W, X + delta, y, arch, self.objective)
            delta = self.threat.project(delta + self.threat.step(grad, self.step_size), self.eps)
        return delta, None


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
