"""Threat models: the set a perturbation must stay in, as small objects in one registry.

Each knows three things (in the spirit of MadryLab's ``robustness`` attacker steps):
``project`` a perturbation back into its eps-ball, take a steepest-ascent ``step`` for its
norm, and draw a ``random_start`` inside the ball. Perturbations have the data's shape
(N, P, d). The registry also fills the dashboard's choices.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from . import cpu_kernels
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

    def advance(self, X, delta, grad, size, eps, keep_delta: bool = True):
        """One PGD step from delta (None: the zero start) along grad, projected: (new delta, or
        None when not keep_delta -- the last step --, and X + new delta). grad is consumed."""
        stepped = self.step(grad, size) if delta is None else self.step_from(delta, grad, size)
        if not keep_delta:
            return None, self.project_onto(X, stepped, eps)
        delta = self.project_(stepped, eps)
        return delta, X + delta


# Random starts draw each patch's direction from a fixed pool of random unit vectors (with a
# random sign) instead of d fresh normals: the CPU's Mersenne Twister made the fresh draw cost as
# much as a matrix product of the step (measured 0.9 ms per figure3 chunk against 0.6 ms for the
# product); an index and a sign per patch cost 1/50 of that. The pool is drawn once per (d, device,
# dtype) from a fixed seed, so runs stay reproducible; which directions a run gets is its own seed's.
_POOL_ROWS = 4096  # a power of two: pooled_starts takes a row with a bitwise and
# Pools are kept per process up to this many bytes, oldest dropped first (the newest always): a server
# whose Theory page or patch view is asked for one d after another must not keep a pool for each
# (d = 100000 is 1.6 GB).
POOLS_KEPT_BYTES = 256 * 2**20
_pools: OrderedDict = OrderedDict()
_pools_lock = threading.RLock()


def pool_bytes(dim: int, itemsize: int = 4) -> int:
    """Peak bytes of drawing one pool: its float64 draw (normalized in place) and the copy kept in the
    run's dtype. Counted by resources.estimate_memory and the server's budget (budget.py)."""
    return _POOL_ROWS * dim * (8 + itemsize)


@contextmanager
def transient_pools():
    """Pools drawn inside are dropped on the way out: the run-time estimate's probe (estimate.py) times
    a PGD step in the server, which would otherwise keep a pool for every d a class dials."""
    with _pools_lock:
        before = set(_pools)
    try:
        yield
    finally:
        with _pools_lock:
            for key in set(_pools) - before:
                _pools.pop(key, None)


def _direction_pool(dim: int, device, dtype) -> torch.Tensor:
    key = (dim, str(device), dtype)
    with _pools_lock:  # the server draws pages from one thread per session: one cache, changed by one at a time
        if key in _pools:
            _pools.move_to_end(key)
            return _pools[key]
        pool = torch.randn(_POOL_ROWS, dim, generator=direction_pool_generator(), dtype=torch.float64)
        pool = pool.div_(pool.norm(dim=1, keepdim=True)).to(device=device, dtype=dtype)  # in place: one float64 copy
        kept = sum(p.numel() * p.element_size() for p in _pools.values())
        size = pool.numel() * pool.element_size()
        while _pools and kept + size > POOLS_KEPT_BYTES:
            kept -= (old := _pools.popitem(last=False)[1]).numel() * old.element_size()
        _pools[key] = pool  # the newest is always kept, however big: a run asks for its pool at every step
        return pool


@dataclass(frozen=True)
class PooledStarts:
    """Random starts of a whole batch, drawn at once: patch p of example i starts at
    pool[index] * scale (scale: a random sign times a radius times eps).

    The training loop and the evaluation draw them for all examples before their chunk loop and
    slice them per chunk, so an example's start does not depend on how the examples are chunked,
    and the chunk size (a CPU cache and GPU memory matter) changes no number of a run."""

    index: torch.Tensor  # (R, n, P): rows of the direction pool
    scale: torch.Tensor  # (R, n, P)

    def part(self, examples: slice) -> PooledStarts:
        return PooledStarts(self.index[:, examples], self.scale[:, examples])

    def delta(self, d: int, dtype, shape) -> torch.Tensor:
        """The starts themselves, in `shape` (the chunk's (R, n, P, d) or, for one run, (n, P, d))."""
        pool = _direction_pool(d, self.index.device, dtype)
        return pool.index_select(0, self.index.reshape(-1)).mul_(self.scale.reshape(-1, 1).to(dtype)).view(shape)

    def delta_and_point(self, X: torch.Tensor):
        """(the starts, X + the starts) for the chunk X, in one pass where the kernels can."""
        pool = _direction_pool(X.shape[-1], X.device, X.dtype)
        scale = self.scale.reshape(-1).to(X.dtype)
        if cpu_kernels.usable(X, pool, scale):
            return cpu_kernels.pooled_start(X, pool, self.index.reshape(-1).contiguous(), scale.contiguous())
        delta = self.delta(X.shape[-1], X.dtype, X.shape)
        return delta, X + delta


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

    def advance(self, X, delta, grad, size, eps, keep_delta=True):
        if cpu_kernels.usable(X, grad, *(() if delta is None else (delta,))):  # step, projection, X + delta: one pass
            return cpu_kernels.patch_advance(X, delta, grad, size, eps, keep_delta)
        return super().advance(X, delta, grad, size, eps, keep_delta)

    def ascend(self, X, grad, eta_a, eps):
        if cpu_kernels.usable(X, grad):
            return cpu_kernels.patch_ascend(X, grad, eta_a, eps)
        # eta_a g clipped to eps per patch is g * min(eta_a, eps / |g|): one pass with addcmul
        factor = torch.clamp(eps / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY), max=eta_a)
        return torch.addcmul(X, grad, factor, out=grad)  # over grad: one chunk buffer fewer

    def step_from(self, delta, grad, size):
        # written over grad (consumed): one chunk-sized buffer fewer in the cache
        return torch.addcmul(delta, grad, size / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY), out=grad)

    def random_start(self, shape, eps, generator, device):
        starts = self.pooled_starts((1, *shape), eps, [generator], device)
        return starts.delta(shape[-1], torch.float32, shape)

    def pooled_starts(self, shape, eps, generators, device) -> PooledStarts:
        """Starts for a batch of shape (R, n, P, d), run r's from generators[r]: a uniform radius
        in the patch's eps-ball (the d-th root of a uniform draw) and a pool row with a random
        sign per patch. eps: a float or per-run (R, 1, 1, 1)."""
        R, n, p, d = shape
        radii = [float(e) for e in eps.reshape(-1)] if torch.is_tensor(eps) else [eps] * R
        if len(generators) != R or len(radii) != R:
            raise ValueError(f"a batch of {R} runs needs {R} generators and radii: "
                             f"got {len(generators)} and {len(radii)}")
        uniform = torch.empty(R, n * p)
        pick = torch.empty(R, n * p, dtype=torch.int64)
        for r, generator in enumerate(generators):  # each run's own stream, drawn in the order it always was
            torch.rand(n * p, generator=generator, out=uniform[r])
            torch.randint(0, 2 * _POOL_ROWS, (n * p,), generator=generator, out=pick[r])
        # pow row by row, on the CPU: its vector and scalar paths differ in the last bit now and then,
        # and which elements take which depends on the length of the tensor (a run's starts would
        # depend on its batch), and a GPU's pow differs again (GPU runs would no longer start where CPU
        # runs do). The rest is exact elementwise arithmetic: once for the batch, on the run's device
        # (per run on the CPU it was half the CPU time of a 64-run sweep on an H200, whose GPU waited).
        for row in uniform:
            row.pow_(1.0 / d)
        uniform, pick = uniform.to(device), pick.to(device)
        scale = uniform.mul_(torch.tensor(radii, device=uniform.device).view(R, 1))
        scale = torch.where(pick >= _POOL_ROWS, scale.neg(), scale)
        index = pick.bitwise_and_(_POOL_ROWS - 1)  # pick % _POOL_ROWS (a power of two), in place
        return PooledStarts(index.view(R, n, p), scale.view(R, n, p))


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
