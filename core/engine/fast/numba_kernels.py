"""The kernels of kernels.py, compiled by numba (imported only through kernels.py).

Each kernel works example by example (in parallel over examples): an example's block of
pre-activations (P x K, 40 KB at figure3 size) stays in the core's cache while the kernel reads
it several times -- the logits, then the margin's pair or the cross-entropy's gradient, then the
update -- where the torch code makes one pass over the whole chunk per operation.

Every array is C-contiguous, float32 or float64, and every float constant comes in as a scalar
of the arrays' dtype (the ``c`` tuples), so float32 work stays in float32 (a float64 literal
would promote the arithmetic and halve the vector width). numba compiles each kernel on first
use per dtype and caches the machine code next to this file (cache=True), so a machine pays
the compile once, not once per run.

The signed tables are PairGeometry's: ``signed_M`` (R * 2k, m, K) holds, for run r and class c,
the m rows of W W^T of class c's neurons (block r * 2k + c) and their negation (block
r * 2k + k + c); example i belongs to run i // n.
"""

from __future__ import annotations

import math

from numba import njit, prange

# No nnan/ninf: NaN and Inf must go through as in torch (a blown-up run is caught by its loss).
# Reassociation lets sums vectorize.
_FLAGS = {"reassoc", "contract"}


def _kernel(fn):
    return njit(parallel=True, cache=True, nogil=True, fastmath=_FLAGS)(fn)


def _inline(fn):
    return njit(inline="always", fastmath=_FLAGS)(fn)


@_inline
def _slope(t, q):
    """t^(q-1) for t in [0, 1]: the paper's q = 3 and q = 2 without a call to pow."""
    if q == 3:
        return t * t
    if q == 2:
        return t
    return t ** (q - 1)


@_inline
def _clamp(z, zero, rho):
    """clamp(z, 0, rho), NaN kept (numba's min and max pass NaN on, as torch.clamp does). Written
    with min/max, not branches: the branches kept the loops from vectorizing."""
    return min(max(z, zero), rho)


# ---- one example's activation sums: S[i, j] = sum_p sigma(Z[i, p, j]) ----


@_inline
def _act(z, q, zero, rho, inv_rho, shift):
    """(sigma'(z), sigma(z)) of the smoothed ReLU: sigma(z) = sigma'(z) (z - (1 - 1/q) clamp(z, 0, rho))."""
    u = _clamp(z, zero, rho)
    s = _slope(u * inv_rho, q)
    return s, s * (z - shift * u)


@_inline
def _sums(Z, i, S, q, c):
    """S[i] for the pre-activations Z[i], Z left alone. c = (zero, rho, 1 / rho, 1 - 1/q, ...)."""
    zero, rho, inv_rho, shift = c[0], c[1], c[2], c[3]
    for j in range(Z.shape[2]):
        S[i, j] = zero
    for p in range(Z.shape[1]):
        for j in range(Z.shape[2]):
            S[i, j] += _act(Z[i, p, j], q, zero, rho, inv_rho, shift)[1]


@_inline
def _sums_of_scaled_sum(Z0, E, sigma, i, S, q, c):
    """_sums at Z0 + sigma E (sigma a scale per patch), neither written."""
    zero, rho, inv_rho, shift = c[0], c[1], c[2], c[3]
    for j in range(Z0.shape[2]):
        S[i, j] = zero
    for p in range(Z0.shape[1]):
        f = sigma[i, p]
        for j in range(Z0.shape[2]):
            S[i, j] += _act(Z0[i, p, j] + f * E[i, p, j], q, zero, rho, inv_rho, shift)[1]


@_inline
def _sums_and_slopes(Z, i, slope, S, q, c):
    """_sums, and slope[i, p, j] = sigma'(Z[i, p, j]) (slope may be Z)."""
    zero, rho, inv_rho, shift = c[0], c[1], c[2], c[3]
    for j in range(Z.shape[2]):
        S[i, j] = zero
    for p in range(Z.shape[1]):
        for j in range(Z.shape[2]):
            s, value = _act(Z[i, p, j], q, zero, rho, inv_rho, shift)
            S[i, j] += value
            slope[i, p, j] = s


@_inline
def _class_sums(S, i, F, k, m, zero):
    """F[i, c] = the sum of class c's m neuron sums: the logits."""
    for cl in range(k):
        total = zero
        for a in range(m):
            total += S[i, cl * m + a]
        F[i, cl] = total


# ---- the activation alone (network.activate, logits) ----


@_kernel
def act_slope_sum(Z, slope, S, q, c):
    """S = sum_p sigma(Z) per example and neuron, slope = sigma'(Z) (slope may be Z)."""
    for i in prange(Z.shape[0]):
        _sums_and_slopes(Z, i, slope, S, q, c)


@_kernel
def act_sum(Z, S, q, c):
    """S = sum_p sigma(Z), Z left alone (logits only)."""
    for i in prange(Z.shape[0]):
        _sums(Z, i, S, q, c)


# ---- pieces shared by the fused kernels, for one example i ----


@_inline
def _logits(Z, i, S, F, k, m, q, c):
    """S[i] = sum_p sigma(Z[i]) and F[i] its class sums."""
    _sums(Z, i, S, q, c)
    _class_sums(S, i, F, k, m, c[0])


@_inline
def _logits_of_scaled_sum(Z0, E, sigma, i, S, F, k, m, q, c):
    """_logits at Z0 + sigma E, neither written."""
    _sums_of_scaled_sum(Z0, E, sigma, i, S, q, c)
    _class_sums(S, i, F, k, m, c[0])


@_inline
def _runner_up(F, i, yi, k):
    """argmax over the classes other than yi, the first on a tie (as torch's max on the CPU)."""
    best = F[i, 0]
    r = -1
    for cl in range(k):
        if cl != yi and (r < 0 or F[i, cl] > best):
            best = F[i, cl]
            r = cl
    return r


@_inline
def _pair_gram(signed_M, G, i, row_r, row_y, r, yi, m, one):
    """G[i] = R R^T for the pair's signed rows R (runner-up r's m rows, then minus yi's)."""
    for a in range(2 * m):
        row = row_r if a < m else row_y
        aa = a if a < m else a - m
        for b in range(2 * m):
            col = r * m + b if b < m else yi * m + (b - m)
            G[i, a, b] = signed_M[row, aa, col] if b < m else -signed_M[row, aa, col]


@_inline
def _pair_slopes(Z0, E, sigma, has_E, i, cs, r, yi, m, q, c):
    """cs[i, a, p] = sigma' at patch p of the pair's neuron a (of Z0 + sigma E when has_E): patches
    last, so the per-patch arithmetic below runs along contiguous vectors. Neuron by neuron, the
    writes are contiguous (patch by patch with the writes strided took twice as long)."""
    zero, rho, inv_rho = c[0], c[1], c[2]
    P = Z0.shape[1]
    for a in range(2 * m):
        col = r * m + a if a < m else yi * m + a - m
        if has_E:
            for p in range(P):
                z = Z0[i, p, col] + sigma[i, p] * E[i, p, col]
                cs[i, a, p] = _slope(_clamp(z, zero, rho) * inv_rho, q)
        else:
            for p in range(P):
                cs[i, a, p] = _slope(_clamp(Z0[i, p, col], zero, rho) * inv_rho, q)


@_inline
def _pair_slopes_and_dot(Z0, E, sigma, i, cs, dot, r, yi, m, q, c):
    """_pair_slopes at Z0 + sigma E, and dot[i, p] += <delta_p, g_p> / sigma_p = sum_a +-slope_a
    E[p, col_a] in the same pass: each strided E[p, col_a] is read once."""
    zero, rho, inv_rho = c[0], c[1], c[2]
    P = Z0.shape[1]
    for a in range(2 * m):
        col = r * m + a if a < m else yi * m + a - m
        if a < m:
            for p in range(P):
                e = E[i, p, col]
                s = _slope(_clamp(Z0[i, p, col] + sigma[i, p] * e, zero, rho) * inv_rho, q)
                cs[i, a, p] = s
                dot[i, p] += s * e
        else:
            for p in range(P):
                e = E[i, p, col]
                s = _slope(_clamp(Z0[i, p, col] + sigma[i, p] * e, zero, rho) * inv_rho, q)
                cs[i, a, p] = s
                dot[i, p] -= s * e


@_inline
def _grad_sq(G, cs, t, i, m, zero):
    """t[i, p] = |g_p|^2 = cs_p (R R^T) cs_p^T for every patch p, clamped at 0 (t[i] is (P,)).
    R R^T is symmetric: the terms above the diagonal count twice (half the work of the full sum).
    Four of them per pass over t, added to each t[i, p] in the same order as one by one (the same
    numbers), so that t is loaded and stored a quarter as often: this is the kernel's largest part."""
    P = cs.shape[2]
    for p in range(P):
        t[i, p] = zero
    for a in range(2 * m):
        g = G[i, a, a]
        for p in range(P):
            t[i, p] += g * cs[i, a, p] * cs[i, a, p]
        b = a + 1
        while b + 4 <= 2 * m:
            g0 = G[i, a, b] + G[i, b, a]
            g1 = G[i, a, b + 1] + G[i, b + 1, a]
            g2 = G[i, a, b + 2] + G[i, b + 2, a]
            g3 = G[i, a, b + 3] + G[i, b + 3, a]
            for p in range(P):
                ca = cs[i, a, p]
                tp = t[i, p]
                tp += g0 * ca * cs[i, b, p]
                tp += g1 * ca * cs[i, b + 1, p]
                tp += g2 * ca * cs[i, b + 2, p]
                tp += g3 * ca * cs[i, b + 3, p]
                t[i, p] = tp
            b += 4
        while b < 2 * m:
            g = G[i, a, b] + G[i, b, a]
            for p in range(P):
                t[i, p] += g * cs[i, a, p] * cs[i, b, p]
            b += 1
    for p in range(P):
        t[i, p] = max(t[i, p], zero)


@_inline
def _choose_pair(F, i, yi, n, k, m, signed_M, G, pair, one):
    """The margin's pair of example i at logits F[i]: pair[i] = its signed rows (the runner-up's,
    then y's negated; example i is run i // n's), G[i] = R R^T; returns the runner-up."""
    r = _runner_up(F, i, yi, k)
    row_r = (i // n) * 2 * k + r
    row_y = (i // n) * 2 * k + k + yi
    pair[i, 0] = row_r
    pair[i, 1] = row_y
    _pair_gram(signed_M, G, i, row_r, row_y, r, yi, m, one)
    return r



@_inline
def _step_weights(t, cs, w, i, m):
    """w[i, a, p] = t[i, p] * the pair's slope a at patch p: a step's weights on the pair's rows, laid
    out as cs, (N, 2m, P), so that this runs along contiguous vectors (the caller multiplies by their
    transpose, which the batched product takes as it is; written (N, P, 2m), it was a fifth of the kernel)."""
    for a in range(2 * m):
        for p in range(w.shape[2]):
            w[i, a, p] = t[i, p] * cs[i, a, p]


# ---- fused kernels ----


@_kernel
def ce_backward(Z, y, S, F, loss, k, m, q, c):
    """The cross-entropy's side of a weight gradient, in place: Z (pre-activations) becomes
    dZ = sigma'(Z) * (softmax(F) - onehot(y)) per neuron's class; F (N, k) the logits, loss (N,)."""
    zero = c[0]
    N, P, K = Z.shape
    for i in prange(N):
        _sums_and_slopes(Z, i, Z, S, q, c)
        _class_sums(S, i, F, k, m, zero)
        top = -math.inf
        for cl in range(k):
            top = max(top, F[i, cl])
        if not top > -math.inf:  # all -inf or NaN: let the NaN through below
            top = zero
        norm = zero
        for cl in range(k):
            norm += math.exp(F[i, cl] - top)
        log_norm = top + math.log(norm)
        yi = y[i]
        loss[i] = log_norm - F[i, yi]
        for cl in range(k):  # each neuron's class gradient, in S[i] (spent): one vector per patch below
            g = math.exp(F[i, cl] - log_norm) - (1.0 if cl == yi else 0.0)
            for a in range(m):
                S[i, cl * m + a] = g
        for p in range(P):
            for j in range(K):
                Z[i, p, j] *= S[i, j]


@_kernel
def one_step(Z, y, signed_M, n, k, m, q, c, eps, eta_a, S, F, G, cs, t, w, pair):
    """The one-step attack's scalars on the pre-activations of one chunk (pair_attacks.one_step_point).

    F gets the clean logits and pair[i] the signed rows of example i's pair; per patch,
    w[i, p] = f * slopes with f = min(eta_a, eps / |g_p|). The caller adds w (R W^T) to Z (a
    batched product: a loop here ran at a quarter of its speed)."""
    zero, one, tiny = c[0], c[4], c[5]
    N, P, K = Z.shape
    for i in prange(N):
        _logits(Z, i, S, F, k, m, q, c)
        yi = y[i]
        r = _choose_pair(F, i, yi, n, k, m, signed_M, G, pair, one)
        _pair_slopes(Z, Z, S, False, i, cs, r, yi, m, q, c)
        _grad_sq(G, cs, t, i, m, zero)
        for p in range(P):
            t[i, p] = min(eps[i] / max(math.sqrt(t[i, p]), tiny), eta_a[i])
        _step_weights(t, cs, w, i, m)


@_kernel
def pgd_step(Z0, E, has_E, sigma, y, signed_M, n, k, m, q, c, size, eps, norm_sq, S, F, G, cs, t, dot, w, pair):
    """One PGD step of the patch-wise l2 margin attack on the pre-activations (pair_attacks.pgd_point).

    At the current point Z0 + sigma E (delta W^T = sigma E, sigma a scale per patch; zero when not
    has_E), per example: the logits, the pair; per patch: |g_p|^2 and <delta_p, g_p> from the Gram
    rows, the step factor along = size / |g_p|, the projection's shrink, |delta_p|^2 after the step
    (norm_sq, in place), sigma <- sigma * shrink, and w[i, p] = along * slopes / (the old sigma):
    the step's part of the new E, which the caller adds as w (R W^T) (a batched product)."""
    zero, one, tiny = c[0], c[4], c[5]
    N, P, K = Z0.shape
    for i in prange(N):
        if has_E:
            _logits_of_scaled_sum(Z0, E, sigma, i, S, F, k, m, q, c)
        else:
            _logits(Z0, i, S, F, k, m, q, c)
        yi = y[i]
        r = _choose_pair(F, i, yi, n, k, m, signed_M, G, pair, one)
        for p in range(P):
            dot[i, p] = zero
        if has_E:
            _pair_slopes_and_dot(Z0, E, sigma, i, cs, dot, r, yi, m, q, c)
        else:
            _pair_slopes(Z0, E, sigma, False, i, cs, r, yi, m, q, c)
        _grad_sq(G, cs, t, i, m, zero)
        for p in range(P):
            grad_sq = t[i, p]
            along = size[i] / max(math.sqrt(grad_sq), tiny)
            old = sigma[i, p]
            new_sq = max(norm_sq[i, p] + 2 * along * old * dot[i, p] + along * along * grad_sq, zero)
            sh = min(eps[i] / max(math.sqrt(new_sq), tiny), one)
            norm_sq[i, p] = new_sq * sh * sh
            sigma[i, p] = old * sh
            t[i, p] = along / old
        _step_weights(t, cs, w, i, m)


# ---- the patch-wise l2 ball in input space (the plain attack loop: other objectives, few classes) ----


@_inline
def _sum_sq(A, i, p, zero):
    total = zero
    for j in range(A.shape[2]):
        total += A[i, p, j] * A[i, p, j]
    return total


@_kernel
def patch_advance(X, delta, grad, size, eps, x_out, has_delta, keep_delta, c):
    """One PGD step of the patch-wise l2 ball: delta <- project(delta + size g_p / |g_p|) per patch
    (delta ignored when not has_delta: the zero start), x_out = X + delta; delta is written only
    when keep_delta. c = (zero, one, tiny)."""
    zero, one, tiny = c
    N, P, d = X.shape
    for i in prange(N):
        for p in range(P):
            a = size[i] / max(math.sqrt(_sum_sq(grad, i, p, zero)), tiny)
            total = zero
            for j in range(d):
                v = a * grad[i, p, j] + delta[i, p, j] if has_delta else a * grad[i, p, j]
                total += v * v
            f = min(eps[i] / max(math.sqrt(total), tiny), one)
            for j in range(d):
                v = (a * grad[i, p, j] + delta[i, p, j] if has_delta else a * grad[i, p, j]) * f
                if keep_delta:
                    delta[i, p, j] = v
                x_out[i, p, j] = X[i, p, j] + v


@_kernel
def patch_ascend(X, grad, eta_a, eps, c):
    """grad <- X + grad * min(eta_a, eps / |grad_p|) per patch: the one-step attack point."""
    zero, one, tiny = c
    N, P, d = X.shape
    for i in prange(N):
        for p in range(P):
            f = min(eps[i] / max(math.sqrt(_sum_sq(grad, i, p, zero)), tiny), eta_a[i])
            for j in range(d):
                grad[i, p, j] = X[i, p, j] + f * grad[i, p, j]


@_kernel
def pooled_start(X, pool, index, scale, delta, x_out, want_delta):
    """x_out[r] = X[r] + pool[index[r]] * scale[r], and delta[r] = pool[index[r]] * scale[r] when
    wanted (rows of length d)."""
    rows, d = X.shape
    for r in prange(rows):
        k = index[r]
        s = scale[r]
        for j in range(d):
            v = pool[k, j] * s
            if want_delta:
                delta[r, j] = v
            x_out[r, j] = X[r, j] + v


@_kernel
def scaled_rows(table, index, scale, out):
    """out[r] = table[index[r]] * scale[r]: a start's pre-activations from the pool's products."""
    rows, K = out.shape
    for r in prange(rows):
        k = index[r]
        s = scale[r]
        for j in range(K):
            out[r, j] = table[k, j] * s
