"""The network's functions as the engine runs them: the fused CPU kernels where they take the
tensors, the margin's pair product from enough classes on, network.py's torch code otherwise.

Each function has network.py's name, signature and numbers (to rounding): tests/test_kernels.py
and tests/test_network_gradients.py hold them to it.
"""

from __future__ import annotations

import torch

from .. import network
from ..network import Arch, class_sum, margin_pair, preact
from . import kernels
from .pair_rows import PAIR_MIN_CLASSES, pair_input_grad


def activate(Z: torch.Tensor, arch: Arch, want_slope: bool, consume: bool = False):
    """network.activate: one pass of a kernel over Z on a CPU, its five torch passes elsewhere."""
    if kernels.usable(Z):
        slope = (Z if consume else torch.empty_like(Z)) if want_slope else None
        return kernels.activate(Z, arch.q, arch.rho, slope), slope
    return network.activate(Z, arch, want_slope, consume)


def logits(W: torch.Tensor, X: torch.Tensor, arch: Arch, Z: torch.Tensor | None = None) -> torch.Tensor:
    """network.logits: (R*n, k) logits (n, k for one run); Z: X's pre-activations when known (consumed)."""
    S, _ = activate(preact(W, X) if Z is None else Z, arch, want_slope=False, consume=True)
    return class_sum(S, arch)


def input_grad(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, objective: str):
    """network.input_grad; the margin's from its two classes' neurons alone from PAIR_MIN_CLASSES on."""
    S, slope = activate(preact(W, X), arch, want_slope=True, consume=True)
    F = class_sum(S, arch)
    if objective == "margin" and arch.k >= PAIR_MIN_CLASSES:
        y = y.reshape(-1)
        value, runner_up = margin_pair(F, y)
        return pair_input_grad(W, slope, runner_up, y, arch).view(X.shape), F, value
    return network.input_grad_at(W, X, y, arch, objective, F, slope)


def weight_grad_into(grad_W: torch.Tensor, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, scale,
                     Z: torch.Tensor | None = None):
    """network.weight_grad_into: activation, cross-entropy and slope scaling in one kernel on a CPU."""
    Z = preact(W, X) if Z is None else Z
    if not kernels.usable(Z):
        return network.weight_grad_into(grad_W, W, X, y, arch, scale, Z=Z)
    F, loss = kernels.ce_backward(Z, y.reshape(-1), arch.k, arch.m, arch.q, arch.rho)  # Z becomes dZ
    network.add_weight_grad(grad_W, Z, X, scale)
    return F, loss
