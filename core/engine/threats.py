"""Threat models: the set a perturbation must stay in, as small objects in one registry.

Each knows three things (in the spirit of MadryLab's ``robustness`` attacker steps):
``project`` a perturbation back into its eps-ball, take a steepest-ascent ``step`` for its
norm, and draw a ``random_start`` inside the ball. Perturbations have the data's shape
(N, P, d). The registry also fills the dashboard's choices.
"""

from __future__ import annotations

import torch

from .seeds import direction_pool_generator

_TINY = 1e-12  # guards divisions by a zero gradient or perturbation


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

    def ascend(self, X: torch.Tensor, grad: torch.Tensor, eta_a, eps) -> torch.Tensor:
        """X + project(eta_a * grad, eps): the paper's one-step attack point. grad is consumed."""
        return self.project(grad.mul_(eta_a), eps).add_(X)

    def step_from(self, delta: torch.Tensor, grad: torch.Tensor, size) -> torch.Tensor:
        """delta + step(grad, size), before projection."""
        return self.step(grad, size).add_(delta)

    def project_(self, delta: torch.Tensor, eps) -> torch.Tensor:
        """project, overwriting delta where the threat model can (an attack's own buffer)."""
        return self.project(delta, eps)

    def project_onto(self, X: torch.Tensor, delta: torch.Tensor, eps) -> torch.Tensor:
        """X + project(delta, eps): an attack's last point. delta may be consumed."""
        return self.project(delta, eps).add_(X)


# Random starts draw each patch's direction from a fixed pool of random unit vectors (with a
# random sign) instead of d fresh normals: the CPU's Mersenne Twister made the fresh draw cost as
# much as a matrix product of the step (measured 0.9 ms per figure3 chunk against 0.6 ms for the
# product); an index and a sign per patch cost 1/50 of that. The pool is drawn once per (d, device,
# dtype) from a fixed seed, so runs stay reproducible; which directions a run gets is its own seed's.
_POOL_ROWS = 4096
_pools: dict = {}


def _direction_pool(dim: int, device, dtype) -> torch.Tensor:
    key = (dim, str(device), dtype)
    if key not in _pools:
        pool = torch.randn(_POOL_ROWS, dim, generator=direction_pool_generator(), dtype=torch.float64)
        _pools[key] = (pool / pool.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)
    return _pools[key]


def _pooled_directions(rows: int, dim: int, generator, device, dtype=torch.float32, scale=None) -> torch.Tensor:
    """rows random unit vectors in `dim` dimensions: a pool row with a random sign each, times
    scale (rows, 1) when given -- sign and scale in one pass (the sign is exact, so the values
    are those of two passes).

    index_select, not pool[index]: advanced indexing took 4x as long (180 against 40 us per
    figure3 chunk, thread time), as much as the rest of the random start."""
    pick = torch.randint(0, 2 * _POOL_ROWS, (rows,), generator=generator).to(device)
    factor = torch.where(pick >= _POOL_ROWS, -1.0, 1.0).to(dtype)[:, None]
    if scale is not None:
        factor = factor * scale
    return _direction_pool(dim, device, dtype).index_select(0, pick.remainder_(_POOL_ROWS)).mul_(factor)


def _uniform_in_l2_ball(rows: int, dim: int, eps: float, generator, device) -> torch.Tensor:
    """Uniform samples in the l2 ball of radius eps in `dim` dimensions, one per row."""
    direction = torch.randn(rows, dim, generator=generator).to(device)
    direction /= direction.norm(dim=1, keepdim=True).clamp_min(_TINY)
    radius = torch.rand(rows, 1, generator=generator).to(device) ** (1.0 / dim)
    return direction * (eps * radius)


def _radius_rows(eps):
    """A per-run eps (R, 1, 1, 1) as the per-example shape (R, 1) of whole-input norms."""
    return eps if not torch.is_tensor(eps) else eps[..., 0, 0]


class PatchL2(ThreatModel):
    """max_p ||delta_p||_2 <= eps: the paper's patch-wise clip (Section 2.5)."""

    name = "patch_l2"
    label = "patch-wise l2"
    description = "each patch moves at most eps in l2 (the paper's clip)"

    def norm(self, delta):
        return delta.norm(dim=-1).amax(dim=-1)

    def _scale(self, delta, eps):
        """min(1, eps / |delta_p|) per patch, shape (..., P, 1)."""
        return torch.div(eps, delta.norm(dim=-1, keepdim=True).clamp_min_(_TINY)).clamp_max_(1.0)

    def project(self, delta, eps):
        return delta * self._scale(delta, eps)

    def project_(self, delta, eps):
        return delta.mul_(self._scale(delta, eps))

    def project_onto(self, X, delta, eps):
        # X + the projected delta in one pass instead of two
        return torch.addcmul(X, delta, self._scale(delta, eps))

    def step(self, grad, size):
        return grad * (size / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY))

    def ascend(self, X, grad, eta_a, eps):
        # eta_a g clipped to eps per patch is g * min(eta_a, eps / |g|): one pass with addcmul
        factor = torch.clamp(eps / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY), max=eta_a)
        return torch.addcmul(X, grad, factor, out=grad)  # over grad: one chunk buffer fewer

    def step_from(self, delta, grad, size):
        # written over grad (consumed): one chunk-sized buffer fewer in the cache
        return torch.addcmul(delta, grad, size / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY), out=grad)

    def random_start(self, shape, eps, generator, device):
        *lead, p, d = shape
        rows = p
        for size in lead:
            rows *= size
        radius = torch.rand(rows, 1, generator=generator).to(device).pow_(1.0 / d).mul_(eps)
        return _pooled_directions(rows, d, generator, device, scale=radius).view(shape)


class L2(ThreatModel):
    """||delta||_2 <= eps over the whole input, all patches flattened."""

    name = "l2"
    label = "whole-input l2"
    description = "the whole input moves at most eps in l2"

    def norm(self, delta):
        return delta.flatten(-2).norm(dim=-1)

    def project(self, delta, eps):
        scale = (_radius_rows(eps) / self.norm(delta).clamp_min(_TINY)).clamp_max(1.0)
        return delta * scale[..., None, None]

    def step(self, grad, size):
        return grad * (_radius_rows(size) / self.norm(grad).clamp_min(_TINY))[..., None, None]

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
