"""The two-layer smoothed-ReLU CNN (Section 2.3) with a hand-fused backward pass.

F_r(X) = sum_{i<m} sum_{p<P} sigma(<w_{r,i}, x_p>). Weights W have shape (k*m, d), rows
class-major (row r*m + i is neuron i of class r). Everything a step needs costs the
matrix products Z = X W^T, dZ W (input gradient) and dZ^T X (weight gradient); the
activation's value and slope come out of one pass over Z, and the work runs over chunks
of examples small enough to stay in cache. Autograd is never used: the tests check these
gradients against it in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import cpu_cache, cpu_kernels


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
    chunk-sized buffers instead of three that stays in a 1-2 MiB L2 cache (measured 2.9 -> 2.4
    ms per figure3 chunk of forward, activation and input-gradient product, thread time).
    consume=False works on a copy: the values are bit-identical either way.
    """
    q, rho = arch.q, arch.rho
    if cpu_kernels.usable(Z):  # one pass instead of five (cpu_kernels.py)
        slope = (Z if consume else torch.empty_like(Z)) if want_slope else None
        return cpu_kernels.activate(Z, q, rho, slope), slope
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
    """(n, k) per-class gradients -> (n, 1, k*m), one entry per neuron, for broadcasting.
    (An expand, not repeat_interleave: that one cost 5 % of a figure3 step by itself.)"""
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
    number of ops is the cost (measured 130 -> 60 us per figure3 chunk)."""
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


# The pair's batched product of small matrices runs at about half the rate of one large product
# (figure3, one thread: 40 against 80 GFLOP/s), so its 2/k of the flops pays from k ~ 5 on:
# measured 1.24x per input gradient at k = 10 and 0.9-1.1x at k = 5, where the whole classroom
# PGD-3 step was 10 % slower with it.
PAIR_MIN_CLASSES = 6


def signed_blocks(A: torch.Tensor, arch: Arch) -> torch.Tensor:
    """(R, K, c) -- or one run's (K, c) -- -> (R * 2k, m * c): block r * 2k + j holds class j's m
    rows of A side by side, block r * 2k + k + j the same negated (the margin's -1 at y)."""
    A = A if A.dim() == 3 else A.unsqueeze(0)
    R, _, c = A.shape
    blocks = A.view(R, arch.k, -1)
    return torch.cat([blocks, blocks.neg()], dim=1).reshape(R * 2 * arch.k, arch.m * c)


def pair_blocks(runner_up: torch.Tensor, y: torch.Tensor, arch: Arch, runs: int) -> torch.Tensor:
    """(N, 2) blocks of signed_blocks for each example's margin pair: the runner-up's, then y's
    negated one; example i belongs to run i // (N / runs)."""
    pair = torch.cat([runner_up, y[:, None]], 1)
    pair[:, 1] += arch.k
    if runs > 1:
        pair += (torch.arange(runs, device=y.device) * (2 * arch.k)).repeat_interleave(y.shape[0] // runs)[:, None]
    return pair


def pair_input_grad(W: torch.Tensor, slope: torch.Tensor, runner_up: torch.Tensor, y: torch.Tensor, arch: Arch):
    """The margin's input gradient, slope_r W_r - slope_y W_y per example, from 2m of the k*m neurons.

    The margin's gradient with respect to the logits is +1 at the runner-up r and -1 at y, so
    only those two classes' neurons carry a gradient: gathering their slope columns and their
    weight rows (signs folded into the rows) makes the input-gradient product one batched
    (P, 2m) x (2m, d) per example instead of (P, k*m) x (k*m, d) -- 2/k of the flops, and no
    pass to scale the slope (figure3: 740 -> 410 us per chunk, one thread)."""
    N, P, _ = slope.shape
    k, m, d = arch.k, arch.m, W.shape[-1]
    classes = torch.cat([runner_up, y[:, None]], 1)  # (N, 2)
    cols = slope.view(N, P, k, m).gather(2, classes[:, None, :, None].expand(N, P, 2, m)).view(N, P, 2 * m)
    pair = pair_blocks(runner_up, y, arch, W.shape[0] if W.dim() == 3 else 1)
    rows = signed_blocks(W, arch).index_select(0, pair.view(-1)).view(N, 2 * m, d)
    return torch.bmm(cols, rows)


def input_grad(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, objective: str):
    """Gradient of the per-example objective with respect to X, and the logits at X.

    Returns (grad_X with X's shape, F (R*n, k), value (R*n,)).
    """
    S, slope = activate(preact(W, X), arch, want_slope=True, consume=True)
    F = class_sum(S, arch)
    y = y.reshape(-1)
    if objective == "margin" and arch.k >= PAIR_MIN_CLASSES:
        value, runner_up = margin_pair(F, y)
        return pair_input_grad(W, slope, runner_up, y, arch).view(X.shape), F, value
    value, G = OBJECTIVES[objective](F, y)
    dZ = slope.mul_(neuron_expand(G, arch))
    grad_X = torch.matmul(dZ.view(*X.shape[:-3], -1, dZ.shape[2]), W).view(X.shape)
    return grad_X, F, value


def weight_grad_into(grad_W: torch.Tensor, W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, arch: Arch, scale,
                     Z: torch.Tensor | None = None):
    """Add scale * d(sum of CE)/dW at X into grad_W; return (F, CE per example). Z: X's
    pre-activations when the attack that made X has them (consumed), else computed here."""
    Z = preact(W, X) if Z is None else Z
    if cpu_kernels.usable(Z):  # activation, cross-entropy and slope scaling in one kernel
        F, loss = cpu_kernels.ce_backward(Z, y.reshape(-1), arch.k, arch.m, arch.q, arch.rho)
        dZ = Z
    else:
        S, slope = activate(Z, arch, want_slope=True, consume=True)
        F = class_sum(S, arch)
        loss, G = ce_and_grad(F, y.reshape(-1))
        dZ = slope.mul_(neuron_expand(G, arch))
    lead, d = X.shape[:-3], X.shape[-1]
    dZ_t = dZ.view(*lead, -1, dZ.shape[2]).transpose(-1, -2)
    rows = X.reshape(*lead, -1, d)
    if lead:
        grad_W.baddbmm_(dZ_t, rows, alpha=scale)
    else:
        grad_W.addmm_(dZ_t, rows, alpha=scale)
    return F, loss


# Floats of (P, width) work per chunk. With torch's elementwise passes a CPU chunk is sized to a
# core's cache, 2^18 floats (1 MiB): five passes over a chunk cost less while it stays there (~1.5x
# faster than one big chunk at figure3 size). The fused CPU kernels (cpu_kernels.py) work each
# example's block in cache themselves, so there larger chunks mean fewer calls, as long as the
# chunk's tensors (the inputs, Z, PGD's E, the attacked inputs: about four) still fit in the
# last-level cache (kernel_budget). The figure3 twin run took 22.4 s at 2^19, 20.4-21.3 s at
# 2^20, 19.8 s at 2^21 and 20.5 s at 2^22 on a Xeon; on an EPYC with 32 MB of L3, 29.5-39.3 s at
# 2^20 against 34.6-41.1 s at 2^21 (3 alternating rounds). On a GPU, 64M: big enough to fill it.
CPU_BUDGET = 2**18
CPU_KERNEL_BUDGET_MAX = 2**21
GPU_BUDGET = 64 * 2**20


def kernel_budget(cache_bytes: int | None) -> int:
    """Floats per chunk with the kernels: the largest power of two whose ~4 float32 tensors fill at
    most half the last-level cache (cache_bytes / 32), between CPU_BUDGET and CPU_KERNEL_BUDGET_MAX;
    the maximum when the cache size is unknown. A machine always gets the same chunks, so its runs
    repeat to the last digit."""
    if not cache_bytes:
        return CPU_KERNEL_BUDGET_MAX
    fits = 1 << max(0, (cache_bytes // 32).bit_length() - 1)
    return max(CPU_BUDGET, min(CPU_KERNEL_BUDGET_MAX, fits))


CPU_KERNEL_BUDGET = kernel_budget(cpu_cache.last_level_bytes())


def _budget(device) -> int:
    if torch.device(device).type == "cuda":
        return GPU_BUDGET
    return CPU_KERNEL_BUDGET if cpu_kernels.available() else CPU_BUDGET


def chunk_rows(n: int, P: int, width: int, device: torch.device) -> int:
    """Examples per chunk of one run's (n, P, width) work."""
    return max(1, min(n, _budget(device) // max(1, P * width)))


def chunk_runs(R: int, rows: int, P: int, width: int, device: torch.device) -> int:
    """Runs per chunk of a batch: runs stack inside a chunk only when one run's chunk of
    `rows` examples leaves room in the budget."""
    return max(1, min(R, _budget(device) // max(1, rows * P * width)))


def chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def init_weights(cfg, generator: torch.Generator) -> torch.Tensor:  # generator: seeds.init_generator
    """w_{r,i} ~ N(0, sigma_0^2 I_d), drawn on the CPU so every device starts the same."""
    return torch.randn(cfg.k * cfg.m, cfg.d, generator=generator).mul_(cfg.init_std)
