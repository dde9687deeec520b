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
        delta = self._start(X, generator, start)
        for _ in range(self.steps):
            delta = self.threat.project_(self._advance(W, X, y, arch, delta), self.eps)
        return (torch.zeros_like(X) if delta is None else delta), None

    def _start(self, X, generator, start):
        """The first perturbation, or None for a zero start (then the first step skips X + 0)."""
        if start is not None:
            return start
        if not self.random_start or generator is None:
            return None
        if isinstance(generator, (list, tuple)):
            if len(generator) == 1:  # the same draws as the stack below, without its copy
                unit = self.threat.random_start(X.shape[1:], 1.0, generator[0], X.device).unsqueeze(0)
            else:
                unit = torch.stack([self.threat.random_start(X.shape[1:], 1.0, g, X.device) for g in generator])
        else:
            unit = self.threat.random_start(X.shape, 1.0, generator, X.device)
        return unit.to(X.dtype).mul_(self.eps)

    def _advance(self, W, X, y, arch: Arch, delta):
        """One ascent step from the projected delta (None: zero); the result is not yet projected."""
        if delta is None:
            grad, _, _ = input_grad(W, X, y, arch, self.objective)
            return self.threat.step(grad, self.step_size)
        grad, _, _ = input_grad(W, X + delta, y, arch, self.objective)
        return self.threat.step_from(delta, grad, self.step_size)

    def attacked(self, W, X, y, arch: Arch, generator=None, start=None):
        """X + perturb's delta, the last projection and the add fused (threat.project_onto)."""
        delta = self._start(X, generator, start)
        if self.steps == 0:
            return (X.clone() if delta is None else delta + X), None
        for _ in range(self.steps - 1):
            delta = self.threat.project_(self._advance(W, X, y, arch, delta), self.eps)
        return self.threat.project_onto(X, self._advance(W, X, y, arch, delta), self.eps), None


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
