"""The attacks' steps in the threat model's ball, in as few passes as they take.

An attack point is X plus a projected perturbation; written as the threat model's project and
step (threats.py), each is a pass over an input-sized tensor: a norm, a scale, an add, another
norm, another scale, X + delta for the next forward. The patch-wise l2 ball (every preset's) does
them in one kernel pass on a CPU, or in one or two fused torch ops, writing over buffers the attack
no longer needs; other threat models compose project and step. Numbers are those of the plain
composition to rounding (tests/test_speed_paths.py).
"""

from __future__ import annotations

import torch

from ..random_starts import PooledStarts, direction_pool
from ..threats import TINY, PatchL2, ThreatModel, patch_shrink
from . import kernels


def ascend(threat: ThreatModel, X: torch.Tensor, grad: torch.Tensor, eta_a, eps) -> torch.Tensor:
    """X + threat.project(eta_a * grad, eps): the one-step attack's point. grad is consumed."""
    if not isinstance(threat, PatchL2):
        return threat.project(grad.mul_(eta_a), eps).add_(X)
    if kernels.usable(X, grad):
        return kernels.patch_ascend(X, grad, eta_a, eps)
    # eta_a g clipped to eps per patch is g * min(eta_a, eps / |g|): one pass with addcmul
    factor = torch.clamp(eps / grad.norm(dim=-1, keepdim=True).clamp_min(TINY), max=eta_a)
    return torch.addcmul(X, grad, factor, out=grad)  # over grad: one chunk buffer fewer


def advance(threat: ThreatModel, X, delta, grad, size, eps, keep_delta: bool = True):
    """One PGD step from delta (None: the zero start) along grad, projected: (the new delta, or None
    when not keep_delta -- the last step --, and X + the new delta). grad is consumed."""
    patch = isinstance(threat, PatchL2)
    if patch and kernels.usable(X, grad, *(() if delta is None else (delta,))):
        return kernels.patch_advance(X, delta, grad, size, eps, keep_delta)  # step, projection, X + delta
    if delta is None:
        stepped = threat.step(grad, size)
    elif patch:  # delta + step, written over grad: one chunk-sized buffer fewer in the cache
        stepped = torch.addcmul(delta, grad, size / grad.norm(dim=-1, keepdim=True).clamp_min(TINY), out=grad)
    else:
        stepped = threat.step(grad, size).add_(delta)
    if not keep_delta:  # X + the projection
        return None, (torch.addcmul(X, stepped, patch_shrink(stepped, eps)) if patch
                      else threat.project(stepped, eps).add_(X))
    delta = stepped.mul_(patch_shrink(stepped, eps)) if patch else threat.project(stepped, eps)
    return delta, X + delta


def start_and_point(starts: PooledStarts, X: torch.Tensor):
    """(the starts of the chunk X, X + the starts), in one pass where the kernels can."""
    pool = direction_pool(X.shape[-1], X.device, X.dtype)
    scale = starts.scale.reshape(-1).to(X.dtype)
    if kernels.usable(X, pool, scale):
        return kernels.pooled_start(X, pool, starts.index.reshape(-1).contiguous(), scale.contiguous())
    delta = starts.delta(X.shape[-1], X.dtype, X.shape)
    return delta, X + delta
