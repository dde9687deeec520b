"""The margin's two classes: their weight rows, signed, so that its input gradient is a small product.

The CW margin max_{j != y} F_j - F_y has a gradient of +1 at the runner-up r and -1 at y, so only
those two classes' 2m neurons carry a gradient. Folding the signs into the rows (a table of every
class's m rows and their negation) makes each example's margin gradient a product with 2m rows.
"""

from __future__ import annotations

import torch

# The pair's batched product of small matrices runs at a lower rate than one large product, so its
# 2/k of the flops pays only from a few classes on: training takes it from k = 6 (docs/performance.md).
PAIR_MIN_CLASSES = 6


def signed_blocks(A: torch.Tensor, arch) -> torch.Tensor:
    """(R, K, c) -- or one run's (K, c) -- -> (R * 2k, m * c): block r * 2k + j holds class j's m
    rows of A side by side, block r * 2k + k + j the same negated (the margin's -1 at y)."""
    A = A if A.dim() == 3 else A.unsqueeze(0)
    R, _, c = A.shape
    blocks = A.view(R, arch.k, -1)
    return torch.cat([blocks, blocks.neg()], dim=1).reshape(R * 2 * arch.k, arch.m * c)


def pair_blocks(runner_up: torch.Tensor, y: torch.Tensor, arch, runs: int) -> torch.Tensor:
    """(N, 2) blocks of signed_blocks for each example's margin pair: the runner-up's, then y's
    negated one; example i belongs to run i // (N / runs)."""
    pair = torch.cat([runner_up, y[:, None]], 1)
    pair[:, 1] += arch.k
    if runs > 1:
        pair += (torch.arange(runs, device=y.device) * (2 * arch.k)).repeat_interleave(y.shape[0] // runs)[:, None]
    return pair


def pair_input_grad(W: torch.Tensor, slope: torch.Tensor, runner_up: torch.Tensor, y: torch.Tensor, arch):
    """The margin's input gradient, slope_r W_r - slope_y W_y per example, from 2m of the k*m neurons.

    Gathering the pair's slope columns and their signed weight rows makes the input-gradient
    product one batched (P, 2m) x (2m, d) per example instead of (P, k*m) x (k*m, d): 2/k of the
    flops, and no pass to scale the slope."""
    N, P, _ = slope.shape
    k, m, d = arch.k, arch.m, W.shape[-1]
    classes = torch.cat([runner_up, y[:, None]], 1)  # (N, 2)
    cols = slope.view(N, P, k, m).gather(2, classes[:, None, :, None].expand(N, P, 2, m)).view(N, P, 2 * m)
    pair = pair_blocks(runner_up, y, arch, W.shape[0] if W.dim() == 3 else 1)
    rows = signed_blocks(W, arch).index_select(0, pair.view(-1)).view(N, 2 * m, d)
    return torch.bmm(cols, rows)
