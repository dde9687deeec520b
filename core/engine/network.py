"""The two-layer smoothed-ReLU CNN (Section 2.3) with a hand-fused backward pass.

F_r(X) = sum_{i<m} sum_{p<P} sigma(<w_{r,i}, x_p>). Weights W have shape (k*m, d), rows
class-major (row r*m + i is neuron i of class r). Everything a step needs costs the
matrix products Z = X W^T, dZ W (input gradient) and dZ^T X (weight gradient); the
activation's value and slope come out of one pass over Z, and the work runs over chunks
of examples (the training loop and the evaluation cut them). Autograd is never used: the tests
check these gradients against it in float64 (and against paper.py, which uses it).

This is the torch code: the reference for the fused CPU kernels and the margin's pair path in
fast/, and the path on a GPU. The engine reaches these functions through fast/, which takes the
fused forms where they run and these otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Arch:
    k: int
    m: int
    q: int
    rho: float

    @classmethod
    def from_config(cls, cfg) -> Arch:
        return cls(cfg.k, cfg.m, cfg.q, cfg.rho)


def smoothed_relu(z: torch.Tensor, q: int, rho: float) -> torch.Tensor:
    """sigma(z) = 0 (z <= 0), z^q / (q rho^(q-1)) (0 <= z <= rho), z - (1 - 1/q) rho (z >= rho)."""
    t = (z / rho).clamp(0, 1)
    return (rho / q) * t**q + (z - rho).clamp_min(0)


def smoothed_relu_slope(z: torch.Tensor, q: int, rho: float) -> torch.Tensor:
    """sigma'(z) = clamp(z / rho, 0, 1)^(q-1): continuous, so the activation is C^1."""
    return (z / rho).clamp(0, 1) ** (q - 1)


def activate(Z: torch.Tensor, arch: Arch, want_slope: bool, consume: bool = False):
    """Fused value and slope of sigma over Z (n, P, K).

    Returns (S, slope): S (n, K) is sum_p sigma(Z), the only reduction the logits need;
    slope (n, P, K) is sigma'(Z), or None. With u = clamp(z, 0, rho), the slope is
    s = (u / rho)^(q-1) and the value is sigma(z) = s * (z - (1 - 1/q) u) on every branch
    (0 below zero, z^q / (q rho^(q-1)) in between, z - (1 - 1/q) rho above rho). That is
    two new tensors and four passes over Z's size for q = 3 and rho = 1, against five new
    tensors and seven passes for sigma = rho/q t^q + relu(z - rho) written out.

    consume=True lets it overwrite Z (the engine's pre-activations, used once): then u becomes
    the slope in place and only one new tensor of Z's size is made, a working set of two
    chunk-sized buffers instead of three, which stays in a core's cache. consume=False works on
    a copy: the values are bit-identical either way.
    """
    q, rho = arch.q, arch.rho
    if not consume:
        Z = Z.clone()
    u = Z.clamp(0.0, rho)
    value = Z.add_(u, alpha=-(1.0 - 1.0 / q))
    if q == 2:
        slope = u.mul_(1.0 / rho)
    elif q == 3:
        slope = u.mul_(u) if rho == 1.0 else u.mul_(u).mul_(1.0 / rho**2)
    else:
        slope = u.mul_(1.0 / rho).pow_(q - 1)
    S = value.mul_(slope).sum(1)
    return S, (slope if want_slope else None)


def class_sum(S: torch.Tensor, arch: Arch) -> torch.Tensor:
    """(n, k*m) neuron totals -> (n, k) logits."""
    return S.view(S.shape[0], arch.k, arch.m).sum(2)


def neuron_expand(G: torch.Tensor, arch: Arch) -> torch.Tensor:
    """(n, k) per-class gradients -> (n, 1, k*m), one entry per neuron, for broadcasting (an
    expand: no copy, where repeat_interleave would make one)."""
    n = G.shape[0]
    return G.unsqueeze(2).expand(n, arch.k, arch.m).reshape(n, 1, arch.k * arch.m)


# ---- one run or a batch of runs ----
# A single run has W (K, d) and X (n, P, d); a batch of R runs has W (R, K, d) and X (R, n, P, d).
# torch.matmul is mm for the first and bmm for the second; everything elementwise sees the
# examples of all runs flattened, (R*n, P, K), and labels y flattened to (R*n,).


def preact(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Pre-activations of every example, flattened over runs: (R*n, P, K)."""
    P, d = X.shape[-2:]
    rows = X.reshape(*X.shape[:-3], -1, d)
    return torch.matmul(rows, W.transpose(-1, -2)).view(-1, P, W.shape[-2])


def logits(W: torch.Tensor, X: torch.Tensor, arch: Arch, Z: torch.Tensor | None = None) -> torch.Tensor:
    """(R*n, k) logits (n, k for one run); Z: X's pre-activations when known (consumed)."""
    S, _ = activate(preact(W, X) if Z is None else Z, arch, want_slope=False, consume=True)
    return class_sum(S, arch)


# ---- objectives: value per example and its gradient with respect to the logits ----


def ce_and_grad(F: torch.Tensor, y: torch.Tensor):
    """Cross-entropy per example and d/dF (softmax - onehot).

    gather/scatter instead of indexing with arange: these tensors are tiny (n, k), so the
    number of ops is the cost."""
    logp = torch.log_softmax(F, dim=1)
    at_y = logp.gather(1, y[:, None])
    G = logp.exp_().scatter_add_(1, y[:, None], torch.full_like(at_y, -1.0))
    return at_y.squeeze(1).neg_(), G


def margin_pair(F: torch.Tensor, y: torch.Tensor):
    """CW margin per example and the two classes its gradient touches: (value, runner-up (N, 1))."""
    y_col = y[:, None]
    best, runner_up = F.scatter(1, y_col, float("-inf")).max(dim=1, keepdim=True)
    return (best - F.gather(1, y_col)).squeeze(1), runner_up


def margin_and_grad(F: torch.Tensor, y: torch.Tensor):
    """CW margin max_{j != y} F_j - F_y per example and d/dF (+1 at the runner-up, -1 at y)."""
    value, runner_up = margin_pair(F, y)
    G = torch.zeros_like(F).scatter_(1, runner_up, 1.0).scatter_(1, y[:, None], -1.0)
    return value, G


OBJECTIVES = {"ce": ce_and_grad, "margin": margin_and_grad}


def input_grad(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, objective: str):
    """Gradient of the per-example objective with respect to X, and the logits at X.

    Returns (grad_X with X's shape, F (R*n, k), value (R*n,)).
    """
    S, slope = activate(preact(W, X), arch, want_slope=True, consume=True)
    return input_grad_at(W, X, y, arch, objective, class_sum(S, arch), slope)


def input_grad_at(W, X, y, arch: Arch, objective: str, F: torch.Tensor, slope: torch.Tensor):
    """input_grad once the logits F and the activation's slope at X are known (slope is consumed):
    the objective's gradient, through the slope, times W."""
    value, G = OBJECTIVES[objective](F, y.reshape(-1))
    dZ = slope.mul_(neuron_expand(G, arch))
    grad_X = torch.matmul(dZ.view(*X.shape[:-3], -1, dZ.shape[2]), W).view(X.shape)
    return grad_X, F, value


def weight_grad_into(grad_W: torch.Tensor, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, scale,
                     Z: torch.Tensor | None = None):
    """Add scale * d(sum of CE)/dW at X into grad_W; return (F, CE per example). Z: X's
    pre-activations when the attack that made X has them (consumed), else computed here."""
    S, slope = activate(preact(W, X) if Z is None else Z, arch, want_slope=True, consume=True)
    F = class_sum(S, arch)
    loss, G = ce_and_grad(F, y.reshape(-1))
    add_weight_grad(grad_W, slope.mul_(neuron_expand(G, arch)), X, scale)
    return F, loss


def add_weight_grad(grad_W: torch.Tensor, dZ: torch.Tensor, X: torch.Tensor, scale) -> None:
    """grad_W += scale * dZ^T X: the weight gradient's product, dZ (R*n, P, K) the loss's gradient
    with respect to the pre-activations."""
    lead, d = X.shape[:-3], X.shape[-1]
    dZ_t = dZ.view(*lead, -1, dZ.shape[2]).transpose(-1, -2)
    rows = X.reshape(*lead, -1, d)
    if lead:
        grad_W.baddbmm_(dZ_t, rows, alpha=scale)
    else:
        grad_W.addmm_(dZ_t, rows, alpha=scale)


def init_weights(cfg, generator: torch.Generator) -> torch.Tensor:  # generator: seeds.init_generator
    """w_{r,i} ~ N(0, sigma_0^2 I_d), drawn on the CPU so every device starts the same."""
    return torch.randn(cfg.k * cfg.m, cfg.d, generator=generator).mul_(cfg.init_std)
