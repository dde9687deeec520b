"""The peer: the obvious PyTorch implementation, as anyone would first write it.

Autograd through a ``torch.where`` smoothed ReLU, the whole batch at once, the attack's
input gradient from ``torch.autograd.grad``. It is what the engine's speed is measured
against (``python -m core bench``); it is not used anywhere else.
"""

from __future__ import annotations

import torch


def smoothed_relu(z, q, rho):
    inner = torch.where(z <= rho, z**q / (q * rho ** (q - 1)), z - (1 - 1 / q) * rho)
    return torch.where(z <= 0, torch.zeros_like(z), inner)


def forward(W, X, k, m, q, rho):
    Z = torch.einsum("npd,kd->npk", X, W)
    return smoothed_relu(Z, q, rho).sum(1).view(X.shape[0], k, m).sum(2)


def margin(F, y):
    others = F.clone()
    others[torch.arange(len(y), device=y.device), y] = float("-inf")
    return others.max(1).values - F[torch.arange(len(y), device=y.device), y]


def patch_clip(delta, eps):
    norms = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return delta * (eps / norms).clamp(max=1.0)


def pgd(W, X, y, cfg):
    """Multi-step PGD in the patch-wise l2 ball: random start, normalised steps of 2.5 eps / K."""
    steps = cfg.train_attack_steps
    delta = patch_clip(torch.randn_like(X), cfg.eps * torch.rand(X.shape[:-1] + (1,), device=X.device, dtype=X.dtype))
    for _ in range(steps):
        delta = delta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(margin(forward(W, X + delta, cfg.k, cfg.m, cfg.q, cfg.rho), y).sum(), delta)
        g = g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        delta = patch_clip(delta + 2.5 * cfg.eps / steps * g, cfg.eps)
    return delta.detach()


def step(W, X, y, cfg, adversarial: bool):
    """One full-batch step of standard, the paper's one-step, or multi-step PGD adversarial training."""
    W = W.detach().requires_grad_(True)
    if adversarial and cfg.train_attack == "pgd":
        X = X + pgd(W, X, y, cfg)
    elif adversarial:
        Xr = X.detach().requires_grad_(True)
        (gx,) = torch.autograd.grad(margin(forward(W, Xr, cfg.k, cfg.m, cfg.q, cfg.rho), y).sum(), Xr)
        X = X + patch_clip(cfg.eta_a * gx, cfg.eps)
    loss = torch.nn.functional.cross_entropy(forward(W, X, cfg.k, cfg.m, cfg.q, cfg.rho), y)
    (gw,) = torch.autograd.grad(loss, W)
    return (W - cfg.eta * gw).detach()
