"""Attacks: the paper's one-step training attack, PGD, and the Theorem 4.3 swap.

Gradient attacks share one interface: ``point(W, X, y, arch, generator, geometry=...)`` gives
an ``AttackPoint`` -- the attacked X, its pre-activations when the attack has them (the loop then
skips that forward product) and the logits at the clean X when the attack computed them anyway
(the training loop reuses them for the training accuracy). ``attacked`` and ``perturb`` are the
same as (X + delta, F) and (delta, F). Every attack is per example, so the training loop can
run it chunk by chunk, for one run (W (K, d), X (n, P, d)) or a batch of runs (W (R, K, d),
X (R, n, P, d), eps and step sizes per run as (R, 1, 1, 1) tensors); ``prepare(W, arch)`` does
once per set of weights what every chunk would otherwise redo.

The margin objective in the patch-wise l2 ball -- the paper's attack, and every preset's -- runs
on the pre-activations (``fast.on_pairs`` says when; fast/pair_attacks.py); other threat models
and the cross-entropy objective take the plain loop written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attack_point import AttackPoint
from .data import PatchData
from .fast import PairGeometry, advance, ascend, input_grad, on_pairs, one_step_point, pgd_point, start_and_point
from .network import Arch
from .random_starts import pooled_starts
from .threats import PatchL2, ThreatModel

PGD_STEP = 2.5  # PGD-K's step size is PGD_STEP * eps / K: K steps can cross the ball


def pgd_step_size(eps, steps: int):
    """PGD-K's step size, 2.5 eps / K (eps a float or per-run tensor)."""
    return eps * (PGD_STEP / max(1, steps))


def per_run(cfgs, name: str, W: torch.Tensor):
    """A knob that may differ between the runs of a batch (eps, eta_a) as the attacks take it: a float
    for one run (W 2-D), else a (R, 1, 1, 1) tensor of W's device and dtype."""
    if W.dim() == 2:
        return float(getattr(cfgs[0], name))
    return torch.tensor([getattr(c, name) for c in cfgs], device=W.device, dtype=W.dtype).view(-1, 1, 1, 1)


class _Prepared:
    """What a loop over chunks asks of an attack before it starts: prepare(W) -- the pair
    geometry of W for attacks that run on pairs, else None -- and start_draws(X, generator) --
    the random starts of every example at once where the attack draws them that way, else None.
    A point() given a geometry runs on pairs; without one, on_pairs decides as for training."""

    def prepare(self, W, arch: Arch, counting: bool = False):
        """counting: the caller only counts correct answers at the points (an evaluation)."""
        return PairGeometry.of(W, arch) if on_pairs(self.threat, self.objective, arch, counting) else None

    def start_draws(self, X, generator):
        return None


@dataclass(frozen=True)
class OneStepAttack(_Prepared):
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
        """(X + delta, clean logits)."""
        point = self.point(W, X, y, arch, generator)
        return point.X, point.F_clean

    def point(self, W, X, y, arch: Arch, generator=None, geometry=None, starts=None, Z=None) -> AttackPoint:
        """Z: X's pre-activations when the caller has them (the pair path takes them over)."""
        geometry = geometry if geometry is not None else self.prepare(W, arch)
        if geometry is not None:
            return one_step_point(geometry, X, y, self.eps, self.eta_a, Z)
        grad, F, _ = input_grad(W, X, y, arch, self.objective)
        return AttackPoint(ascend(self.threat, X, grad, self.eta_a, self.eps), None, F)


@dataclass(frozen=True)
class PGDAttack(_Prepared):
    """Projected steepest ascent (Madry et al.): K steps of size step_size, random start."""

    threat: ThreatModel
    eps: float
    steps: int
    step_size: float
    objective: str = "margin"
    random_start: bool = True

    @classmethod
    def standard(cls, threat, eps, steps, objective="margin"):
        """PGD-K with the step size 2.5 eps / K (pgd_step_size), for training and evaluation."""
        return cls(threat, eps, steps, pgd_step_size(eps, steps), objective)

    def perturb(self, W, X, y, arch: Arch, generator=None, start=None):
        """generator: one, or a list with one per run of a batch (each run draws its own start,
        so a run's numbers do not depend on the batch it is in); start: a given random start."""
        return self.point(W, X, y, arch, generator, start).X.sub_(X), None

    def attacked(self, W, X, y, arch: Arch, generator=None, start=None):
        """(X + perturb's delta, None)."""
        return self.point(W, X, y, arch, generator, start).X, None

    def start_draws(self, X, generator):
        """The random starts of every example of X (one run's (n, P, d) with one generator, or a
        batch's (R, n, P, d) with one per run), drawn at once, where the threat model draws them
        from its pool (random_starts.py); None for a zero start or a threat model that draws per chunk."""
        if not self.random_start or generator is None or not isinstance(self.threat, PatchL2):
            return None
        if isinstance(generator, (list, tuple)):
            return pooled_starts(X.shape, self.eps, list(generator), X.device)
        return pooled_starts((1, *X.shape), self.eps, [generator], X.device)

    def point(self, W, X, y, arch: Arch, generator=None, start=None, geometry=None, starts=None) -> AttackPoint:
        """starts: this chunk's part of start_draws (the loops over chunks draw for all examples
        first); drawn here for X alone when not given; start: a given start instead."""
        if start is None and starts is None:
            starts = self.start_draws(X, generator)
        geometry = geometry if geometry is not None else self.prepare(W, arch)
        if geometry is not None:
            return pgd_point(geometry, X, y, self.eps, self.steps, self.step_size,
                             ("given", start) if start is not None else starts)
        return AttackPoint(self._plain_point(W, X, y, arch, generator, start, starts))

    def _start(self, X, generator, start, starts):
        """(the first perturbation, X + it), or (None, X) for a zero start."""
        if start is not None:  # a copy: the steps write their delta in place
            return start.clone(), X + start
        if starts is not None:
            return start_and_point(starts, X)
        if not self.random_start or generator is None:
            return None, X
        if isinstance(generator, (list, tuple)):
            unit = torch.stack([self.threat.random_start(X.shape[1:], 1.0, g, X.device) for g in generator])
        else:
            unit = self.threat.random_start(X.shape, 1.0, generator, X.device)
        delta = unit.to(X.dtype).mul_(self.eps)
        return delta, X + delta

    def _plain_point(self, W, X, y, arch: Arch, generator, start, starts):
        """X + the attack's delta, each step's X + delta made with its projection (fast.advance)."""
        delta, point = self._start(X, generator, start, starts)
        if self.steps == 0:
            return point.clone() if point is X else point
        for step in range(self.steps):
            grad, _, _ = input_grad(W, point, y, arch, self.objective)
            delta, point = advance(self.threat, X, delta, grad, self.step_size, self.eps,
                                   keep_delta=step < self.steps - 1)
        return point


def swap_classes(data: PatchData, generator: torch.Generator) -> torch.Tensor:
    """The other class y' of Theorem 4.3's swap, per example: uniform among the classes but y."""
    return (data.y + torch.randint(1, data.k, data.y.shape, generator=generator).to(data.y.device)) % data.k


def swap_perturbation(data: PatchData, generator: torch.Generator, y_other: torch.Tensor | None = None) -> torch.Tensor:
    """Theorem 4.3's model-free attack: delta_p = beta_p (v_{y'} - v_y) on J_NR, 0 on J_R.

    It replaces the non-robust feature of every dense patch by that of another class y',
    drawn uniformly among the other classes (swap_classes) unless given. Per-patch l2 norm is
    sqrt(2) beta_p.
    """
    k = data.k
    y_other = swap_classes(data, generator) if y_other is None else y_other
    nonrobust = (~data.robust).to(data.X.dtype)
    amount = (data.coef * nonrobust).unsqueeze(2)
    delta = torch.zeros_like(data.X)
    P = data.X.shape[1]
    delta.scatter_(2, (k + y_other)[:, None, None].expand(-1, P, 1), amount)
    delta.scatter_(2, (k + data.y)[:, None, None].expand(-1, P, 1), -amount)
    return delta
