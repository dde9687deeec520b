"""Threat models: the set a perturbation must stay in, as small objects in one registry.

Each knows three things (in the spirit of MadryLab's ``robustness`` attacker steps):
``project`` a perturbation back into its eps-ball, take a steepest-ascent ``step`` for its
norm, and draw a ``random_start`` inside the ball. Perturbations have the data's shape
(N, P, d). The registry also fills the dashboard's choices.
"""

from __future__ import annotations

import torch

_TINY = 1e-12  # guards divisions by a zero gradient or perturbation


class ThreatModel:
    name = ""
    label = ""
    description = ""

    def norm(self, delta: torch.Tensor) -> torch.Tensor:
        """Per-example size of a perturbation in this threat model's norm, shape (N,)."""
        raise NotImplementedError

    def project(self, delta: torch.Tensor, eps: float) -> torch.Tensor:
        raise NotImplementedError

    def step(self, grad: torch.Tensor, size: float) -> torch.Tensor:
        raise NotImplementedError

    def random_start(self, shape, eps: float, generator: torch.Generator, device) -> torch.Tensor:
        raise NotImplementedError


def _uniform_in_l2_ball(rows: int, dim: int, eps: float, generator, device) -> torch.Tensor:
    """Uniform samples in the l2 ball of radius eps in `dim` dimensions, one per row."""
    direction = torch.randn(rows, dim, generator=generator).to(device)
    direction /= direction.norm(dim=1, keepdim=True).clamp_min(_TINY)
    radius = torch.rand(rows, 1, generator=generator).to(device) ** (1.0 / dim)
    return direction * (eps * radius)


class PatchL2(ThreatModel):
    """max_p ||delta_p||_2 <= eps: the paper's patch-wise clip (Section 2.5)."""

    name = "patch_l2"
    label = "patch-wise l2"
    description = "each patch moves at most eps in l2 (the paper's clip)"

    def norm(self, delta):
        return delta.norm(dim=-1).amax(dim=-1)

    def project(self, delta, eps):
        scale = (eps / delta.norm(dim=-1, keepdim=True).clamp_min(_TINY)).clamp_max(1.0)
        return delta * scale

    def step(self, grad, size):
        return grad * (size / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY))

    def random_start(self, shape, eps, generator, device):
        n, p, d = shape
        return _uniform_in_l2_ball(n * p, d, eps, generator, device).view(n, p, d)


class L2(ThreatModel):
    """||delta||_2 <= eps over the whole input, all patches flattened."""

    name = "l2"
    label = "whole-input l2"
    description = "the whole input moves at most eps in l2"

    def norm(self, delta):
        return delta.flatten(1).norm(dim=1)

    def project(self, delta, eps):
        scale = (eps / self.norm(delta).clamp_min(_TINY)).clamp_max(1.0)
        return delta * scale.view(-1, 1, 1)

    def step(self, grad, size):
        return grad * (size / self.norm(grad).clamp_min(_TINY)).view(-1, 1, 1)

    def random_start(self, shape, eps, generator, device):
        n, p, d = shape
        return _uniform_in_l2_ball(n, p * d, eps, generator, device).view(n, p, d)


class Linf(ThreatModel):
    """|delta|_inf <= eps: every coordinate moves at most eps."""

    name = "linf"
    label = "l-infinity"
    description = "every coordinate moves at most eps"

    def norm(self, delta):
        return delta.flatten(1).abs().amax(dim=1)

    def project(self, delta, eps):
        return delta.clamp(-eps, eps)

    def step(self, grad, size):
        return grad.sign() * size

    def random_start(self, shape, eps, generator, device):
        return (torch.rand(shape, generator=generator) * 2 - 1).mul_(eps).to(device)


THREAT_MODELS: dict[str, ThreatModel] = {t.name: t for t in (PatchL2(), L2(), Linf())}


def get_threat_model(name: str) -> ThreatModel:
    return THREAT_MODELS[name]
