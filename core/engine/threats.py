"""Threat models: the set a perturbation must stay in, as small objects in one registry.

Each knows three things, as MadryLab's ``robustness`` attacker steps do: ``project`` a perturbation
back into its eps-ball, take a steepest-ascent ``step`` for its norm, and draw a ``random_start``
inside the ball (``norm`` measures a perturbation for the views). Perturbations have the data's
shape. The registry also fills the dashboard's choices. The in-place and fused forms of these
steps that the attacks run live with the other speed paths (fast/fused_steps.py).
"""

from __future__ import annotations

import torch

from .random_starts import pooled_starts

TINY = 1e-12  # guards divisions by a zero gradient or perturbation


class ThreatModel:
    """Perturbations have the data's shape, (n, P, d) for one run or (R, n, P, d) for a batch
    of runs; eps and step sizes are floats, or per-run tensors of shape (R, 1, 1, 1)."""

    name = ""
    label = ""
    description = ""

    def norm(self, delta: torch.Tensor) -> torch.Tensor:
        """Per-example size of a perturbation in this threat model's norm, shape (n,) or (R, n)."""
        raise NotImplementedError

    def project(self, delta: torch.Tensor, eps) -> torch.Tensor:
        raise NotImplementedError

    def step(self, grad: torch.Tensor, size) -> torch.Tensor:
        raise NotImplementedError

    def random_start(self, shape, eps: float, generator: torch.Generator, device) -> torch.Tensor:
        raise NotImplementedError


def _uniform_in_l2_ball(rows: int, dim: int, eps: float, generator, device) -> torch.Tensor:
    """Uniform samples in the l2 ball of radius eps in `dim` dimensions, one per row."""
    direction = torch.randn(rows, dim, generator=generator).to(device)
    direction /= direction.norm(dim=1, keepdim=True).clamp_min(TINY)
    radius = torch.rand(rows, 1, generator=generator).to(device) ** (1.0 / dim)
    return direction * (eps * radius)


def _radius_rows(eps):
    """A per-run eps (R, 1, 1, 1) as the per-example shape (R, 1) of whole-input norms."""
    return eps if not torch.is_tensor(eps) else eps[..., 0, 0]


def patch_shrink(delta: torch.Tensor, eps) -> torch.Tensor:
    """min(1, eps / |delta_p|) per patch, shape (..., P, 1): the patch-wise clip's factor."""
    return torch.div(eps, delta.norm(dim=-1, keepdim=True).clamp_min_(TINY)).clamp_max_(1.0)


class PatchL2(ThreatModel):
    """max_p ||delta_p||_2 <= eps: the paper's patch-wise clip (Section 2.5). Its random starts
    come from a fixed pool of directions (random_starts.py)."""

    name = "patch_l2"
    label = "patch-wise l2"
    description = "each patch moves at most eps in l2 (the paper's clip)"

    def norm(self, delta):
        return delta.norm(dim=-1).amax(dim=-1)

    def project(self, delta, eps):
        return delta * patch_shrink(delta, eps)

    def step(self, grad, size):
        return grad * (size / grad.norm(dim=-1, keepdim=True).clamp_min(TINY))

    def random_start(self, shape, eps, generator, device):
        return pooled_starts((1, *shape), eps, [generator], device).delta(shape[-1], torch.float32, shape)


class L2(ThreatModel):
    """||delta||_2 <= eps over the whole input, all patches flattened."""

    name = "l2"
    label = "whole-input l2"
    description = "the whole input moves at most eps in l2"

    def norm(self, delta):
        return delta.flatten(-2).norm(dim=-1)

    def project(self, delta, eps):
        scale = (_radius_rows(eps) / self.norm(delta).clamp_min(TINY)).clamp_max(1.0)
        return delta * scale[..., None, None]

    def step(self, grad, size):
        return grad * (_radius_rows(size) / self.norm(grad).clamp_min(TINY))[..., None, None]

    def random_start(self, shape, eps, generator, device):
        *lead, p, d = shape
        rows = 1
        for size in lead:
            rows *= size
        return _uniform_in_l2_ball(rows, p * d, eps, generator, device).view(shape)


class Linf(ThreatModel):
    """|delta|_inf <= eps: every coordinate moves at most eps."""

    name = "linf"
    label = "l-infinity"
    description = "every coordinate moves at most eps"

    def norm(self, delta):
        return delta.flatten(-2).abs().amax(dim=-1)

    def project(self, delta, eps):
        return torch.clamp(delta, -eps, eps)

    def step(self, grad, size):
        return grad.sign() * size

    def random_start(self, shape, eps, generator, device):
        return (torch.rand(shape, generator=generator) * 2 - 1).mul_(eps).to(device)


THREAT_MODELS: dict[str, ThreatModel] = {t.name: t for t in (PatchL2(), L2(), Linf())}


def get_threat_model(name: str) -> ThreatModel:
    return THREAT_MODELS[name]
