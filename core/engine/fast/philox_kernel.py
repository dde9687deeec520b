"""philox_starts' Philox-4x32-10 words on the CPU, compiled by numba (imported only through philox_starts).

The torch code in philox_starts runs one tensor operation per step of the algorithm (~120 a call),
which on the CPU costs more than the draws it replaces; here each block's ten rounds run in
registers. Unsigned 64-bit arithmetic throughout: a 32 x 32-bit product fits, and every other
value is masked to 32 bits, so the words are the torch code's and the published algorithm's
(tests/test_philox_starts.py holds all three equal).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M32 = np.uint64(0xFFFFFFFF)
_MULT0 = np.uint64(0xD2511F53)
_MULT1 = np.uint64(0xCD9E8D57)
_BUMP0 = np.uint64(0x9E3779B9)
_BUMP1 = np.uint64(0xBB67AE85)
_SHIFT = np.uint64(32)


# Serial: no numba thread pool is entered, so any thread may call it at any time (cpu_kernels serialises
# its parallel kernels because numba's workqueue pool must not be entered from two threads at once); a
# paper-scale step's 50 000 blocks take about a millisecond.
@njit(cache=True, nogil=True)
def philox_words(keys, first_block, step, call_word, out):
    """out[r, 4 b + w] = word w of Philox-4x32-10 at counter (first_block + b split in two words,
    step, call_word) under keys[r] (low, high). keys (R, 2) uint64; out (R, 4 * blocks) int64."""
    runs, blocks = out.shape[0], out.shape[1] // 4
    for r in range(runs):
        for b in range(blocks):
            block = np.uint64(first_block) + np.uint64(b)
            c0, c1 = block & _M32, block >> _SHIFT
            c2, c3 = np.uint64(step), np.uint64(call_word)
            k0, k1 = keys[r, 0], keys[r, 1]
            for round_ in range(10):
                if round_ > 0:
                    k0 = (k0 + _BUMP0) & _M32
                    k1 = (k1 + _BUMP1) & _M32
                p0 = _MULT0 * c0
                p1 = _MULT1 * c2
                c0, c1, c2, c3 = (p1 >> _SHIFT) ^ c1 ^ k0, p1 & _M32, (p0 >> _SHIFT) ^ c3 ^ k1, p0 & _M32
            out[r, 4 * b] = np.int64(c0)
            out[r, 4 * b + 1] = np.int64(c1)
            out[r, 4 * b + 2] = np.int64(c2)
            out[r, 4 * b + 3] = np.int64(c3)
