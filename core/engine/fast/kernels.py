"""Fused CPU kernels for the elementwise passes between a step's matrix products (numba).

Between its products a step makes passes over chunk-sized tensors: the activation (clamp,
shift, square, multiply, sum: five passes over Z), PGD's patch-wise step and projection (two
norms, a scale, an add, and X + delta for the next forward: five passes over the input's
size), the random start (gather, sign, radius, eps, add: four). Each pass is memory-bound, so
five cost about five times one (docs/performance.md has the shares). Each kernel here does its
work in one pass over its tensors, in parallel over examples.

They are used on CPU tensors of float32 or float64 when numba imports; the plain torch code in
network.py, threats.py and pair_attacks.py stays the reference (and the path on a GPU), and
tests/test_kernels.py checks each kernel against it. ``RFL_KERNELS=torch`` in the environment
turns them off, for a comparison or if a numba build misbehaves.

NaN and Inf must go through as torch's ops let them (a blown-up run is caught by its loss), so
the kernels use no fast-math flag that assumes finite values: only reassociation, which lets a
patch's sum of squares vectorize (the rounding of a sum, not its value, differs from torch's).
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np
import torch

from ..threats import TINY as _TINY  # guards divisions by a zero gradient or perturbation

_kernels = None  # the kernels (_Serialized) once numba imports, False when it cannot


class _Serialized:
    """numba_kernels with every call under one lock. numba's own thread pool may be its
    "workqueue" layer (where neither OpenMP nor TBB is found), which must not be entered from two
    threads at once, and the app's server runs the engine from one thread per browser session
    (a kernel is milliseconds; its own threads use the cores)."""

    def __init__(self, module):
        self._module, self._lock, self._calls = module, threading.Lock(), {}

    def __getattr__(self, name):
        if name not in self._calls:
            kernel, lock = getattr(self._module, name), self._lock

            def call(*args):
                with lock:
                    return kernel(*args)

            self._calls[name] = call
        return self._calls[name]


def _load():
    global _kernels
    if _kernels is None:
        if os.environ.get("RFL_KERNELS", "").lower() == "torch":
            _kernels = False
        else:
            try:
                from . import numba_kernels
            except ImportError:  # numba not installed: the torch code does the work
                _kernels = False
            else:
                _kernels = _Serialized(numba_kernels)
    return _kernels


def available() -> bool:
    """Whether the kernels are on (numba imports and RFL_KERNELS is not "torch")."""
    return bool(_load())


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the kernels can take these tensors: contiguous, on the CPU, of one float dtype
    (float32 or float64), outside autograd, with numba present."""
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64):
        return False
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != dtype or t.requires_grad or not t.is_contiguous():
            return False
    return bool(_load())


def set_threads(n: int) -> None:
    """numba's threads follow torch's, so the kernels use the cores the products use."""
    kernels = _load()
    if kernels:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def warm(dtype=torch.float32) -> bool:
    """Run every kernel once on tiny inputs, so that numba compiles them now (or loads them from its
    disk cache) rather than in a run's first step: a job worker calls this before it takes jobs.
    Returns whether the kernels are in use."""
    if not _load():
        return False
    g = torch.Generator().manual_seed(0)
    k, m, P, d, n = 3, 2, 4, 6, 2
    Z = torch.randn(n, P, k * m, generator=g, dtype=dtype)
    y = torch.tensor([0, 1])
    signed_M = torch.randn(2 * k, m * k * m, generator=g, dtype=dtype)
    activate(Z.clone(), 3, 1.0, None)
    activate(Z.clone(), 3, 1.0, torch.empty_like(Z))
    ce_backward(Z.clone(), y, k, m, 3, 1.0)
    one_step(Z.clone(), y, signed_M, n, k, m, 3, 1.0, 0.3, 3.0)
    for E in (None, torch.zeros_like(Z)):
        pgd_step(Z, E, torch.ones(n, P, dtype=dtype), y, signed_M, n, k, m, 3, 1.0, 0.1, 0.3,
                 torch.zeros(n, P, dtype=dtype))
    X = torch.randn(n, P, d, generator=g, dtype=dtype)
    for has_delta in (False, True):
        for keep in (False, True):
            patch_advance(X, X.clone() if has_delta else None, X.clone(), 0.1, 0.3, keep)
    patch_ascend(X, X.clone(), 3.0, 0.3)
    pool, index, ones = torch.randn(5, d, generator=g, dtype=dtype), torch.zeros(n * P, dtype=torch.long), \
        torch.ones(n * P, dtype=dtype)
    for want_delta in (False, True):
        pooled_start(X, pool, index, ones, want_delta)
    scaled_rows(pool, index, ones)
    return True


# A kernel call's Python side is paid many times per step: scratch is made in numpy (an array costs a
# fraction of a torch tensor viewed as one) and the constants are cached.


def _array(t: torch.Tensor):
    """A numpy view of a contiguous CPU tensor (no copy)."""
    try:
        return t.numpy()
    except RuntimeError:  # inside autograd
        return t.detach().numpy()


def _np_dtype(like: torch.Tensor):
    return np.float32 if like.dtype == torch.float32 else np.float64


def _scratch(like: torch.Tensor, *shape: int):
    """An uninitialised numpy array of like's dtype, for a kernel's work space."""
    return np.empty(shape, _np_dtype(like))


def _consts(like: torch.Tensor, *values: float) -> tuple:
    """Float constants as scalars of the tensors' dtype (a float64 literal would promote float32 work)."""
    return _consts_of(_np_dtype(like), values)


@functools.lru_cache(maxsize=64)
def _consts_of(kind, values: tuple) -> tuple:
    return tuple(kind(v) for v in values)


def _per_example(value, N: int, like: torch.Tensor):
    """A float or per-run (R, 1, 1, 1) tensor as one value per example, shape (N,)."""
    kind = _np_dtype(like)
    if torch.is_tensor(value):
        flat = _array(value.reshape(-1).to(dtype=like.dtype))
        return np.repeat(flat, N // flat.shape[0])
    return np.full(N, float(value), kind)


def activate(Z: torch.Tensor, q: int, rho: float, slope_out: torch.Tensor | None) -> torch.Tensor:
    """S (N, K) = sum_p sigma(Z), and sigma'(Z) into slope_out (which may be Z itself) when given.
    Z: (N, P, K), contiguous. The formulas are network.activate's."""
    kernels = _load()
    N, P, K = Z.shape
    S = torch.empty(N, K, dtype=Z.dtype)
    c = _act_consts(Z, q, rho)
    if slope_out is None:
        kernels.act_sum(_array(Z), _array(S), q, c)
    else:
        kernels.act_slope_sum(_array(Z), _array(slope_out), _array(S), q, c)
    return S


def _act_consts(like: torch.Tensor, q: int, rho: float) -> tuple:
    """(zero, rho, 1 / rho, 1 - 1/q, one, tiny) in the tensors' dtype: what the kernels read."""
    return _consts(like, 0.0, rho, 1.0 / rho, 1.0 - 1.0 / q, 1.0, _TINY)


def ce_backward(Z: torch.Tensor, y: torch.Tensor, k: int, m: int, q: int, rho: float):
    """Z (N, P, K) becomes dZ = sigma'(Z) * (softmax(F) - onehot(y)) in place; returns (F (N, k),
    cross-entropy (N,)): network.weight_grad_into's activation, objective and slope scaling in
    one kernel."""
    kernels = _load()
    N, _, K = Z.shape
    F, loss = torch.empty(N, k, dtype=Z.dtype), torch.empty(N, dtype=Z.dtype)
    kernels.ce_backward(_array(Z), _array(y), _scratch(Z, N, K), _array(F), _array(loss), k, m, q,
                        _act_consts(Z, q, rho))
    return F, loss


def _pair_buffers(Z: torch.Tensor, m: int):
    """Scratch of the pair kernels as numpy arrays: S (N, K), R R^T (N, 2m, 2m), the pair's slopes
    (N, 2m, P), a per-patch row (N, P); and their outputs as tensors: the weights (N, 2m, P; the
    callers get the (N, P, 2m) view), the signed rows (N, 2)."""
    N, P, K = Z.shape
    return (_scratch(Z, N, K), _scratch(Z, N, 2 * m, 2 * m), _scratch(Z, N, 2 * m, P), _scratch(Z, N, P),
            torch.empty(N, 2 * m, P, dtype=Z.dtype), torch.empty(N, 2, dtype=torch.long))


def one_step(Z, y, signed_M, n: int, k: int, m: int, q: int, rho: float, eps, eta_a):
    """pair_attacks.one_step_point's scalars at pre-activations Z (N, P, K): returns (clean
    logits (N, k), the step's weights (N, P, 2m; a transposed view) on the pair's rows, the signed
    rows (N, 2))."""
    kernels = _load()
    N = Z.shape[0]
    S, G, cs, t, w, pair = _pair_buffers(Z, m)
    F = torch.empty(N, k, dtype=Z.dtype)
    kernels.one_step(_array(Z), _array(y), _array(signed_M.view(signed_M.shape[0], m, -1)), n, k, m, q,
                     _act_consts(Z, q, rho), _per_example(eps, N, Z), _per_example(eta_a, N, Z),
                     S, _array(F), G, cs, t, _array(w), _array(pair))
    return F, w.transpose(1, 2), pair


def pgd_step(Z0, E, sigma, y, signed_M, n: int, k: int, m: int, q: int, rho: float, size, eps, norm_sq):
    """The scalars of one step of pair_attacks.pgd_point at Z0 + sigma E (delta W^T = sigma E; E
    None for the zero start): sigma and norm_sq (N, P) are updated in place; returns (the step's
    weights / the new sigma (N, P, 2m; a transposed view) on the pair's rows, the signed rows (N, 2))."""
    kernels = _load()
    N, P, K = Z0.shape
    S, G, cs, t, w, pair = _pair_buffers(Z0, m)
    has_E = E is not None
    table = _array(signed_M.view(signed_M.shape[0], m, -1))
    kernels.pgd_step(_array(Z0), _array(E if has_E else Z0), has_E, _array(sigma), _array(y), table, n, k, m, q,
                     _act_consts(Z0, q, rho), _per_example(size, N, Z0), _per_example(eps, N, Z0), _array(norm_sq),
                     S, _scratch(Z0, N, k), G, cs, t, np.empty_like(t), _array(w), _array(pair))
    return w.transpose(1, 2), pair


def _as_examples(t: torch.Tensor) -> torch.Tensor:
    """(..., P, d) as (N, P, d), a view of a contiguous tensor."""
    return t.view(-1, *t.shape[-2:])


def patch_advance(X, delta, grad, size, eps, keep_delta: bool):
    """One PGD step of the patch-wise l2 ball, projected, in one pass: (new delta or None, X + it).
    delta None is the zero start; grad is consumed (the new delta is written over it then)."""
    kernels = _load()
    N = X.numel() // (X.shape[-1] * X.shape[-2])
    has_delta = delta is not None
    if not has_delta:
        delta = grad  # read-only below unless keep_delta; then it becomes the new delta
    x_out = torch.empty_like(X)
    kernels.patch_advance(_array(_as_examples(X)), _array(_as_examples(delta)), _array(_as_examples(grad)),
                          _per_example(size, N, X), _per_example(eps, N, X), _array(_as_examples(x_out)), has_delta,
                          keep_delta, _consts(X, 0.0, 1.0, _TINY))
    return (delta if keep_delta else None), x_out


def patch_ascend(X, grad, eta_a, eps):
    """The one-step attack point X + grad_p * min(eta_a, eps / |grad_p|), written over grad."""
    kernels = _load()
    N = X.numel() // (X.shape[-1] * X.shape[-2])
    kernels.patch_ascend(_array(_as_examples(X)), _array(_as_examples(grad)), _per_example(eta_a, N, X),
                         _per_example(eps, N, X), _consts(X, 0.0, 1.0, _TINY))
    return grad


def pooled_start(X, pool, index, scale, want_delta: bool = True):
    """(delta or None, X + delta) with delta's row r = pool[index[r]] * scale[r], in one pass.
    X: (..., P, d) contiguous; index (rows,) int64; scale (rows,) of X's dtype."""
    kernels = _load()
    d = X.shape[-1]
    x_out = torch.empty_like(X)
    delta = torch.empty_like(X) if want_delta else x_out
    kernels.pooled_start(_array(X.view(-1, d)), _array(pool), _array(index), _array(scale),
                         _array(delta.view(-1, d)), _array(x_out.view(-1, d)), want_delta)
    return (delta if want_delta else None), x_out


def scaled_rows(table, index, scale):
    """table[index[r]] * scale[r] for every r: (rows, K) in one pass (a gather, then a scale, in torch)."""
    kernels = _load()
    out = torch.empty(index.shape[0], table.shape[1], dtype=table.dtype)
    kernels.scaled_rows(_array(table), _array(index), _array(scale), _array(out))
    return out
