"""PGD's random starts in the patch-wise l2 ball, drawn from a fixed pool of directions.

A start moves patch p of an example to pool[index] * scale: a row of a fixed pool of random unit
vectors, times a random sign, eps and a radius uniform in the ball (the d-th root of a uniform
draw). Drawing d fresh normals per patch costs about as much as a matrix product of the step; an
index and a sign per patch cost a small fraction of it. The pool is drawn once per (d, device,
dtype) from a fixed seed, so runs stay reproducible; which directions a run gets is its own seed's.

A batch's starts are drawn at once (``pooled_starts``), run r's from its own generator, before the
loop over example chunks, and sliced per chunk: an example's start does not depend on how the
examples are chunked or which runs share its batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .seeds import direction_pool_generator

POOL_ROWS = 4096  # a power of two: a draw takes its row with a bitwise and
# Pools are kept per process up to this many bytes, oldest dropped first (the newest always): a server
# whose Theory page or patch view is asked for one d after another must not keep a pool for each
# (d = 100000 is 1.6 GB).
POOLS_KEPT_BYTES = 256 * 2**20
_pools: OrderedDict = OrderedDict()
_pools_lock = threading.RLock()


def pool_bytes(dim: int, itemsize: int = 4) -> int:
    """Peak bytes of drawing one pool: its float64 draw (normalized in place) and the copy kept in the
    run's dtype. Counted by resources.estimate_memory and the server's budget (measure/budget.py)."""
    return POOL_ROWS * dim * (8 + itemsize)


@contextmanager
def transient_pools():
    """Pools drawn inside are dropped on the way out: the run-time estimate's probe (measure/estimate.py)
    times a PGD step in the server, which would otherwise keep a pool for every d a class dials."""
    with _pools_lock:
        before = set(_pools)
    try:
        yield
    finally:
        with _pools_lock:
            for key in set(_pools) - before:
                _pools.pop(key, None)


def direction_pool(dim: int, device, dtype) -> torch.Tensor:
    """(POOL_ROWS, dim) unit vectors, drawn once per (dim, device, dtype) from a fixed seed."""
    key = (dim, str(device), dtype)
    with _pools_lock:  # the server draws pages from one thread per session: one cache, changed by one at a time
        if key in _pools:
            _pools.move_to_end(key)
            return _pools[key]
        pool = torch.randn(POOL_ROWS, dim, generator=direction_pool_generator(), dtype=torch.float64)
        pool = pool.div_(pool.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)  # in place: one float64 copy
        kept = sum(p.numel() * p.element_size() for p in _pools.values())
        size = pool.numel() * pool.element_size()
        while _pools and kept + size > POOLS_KEPT_BYTES:
            kept -= (old := _pools.popitem(last=False)[1]).numel() * old.element_size()
        _pools[key] = pool  # the newest is always kept, however big: a run asks for its pool at every step
        return pool


@dataclass(frozen=True)
class PooledStarts:
    """Random starts of a whole batch: patch p of example i starts at pool[index] * scale (scale: a
    random sign times a radius times eps)."""

    index: torch.Tensor  # (R, n, P): rows of the direction pool
    scale: torch.Tensor  # (R, n, P)

    def part(self, examples: slice) -> PooledStarts:
        return PooledStarts(self.index[:, examples], self.scale[:, examples])

    def delta(self, d: int, dtype, shape) -> torch.Tensor:
        """The starts themselves, in `shape` (the chunk's (R, n, P, d) or, for one run, (n, P, d))."""
        pool = direction_pool(d, self.index.device, dtype)
        return pool.index_select(0, self.index.reshape(-1)).mul_(self.scale.reshape(-1, 1).to(dtype)).view(shape)


def pooled_starts(shape, eps, generators, device) -> PooledStarts:
    """Starts for a batch of shape (R, n, P, d), run r's from generators[r]: a uniform radius in the
    patch's eps-ball and a pool row with a random sign per patch. eps: a float or per-run (R, 1, 1, 1)."""
    R, n, p, d = shape
    radii = [float(e) for e in eps.reshape(-1)] if torch.is_tensor(eps) else [eps] * R
    if len(generators) != R or len(radii) != R:
        raise ValueError(f"a batch of {R} runs needs {R} generators and radii: "
                         f"got {len(generators)} and {len(radii)}")
    uniform = torch.empty(R, n * p)
    pick = torch.empty(R, n * p, dtype=torch.int64)
    for r, generator in enumerate(generators):  # each run's own stream, drawn in the order it always was
        torch.rand(n * p, generator=generator, out=uniform[r])
        torch.randint(0, 2 * POOL_ROWS, (n * p,), generator=generator, out=pick[r])
    # The root row by row, on the CPU: pow's vector and scalar paths differ in the last bit now and
    # then, and which elements take which depends on the length of the tensor (a run's starts would
    # depend on its batch), and a GPU's pow differs again (GPU runs would no longer start where CPU
    # runs do). The rest is exact elementwise arithmetic: once for the batch, on the run's device.
    for row in uniform:
        row.pow_(1.0 / d)
    uniform, pick = uniform.to(device), pick.to(device)
    scale = uniform.mul_(torch.tensor(radii, device=uniform.device).view(R, 1))
    scale = torch.where(pick >= POOL_ROWS, scale.neg(), scale)
    index = pick.bitwise_and_(POOL_ROWS - 1)  # pick % POOL_ROWS (a power of two), in place
    return PooledStarts(index.view(R, n, p), scale.view(R, n, p))
