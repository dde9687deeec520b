"""How many examples (and runs) a chunk of work holds: sized to the machine's cache, or to fill a GPU.

The training loop and the evaluation run the network over chunks of examples. The chunk size
changes no number an example gets (its random start is drawn before the chunk loop), but it
changes how a step's sums round, so a machine always cuts the same chunks and its runs repeat to
the last digit.
"""

from __future__ import annotations

import torch

from . import kernels
from .cpu_cache import last_level_bytes

# Floats of (P, width) work per chunk. With torch's elementwise passes a CPU chunk is sized to a
# core's cache, 2^18 floats (1 MiB): five passes over a chunk cost less while it stays there. The
# fused CPU kernels work each example's block in cache themselves, so there larger chunks mean fewer
# calls, as long as the chunk's tensors (the inputs, Z, PGD's E, the attacked inputs: about four)
# still fit in the last-level cache (kernel_budget). On a GPU, 64M floats: enough to fill it. The
# measurements behind these sizes: docs/performance.md.
CPU_BUDGET = 2**18
CPU_KERNEL_BUDGET_MAX = 2**21
GPU_BUDGET = 64 * 2**20


def kernel_budget(cache_bytes: int | None) -> int:
    """Floats per chunk with the kernels: the largest power of two whose ~4 float32 tensors fill at
    most half the last-level cache (cache_bytes / 32), between CPU_BUDGET and CPU_KERNEL_BUDGET_MAX;
    the maximum when the cache size is unknown."""
    if not cache_bytes:
        return CPU_KERNEL_BUDGET_MAX
    fits = 1 << max(0, (cache_bytes // 32).bit_length() - 1)
    return max(CPU_BUDGET, min(CPU_KERNEL_BUDGET_MAX, fits))


CPU_KERNEL_BUDGET = kernel_budget(last_level_bytes())


def _budget(device) -> int:
    if torch.device(device).type == "cuda":
        return GPU_BUDGET
    return CPU_KERNEL_BUDGET if kernels.available() else CPU_BUDGET


def chunk_rows(n: int, P: int, width: int, device: torch.device) -> int:
    """Examples per chunk of one run's (n, P, width) work."""
    return max(1, min(n, _budget(device) // max(1, P * width)))


def chunk_runs(R: int, rows: int, P: int, width: int, device: torch.device) -> int:
    """Runs per chunk of a batch: runs stack inside a chunk only when one run's chunk of
    `rows` examples leaves room in the budget."""
    return max(1, min(R, _budget(device) // max(1, rows * P * width)))


def chunks(n: int, size: int):
    """Slices of range(n), size at a time."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
