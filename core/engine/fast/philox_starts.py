"""Counter-based random starts: the same bits on every device, in any batch, in any chunking.

A patch-wise l2 random start (threats.PatchL2) needs three numbers per patch: a row of the fixed
direction pool, a sign and a radius whose distribution makes the start uniform in the patch's
eps-ball (the d-th root of a uniform draw). Here they come from one 32-bit word of
Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), a keyed
bijection of a 128-bit counter, so any draw is a pure function of where it is:

- key (64 bits): the run's seed;
- counter: the element block (an element is one patch of one example, four elements per block:
  words 0 and 1), the step (word 2), and the stream with its call (word 3, stream << 24 | call).

A run's starts are therefore the same whatever batch it trains in, whatever its position there,
however the examples are chunked, and on whichever device: nothing is drawn in sequence.

Exactness. Everything is integer arithmetic on int64 tensors whose values never leave
[0, 2^49): the 32 x 32-bit products Philox needs are split in 16-bit halves (``_mulhilo``), so no
operation ever overflows and there is no overflow behaviour for a CPU and a GPU to disagree on.
The radius is a table lookup: ``radius_table`` holds the quantiles ((j + 0.5) / J)^(1/d),
J = 2^16, computed once per d on the CPU in float64 (Python's scalar libm, element by element:
no vector path whose last bit depends on the tensor's length) and rounded to the run's dtype, so
no pow runs at draw time. The only float operation left is the product by eps, one IEEE multiply,
the same on every device.

Why J = 2^16 levels are enough: the quantised radius has the CDF of the continuous one up to
1 / (2J) = 7.6e-6 in Kolmogorov distance (each level stands for a 1/J slice of probability, at
its midpoint), which a KS test would need ~3e10 draws to notice -- a paper-scale step draws 2e5;
and the pool of 2 x 4096 signed directions is a far coarser stand-in for the sphere already.

The 32-bit word: bits 0-11 pick the pool row (``POOL_ROWS`` = 4096), bit 15 the sign, bits 16-31
the radius level; bits 12-14 are unused. ``philox4x32_reference`` (plain Python integers) is the
algorithm as published, checked against Random123's known-answer vectors in the tests.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from ..random_starts import POOL_ROWS  # the direction pool the rows index

RADIUS_BITS = 16
RADIUS_LEVELS = 1 << RADIUS_BITS  # J
ELEMENTS_PER_BLOCK = 4  # one Philox block gives four 32-bit words
MAX_CALL = (1 << 24) - 1
MAX_STEP = (1 << 32) - 1

_M32 = 0xFFFFFFFF
_M16 = 0xFFFF
_PHILOX_M = (0xD2511F53, 0xCD9E8D57)  # the round multipliers
_PHILOX_W = (0x9E3779B9, 0xBB67AE85)  # the key bumps (golden ratio, sqrt(3) - 1)
_ROUNDS = 10


class Stream(IntEnum):
    """Which draws of a run: each has counters of its own, so no two streams share a block."""

    TRAINING = 1  # PGD training's starts: step = the training step, call 0
    EVALUATION = 2  # PGD evaluation at a logged step: twin runs at one step face the same starts
    INSPECT = 3  # the Lab's adversarial-patch view: call = the test example's index
    CONSTRUCTED = 4  # PGD against the constructed minima of Propositions 3.1/3.2: step 0, call 0


# ---- Philox-4x32-10 ----


def philox4x32_reference(counter: Sequence[int], key: Sequence[int], rounds: int = _ROUNDS) -> tuple[int, ...]:
    """Philox-4x32 on plain Python integers, word for word as Random123 defines it."""
    c0, c1, c2, c3 = (int(c) & _M32 for c in counter)
    k0, k1 = (int(k) & _M32 for k in key)
    for round_ in range(rounds):
        if round_:
            k0, k1 = (k0 + _PHILOX_W[0]) & _M32, (k1 + _PHILOX_W[1]) & _M32
        p0, p1 = _PHILOX_M[0] * c0, _PHILOX_M[1] * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _M32, (p0 >> 32) ^ c3 ^ k1, p0 & _M32
    return c0, c1, c2, c3


def _round_keys(keys: torch.Tensor) -> torch.Tensor:
    """Every round's key words for keys (R, 2) int64, swapped to (k1, k0) as the stacked rounds
    below want them: (rounds, 2, R, 1), the bumps taken mod 2^32. Device ops with Python scalars
    only: nothing is copied from the host (a copy would make a GPU's queue wait)."""
    bumps = torch.arange(_ROUNDS, dtype=torch.int64, device=keys.device).view(-1, 1)
    k1 = (keys[:, 1].view(1, -1) + bumps * _PHILOX_W[1]).bitwise_and_(_M32)  # (rounds, R)
    k0 = (keys[:, 0].view(1, -1) + bumps * _PHILOX_W[0]).bitwise_and_(_M32)
    return torch.stack([k1, k0], dim=1).unsqueeze(-1)


_multipliers: dict = {}


def _multiplier_halves(device, dims: int):
    """The round multipliers' 16-bit halves as (2, 1, ...) tensors on `device`, made once per device."""
    key = str(device)
    if key not in _multipliers:
        mult = torch.tensor(_PHILOX_M, dtype=torch.int64, device=device)
        _multipliers[key] = (mult & _M16, mult >> 16)
    low, high = _multipliers[key]
    return low.view(2, *(1,) * dims), high.view(2, *(1,) * dims)


def _mulhilo(a: torch.Tensor, low_mult: torch.Tensor, high_mult: torch.Tensor):
    """(high, low) 32-bit words of a * multiplier for a in [0, 2^32), without overflow: the
    multiplier's 16-bit halves (low_mult, high_mult) give two products under 2^48, recombined word
    by word; nothing here reaches 2^49."""
    low_half = a * low_mult  # < 2^48
    high_half = a * high_mult  # < 2^48; the product is high_half * 2^16 + low_half
    t = (high_half & _M16).bitwise_left_shift_(16).add_(low_half)  # < 2^49
    high = high_half.bitwise_right_shift_(16).add_(t >> 32)
    return high, t.bitwise_and_(_M32)


def philox4x32(counter, keys: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Philox-4x32-10 on int64 tensors: counter, four words (tensors or ints, each < 2^32,
    broadcasting against each other), keys (R, 2) int64. Returns the four output words, each
    (R, *the counter's broadcast shape).

    The two multiplications of a round run as one on the stacked words (c0, c2); the odd words
    are kept swapped, (c3, c1), which is the order a round's low products come out in, so a round
    is one flip of the stacked even words away from the published one (philox4x32_reference).
    Integer words become tensors by a fill on the device, not a copy from the host."""
    device = keys.device
    words = torch.broadcast_tensors(*(c if torch.is_tensor(c) else torch.full((), c, dtype=torch.int64, device=device)
                                      for c in counter))
    shape = words[0].shape
    lead = (1,) * len(shape)
    even = torch.stack([words[0], words[2]]).unsqueeze(1)  # (2, 1, ...): the runs come in with the keys
    odd_swapped = torch.stack([words[3], words[1]]).unsqueeze(1)
    low_mult, high_mult = _multiplier_halves(device, 1 + len(shape))
    for k in _round_keys(keys):  # k: (2, R, 1) = (k1, k0) of the round
        high, low = _mulhilo(even, low_mult, high_mult)
        # (c2', c0') = (hi0 ^ c3 ^ k1, hi1 ^ c1 ^ k0); (c3', c1') = (lo0, lo1)
        even = (high ^ k.view(2, -1, *lead)).bitwise_xor_(odd_swapped).flip(0)  # out of place: the runs join here
        odd_swapped = low
    R = keys.shape[0]
    even, odd_swapped = even.expand(2, R, *shape), odd_swapped.expand(2, R, *shape)
    return even[0], odd_swapped[1], even[1], odd_swapped[0]


# ---- keys, counters and words ----


_KEYS_KEPT = 256  # per (seeds, device): a training loop asks for the same runs' keys at every step
_keys: OrderedDict = OrderedDict()
_keys_lock = threading.Lock()


def run_keys(seeds: Sequence[int], device=None) -> torch.Tensor:
    """The Philox keys (R, 2) int64 of runs with these seeds (0 <= seed < 2^64): the seed itself,
    low word then high word, so different seeds never share a key. Kept per (seeds, device), so a
    GPU gets them copied once, not at every step (each copy from the host makes its queue wait)."""
    seeds = tuple(int(seed) for seed in seeds)
    for seed in seeds:
        if not 0 <= seed < 1 << 64:
            raise ValueError(f"a seed must be in [0, 2^64), got {seed}")
    key = (seeds, str(torch.device(device or "cpu")))
    with _keys_lock:
        if key in _keys:
            _keys.move_to_end(key)
            return _keys[key]
    words = torch.tensor([(seed & _M32, seed >> 32) for seed in seeds], dtype=torch.int64).view(-1, 2).to(device)
    with _keys_lock:
        _keys[key] = words
        while len(_keys) > _KEYS_KEPT:
            _keys.popitem(last=False)
    return words


def _call_word(stream: int, call: int) -> int:
    if not 0 <= call <= MAX_CALL:
        raise ValueError(f"call must be in [0, {MAX_CALL}], got {call}")
    return (int(Stream(stream)) << 24) | call


_kernel = None


def _cpu_kernel():
    """philox_kernel.philox_words, or False where numba is missing or RFL_KERNELS=torch (as
    cpu_kernels decides for the step's kernels)."""
    global _kernel
    if _kernel is None:
        _kernel = False
        if os.environ.get("RFL_KERNELS", "").lower() != "torch":
            try:
                from .philox_kernel import philox_words
            except ImportError:  # numba not installed: the torch code does the work
                pass
            else:
                _kernel = philox_words
    return _kernel


def start_words(keys: torch.Tensor, stream: int, step: int, first: int, count: int, call: int = 0,
                kernel: bool | None = None) -> torch.Tensor:
    """The 32-bit words (R, count) int64 of elements first .. first + count - 1 of every run, at
    `step` of `stream`. Element e is word e % 4 of block e // 4, so any range of elements is the
    same slice of the one long sequence whatever range is asked. On the CPU the compiled kernel
    computes them where it can (kernel=None), the torch code where kernel=False; the same words."""
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"step must be in [0, {MAX_STEP}], got {step}")
    if first < 0 or count < 0:
        raise ValueError(f"elements need first >= 0 and count >= 0, got {first} and {count}")
    R = keys.shape[0]
    if count == 0:
        return torch.empty(R, 0, dtype=torch.int64, device=keys.device)
    block0, block1 = first // ELEMENTS_PER_BLOCK, (first + count - 1) // ELEMENTS_PER_BLOCK + 1
    call_word = _call_word(stream, call)
    compiled = _cpu_kernel() if kernel is not False and keys.device.type == "cpu" else False
    if compiled:
        flat = torch.empty(R, (block1 - block0) * ELEMENTS_PER_BLOCK, dtype=torch.int64)
        compiled(keys.numpy().astype(np.uint64), np.uint64(block0), np.uint64(step), np.uint64(call_word), flat.numpy())
    else:
        blocks = torch.arange(block0, block1, dtype=torch.int64, device=keys.device)
        words = philox4x32((blocks & _M32, blocks >> 32, torch.full_like(blocks, step),
                            torch.full_like(blocks, call_word)), keys)
        flat = torch.stack(words, dim=-1).view(R, -1)  # (R, blocks * 4): element order
    offset = first - block0 * ELEMENTS_PER_BLOCK
    return flat[:, offset : offset + count]


# ---- the radius table ----

_TABLES_KEPT = 64  # per (d, device, dtype): 512 KB each in float32, so a server that dials many d keeps 32 MB
_tables: OrderedDict = OrderedDict()
_tables_lock = threading.Lock()


def table_bytes(itemsize: int = 4) -> int:
    """Bytes of one radius table kept for a (d, device, dtype): counted beside the direction pool."""
    return 2 * RADIUS_LEVELS * itemsize


@contextmanager
def transient_tables():
    """Tables made inside are dropped on the way out, as random_starts.transient_pools does for the pools
    (the run-time estimate's probe times steps at every d a class dials)."""
    with _tables_lock:
        before = set(_tables)
    try:
        yield
    finally:
        with _tables_lock:
            for key in set(_tables) - before:
                _tables.pop(key, None)


def radius_quantiles(d: int) -> torch.Tensor:
    """((j + 0.5) / J)^(1/d) for j < J, float64 on the CPU: the radius of a uniform draw in the unit
    d-ball, quantised to J levels. exp(log(u) / d) per element by Python's math: the same on every
    call, whatever the tensor's length (no vector path with a last bit of its own)."""
    if d < 1:
        raise ValueError(f"d must be at least 1, got {d}")
    J = RADIUS_LEVELS
    return torch.tensor([math.exp(math.log((j + 0.5) / J) / d) for j in range(J)], dtype=torch.float64)


def radius_table(d: int, device, dtype) -> torch.Tensor:
    """The signed radii (2J,) in `dtype` on `device`: entry 2j + s is (-1)^s times level j, so the
    word's bits 15-31 (sign, then level) index it directly. Rounded to dtype on the CPU and copied
    to the device: every device holds the same values. Cached per (d, device, dtype)."""
    key = (d, str(torch.device(device)), dtype)
    with _tables_lock:
        if key in _tables:
            _tables.move_to_end(key)
            return _tables[key]
    levels = radius_quantiles(d)
    signed = torch.stack([levels, -levels], dim=1).reshape(-1).to(dtype).to(device)
    with _tables_lock:
        _tables[key] = signed
        while len(_tables) > _TABLES_KEPT:
            _tables.popitem(last=False)
    return signed


# ---- the starts' pieces ----


def pieces_from_words(words: torch.Tensor, table: torch.Tensor, eps) -> tuple[torch.Tensor, torch.Tensor]:
    """(pool row, signed scale) of each word: row = bits 0-11, scale = table[bits 15-31] * eps,
    eps a float or per-run (R, ...) with R = words.shape[0]."""
    index = words & (POOL_ROWS - 1)
    scale = table.index_select(0, (words >> 15).view(-1)).view(words.shape)  # twice take's speed on the CPU
    if torch.is_tensor(eps):
        eps = eps.reshape(words.shape[0], *[1] * (words.dim() - 1)).to(device=scale.device, dtype=scale.dtype)
    return index, scale.mul_(eps)


def counter_starts(shape, eps, seeds: Sequence[int], stream: int, step: int, device, dtype=torch.float32,
                   call: int = 0, first_example: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(index, scale), each (R, n, P), of the starts of a batch of shape (R, n, P, d): run r's from
    seeds[r], example i being example first_example + i of the run's sequence at (stream, step,
    call). Patch p of example i starts at pool[index] * scale (random_starts.PooledStarts). eps: a float
    or per-run (R, 1, 1, 1)."""
    R, n, P, d = shape
    if len(seeds) != R:
        raise ValueError(f"a batch of {R} runs needs {R} seeds, got {len(seeds)}")
    keys = run_keys(seeds, device)
    words = start_words(keys, stream, step, first_example * P, n * P, call)
    index, scale = pieces_from_words(words, radius_table(d, device, dtype), eps)
    return index.view(R, n, P), scale.view(R, n, P)


# Elements from here on are never a patch (n * P stays below 2^40): their words seed the CPU generators of
# the threat models that draw whole-input starts from torch's generators (StartSource.generators).
_GENERATOR_ELEMENT = 1 << 62


@dataclass(frozen=True)
class StartSource:
    """Where one call's random starts come from, for a batch of runs: their seeds, the stream, the
    step and the call. It stands where a torch.Generator (or a list of them, one per run) stands
    in the attacks' start path today, and it is a value: asking twice gives the same starts."""

    seeds: tuple[int, ...]
    stream: Stream
    step: int
    call: int = 0

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "stream", Stream(self.stream))
        run_keys(self.seeds)  # seeds in range
        _call_word(self.stream, self.call)  # call in range
        if not 0 <= self.step <= MAX_STEP:
            raise ValueError(f"step must be in [0, {MAX_STEP}], got {self.step}")

    def runs(self, part: slice) -> StartSource:
        """The runs `part` of the batch (a training loop's group of runs)."""
        return StartSource(self.seeds[part], self.stream, self.step, self.call)

    def pieces(self, shape, eps, device, dtype=torch.float32, first_example: int = 0):
        """(index, scale) (R, n, P) of the patch-wise starts of a batch of shape (R, n, P, d)."""
        return counter_starts(shape, eps, self.seeds, self.stream, self.step, device, dtype, self.call, first_example)

    def generators(self) -> list[torch.Generator]:
        """One CPU torch.Generator per run, seeded by two words of the run's own sequence, for the
        threat models whose starts are whole-input draws (l2, linf): what they drew from before."""
        words = start_words(run_keys(self.seeds), self.stream, self.step, _GENERATOR_ELEMENT, 2, self.call)
        return [torch.Generator().manual_seed(int(low) | int(high) << 32) for low, high in words.tolist()]
