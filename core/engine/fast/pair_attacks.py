"""The margin attacks in the patch-wise l2 ball, computed on the pre-activations.

The CW margin max_{j != y} F_j - F_y has a gradient on two classes only, the runner-up r (+1)
and y (-1), so its input gradient at patch p is g_p = c_p R: R holds the 2m weight rows of those
two classes (y's negated) and c_p their 2m activation slopes at the patch. Every step of the
paper's one-step attack and of PGD moves each patch along such a g_p and rescales it, so:

* the attacked pre-activations follow without a forward product: (X + delta) W^T = X W^T +
  delta W^T, and g_p W^T = c_p (R W^T), where R W^T is 2m rows of the Gram matrix W W^T -- a
  (P x 2m)(2m x K) product per example instead of the forward's (P x d)(d x K);
* the norms the step and the projection need come from the same Gram matrix: |g_p|^2 =
  c_p (R R^T) c_p^T and <delta_p, g_p> = c_p (R delta_p), R delta_p being delta W^T at the
  pair's columns;
* the attacked input itself is made once, at the end, and only when asked for (training asks,
  an evaluation does not): X + delta = X + sigma (delta_0 + sum over steps of w_t R_t), one
  batched product, sigma being the product of the projections' shrinks per patch.

At figure3 size (d = K = 100, 2m = 20) a PGD step's forward product (1 unit) becomes two fifths
of one, and the final forward disappears. The numbers are those of PGDAttack's plain loop up to
rounding (tests/test_pair_attacks.py), and the random starts are the same draws from the same
generators. Threat models other than patch-wise l2 and the cross-entropy objective keep the
plain loop (attacks.py); ``on_pairs`` says which attacks run here.

Each step's work between the products -- logits, the pair, the Gram quantities, the update of
delta W^T -- is one fused kernel per chunk on a CPU (kernels.py); the torch code here is the
reference and the path on a GPU.

Weights are (R, K, d) for a batch of R runs (W (K, d) is taken as R = 1); examples are flattened
over runs, N = R * n; eps, step sizes and eta_a are floats or per-run (R, 1, 1, 1) tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..attack_point import AttackPoint
from ..network import Arch, class_sum, margin_pair, preact
from ..random_starts import POOL_ROWS, direction_pool
from ..threats import TINY, PatchL2, ThreatModel
from . import kernels
from .fused_network import activate
from .pair_rows import PAIR_MIN_CLASSES, pair_blocks, signed_blocks


def on_pairs(threat: ThreatModel, objective: str, arch: Arch, counting: bool = False) -> bool:
    """Whether an attack runs here: the margin in the patch-wise l2 ball. For training, from
    PAIR_MIN_CLASSES classes on, because training pays for the attacked inputs this path forms at
    the end; with fewer classes the plain loop is as fast. An evaluation only counts correct answers
    (counting=True): it never forms them, so this path pays at every k. The run-time estimate
    (measure/estimate.py) asks it too."""
    if not (isinstance(threat, PatchL2) and objective == "margin"):
        return False
    return counting or arch.k >= PAIR_MIN_CLASSES


@dataclass
class PairGeometry:
    """What the pair attacks need of one set of weights, computed once per training step or
    evaluation and shared by its chunks: signed weight rows and Gram rows per class, and (for
    random starts, on first use) the pool of start directions times W^T."""

    W: torch.Tensor  # (R, K, d)
    arch: Arch
    signed_W: torch.Tensor  # (R * 2k, m * d): pair_rows.signed_blocks of W
    signed_M: torch.Tensor  # (R * 2k, m * K): the same for the rows of W W^T
    _pool_products: torch.Tensor | None = None

    @classmethod
    def of(cls, W: torch.Tensor, arch: Arch) -> PairGeometry:
        W3 = W if W.dim() == 3 else W.unsqueeze(0)
        M = torch.matmul(W3, W3.transpose(1, 2))
        return cls(W3, arch, signed_blocks(W3, arch), signed_blocks(M, arch))

    @property
    def runs(self) -> int:
        return self.W.shape[0]

    def pool_products(self) -> torch.Tensor:
        """(R * pool rows, K): every start direction times W^T, so a start's pre-activations are a gather."""
        if self._pool_products is None:
            pool = direction_pool(self.W.shape[-1], self.W.device, self.W.dtype)
            self._pool_products = torch.matmul(pool, self.W.transpose(1, 2)).reshape(-1, self.W.shape[1])
        return self._pool_products


def _as_batch(X, y):
    """One run's (n, P, d), (n,) as a batch of one; a batch's (R, n, P, d), (R, n) pass through."""
    return (X.unsqueeze(0), y.unsqueeze(0)) if X.dim() == 3 else (X, y)


def _per_example(value, N: int, like: torch.Tensor):
    """eps, a step size or eta_a as (N, 1): a float or a per-run (R, 1, 1, 1) tensor."""
    if torch.is_tensor(value):
        flat = value.reshape(-1).to(device=like.device, dtype=like.dtype)
        return flat.repeat_interleave(N // flat.numel())[:, None]
    return torch.full((N, 1), float(value), device=like.device, dtype=like.dtype)


def _signs(m: int, like: torch.Tensor) -> torch.Tensor:
    """+1 for the runner-up's m neurons, -1 for y's."""
    return torch.cat([like.new_ones(m), like.new_full((m,), -1.0)])


def _pair_at(geo: PairGeometry, F: torch.Tensor, y: torch.Tensor):
    """The margin's pair at logits F: (signed rows (N, 2) into the signed tables, the pair's
    neurons (N, 2m) among the K, runner-up first)."""
    m = geo.arch.m
    _, runner_up = margin_pair(F, y)
    classes = torch.cat([runner_up, y[:, None]], 1)  # (N, 2)
    columns = (classes[:, :, None] * m + torch.arange(m, device=F.device)).view(-1, 2 * m)
    return pair_blocks(runner_up, y, geo.arch, geo.runs), columns


def _rows(table: torch.Tensor, pair: torch.Tensor, m: int) -> torch.Tensor:
    """The pair's 2m signed rows of a signed table (R * 2k, m * c): (N, 2m, c)."""
    return table.index_select(0, pair.view(-1)).view(pair.shape[0], 2 * m, -1)


def _pair_terms(geo: PairGeometry, Z: torch.Tensor, D, pair, columns):
    """(slopes (N, P, 2m) of the pair's neurons at Z + D, Gram rows R W^T (N, 2m, K), R R^T (N, 2m, 2m))."""
    arch, m = geo.arch, geo.arch.m
    N, P, _ = Z.shape
    at = columns[:, None, :].expand(N, P, 2 * m)
    z = Z.gather(2, at) if D is None else Z.gather(2, at).add_(D.gather(2, at))
    _, slopes = activate(z, arch, want_slope=True, consume=True)
    gram_rows = _rows(geo.signed_M, pair, m)
    gram = gram_rows.gather(2, columns[:, None, :].expand(N, 2 * m, 2 * m)) * _signs(m, Z)
    return slopes, gram_rows, gram


def _grad_sq(slopes: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """|g_p|^2 = c_p (R R^T) c_p^T per patch, (N, P)."""
    return (torch.bmm(slopes, gram) * slopes).sum(-1).clamp_min_(0.0)


def _logits(arch: Arch, Z: torch.Tensor, D=None) -> torch.Tensor:
    """The logits at pre-activations Z (+ D), neither written."""
    S, _ = activate(Z if D is None else Z + D, arch, want_slope=False, consume=D is not None)
    return class_sum(S, arch)


def one_step_point(geo: PairGeometry, X, y, eps, eta_a, Z=None) -> AttackPoint:
    """The paper's one-step attack point X + clip_eps(eta_a g) (Section 2.5), with its pre-activations.

    Per patch the point is X_p + f_p g_p, f_p = min(eta_a, eps / |g_p|); its pre-activations are
    X W^T + f c (R W^T), added in place onto the clean forward's (Z, when given, is taken over)."""
    X4, y2 = _as_batch(X, y)
    R, n, P, d = X4.shape
    N, arch, m = R * n, geo.arch, geo.arch.m
    Z = preact(geo.W, X4) if Z is None else Z
    y_flat = y2.reshape(-1)
    if kernels.usable(Z):
        F_clean, weights, pair = kernels.one_step(Z, y_flat, geo.signed_M, n, arch.k, m, arch.q, arch.rho,
                                                      eps, eta_a)
        gram_rows = _rows(geo.signed_M, pair, m)
    else:
        F_clean = _logits(arch, Z)
        pair, columns = _pair_at(geo, F_clean, y_flat)
        slopes, gram_rows, gram = _pair_terms(geo, Z, None, pair, columns)
        factor = torch.minimum(_per_example(eps, N, Z) / _grad_sq(slopes, gram).sqrt_().clamp_min(TINY),
                               _per_example(eta_a, N, Z))
        weights = slopes.mul_(factor[..., None])
    Z.baddbmm_(weights, gram_rows)

    def make_X():
        return torch.baddbmm(X4.reshape(N, P, d), weights, _rows(geo.signed_W, pair, m)).view(X.shape)

    return AttackPoint(Z=Z, F_clean=F_clean, make_X=make_X)


def _pgd_step(geo: PairGeometry, Z0, E, sigma, y, n, eps, size, norm_sq):
    """One PGD step on the pre-activations at Z0 + sigma E, where delta W^T = sigma E (sigma (N, P)
    a scale per patch; E None at a zero start).

    The step moves delta_p by size g_p / |g_p|, and the projection scales it by shrink =
    min(1, eps / |delta_p + step|); |g_p|^2 and <delta_p, g_p> come from the Gram rows, so delta
    itself is never formed. The shrink goes into sigma instead of a pass over E: the step's own
    part enters E as weights / sigma. Returns (E after the step, those weights (N, P, 2m) on the
    step's rows, the signed rows (N, 2)); sigma and norm_sq (= |delta_p|^2) are updated in place.
    (sigma stays above 0.08: a shrink is at least K / (K + 2.5) with PGD's step size 2.5 eps / K.)"""
    arch, m = geo.arch, geo.arch.m
    if kernels.usable(Z0):
        weights, pair = kernels.pgd_step(Z0, E, sigma, y, geo.signed_M, n, arch.k, m, arch.q, arch.rho, size, eps,
                                             norm_sq)
        gram_rows = _rows(geo.signed_M, pair, m)
        return (torch.bmm(weights, gram_rows) if E is None else E.baddbmm_(weights, gram_rows)), weights, pair
    N, P, _ = Z0.shape
    D = None if E is None else E * sigma[..., None]
    pair, columns = _pair_at(geo, _logits(arch, Z0, D), y)
    slopes, gram_rows, gram = _pair_terms(geo, Z0, D, pair, columns)
    grad_sq = _grad_sq(slopes, gram)
    along = _per_example(size, N, Z0) / grad_sq.sqrt().clamp_min(TINY)  # the step's factor on g_p
    new_sq = along * along * grad_sq
    if D is not None:
        at = D.gather(2, columns[:, None, :].expand(N, P, 2 * m))  # <delta_p, W_j> for the pair's j
        dot = (at * _signs(m, Z0) * slopes).sum(-1)  # <delta_p, g_p>
        new_sq = (new_sq + 2 * along * dot).add_(norm_sq).clamp_min_(0.0)
    shrink = (_per_example(eps, N, Z0) / new_sq.sqrt().clamp_min(TINY)).clamp_max_(1.0)
    norm_sq.copy_(new_sq.mul_(shrink).mul_(shrink))
    weights = slopes.mul_((along / sigma)[..., None])  # = along * shrink * slopes / (sigma * shrink)
    sigma.mul_(shrink)
    return (torch.bmm(weights, gram_rows) if E is None else E.baddbmm_(weights, gram_rows)), weights, pair


def pgd_point(geo: PairGeometry, X, y, eps, steps: int, step_size, starts) -> AttackPoint:
    """PGD's attacked point and its pre-activations: PGDAttack's loop, on the pre-activations.

    starts: None (zero start), the chunk's threats.PooledStarts, or ("given", delta)."""
    X4, y2 = _as_batch(X, y)
    R, n, P, d = X4.shape
    N = R * n
    y_flat = y2.reshape(-1)
    Z0 = preact(geo.W, X4)  # (N, P, K), kept: every step's pre-activations are Z0 + sigma E
    E, norm_sq = _start(geo, X4, starts, n)
    if norm_sq is None:
        norm_sq = Z0.new_zeros(N, P)
    sigma = Z0.new_ones(N, P)
    steps_taken = []
    for _ in range(steps):
        E, weights, pair = _pgd_step(geo, Z0, E, sigma, y_flat, n, eps, step_size, norm_sq)
        steps_taken.append((weights, pair))

    def make_X():
        # delta = sigma (delta_0 + sum_t weights_t R_t), as delta W^T = sigma E
        base, weights, rows = _delta_terms(geo, X4.reshape(N, P, d), starts, steps_taken, sigma[..., None])
        return (base if weights is None else base.baddbmm_(weights, rows)).view(X.shape)  # base is ours: in place

    return AttackPoint(Z=Z0 if E is None else Z0.addcmul_(E, sigma[..., None]), make_X=make_X)


def _delta_terms(geo: PairGeometry, X, starts, steps_taken, sigma):
    """X + delta as base + weights @ rows, for delta = sigma (delta_0 + sum_t w_t R_t).

    Where an example's pair is the first step's at a later step too (nearly always: the
    runner-up rarely changes within one attack), that step's weights add onto the first step's
    and need no rows of their own; only steps where some example changed pair bring 2m more."""
    m = geo.arch.m
    base = _start_point(X, starts, sigma)
    if not steps_taken:
        return base, None, None
    first_pair = steps_taken[0][1]
    first_w = steps_taken[0][0] * sigma
    weights, rows = [first_w], [_rows(geo.signed_W, first_pair, m)]
    for w, pair in steps_taken[1:]:
        same = (pair == first_pair).all(-1)
        if bool(same.all()):
            first_w.addcmul_(w, sigma)
        else:
            kept = same.to(w.dtype)[:, None, None]
            first_w.addcmul_(w, sigma * kept)
            weights.append(w * sigma * (1 - kept))
            rows.append(_rows(geo.signed_W, pair, m))
    if len(weights) == 1:
        return base, first_w, rows[0]
    return base, torch.cat(weights, -1), torch.cat(rows, 1)


def _start(geo: PairGeometry, X4, starts, n):
    """(delta_0 W^T, |delta_0 p|^2) of the start; (None, None) for a zero start."""
    R, _, P, d = X4.shape
    if starts is None:
        return None, None
    N = R * n
    if isinstance(starts, tuple):  # ("given", delta)
        delta = starts[1].reshape(R, n, P, d)
        return preact(geo.W, delta), delta.pow(2).sum(-1).view(N, P)
    index, scale = starts.index.reshape(-1), starts.scale.reshape(-1).to(X4.dtype)  # the pool's rows: unit norm
    table = geo.pool_products()
    if geo.runs > 1:  # run r's rows of the table start at r * pool rows
        index = index + (torch.arange(R, device=index.device) * POOL_ROWS).repeat_interleave(n * P)
    if kernels.usable(table, scale):
        D = kernels.scaled_rows(table, index.contiguous(), scale.contiguous())
    else:
        D = table.index_select(0, index).mul_(scale[:, None])
    return D.view(N, P, -1), scale.pow(2).view(N, P)


def _start_point(X, starts, weight):
    """X + weight * delta_0, (N, P, d); weight (N, P, 1): the product of every projection's shrink."""
    N, P, d = X.shape
    if starts is None:
        return X.clone()
    if isinstance(starts, tuple):  # ("given", delta)
        return torch.addcmul(X, starts[1].reshape(N, P, d), weight)
    pool = direction_pool(d, X.device, X.dtype)
    scale = starts.scale.reshape(-1).to(X.dtype) * weight.view(-1)
    index = starts.index.reshape(-1)
    if kernels.usable(X, pool, scale):
        return kernels.pooled_start(X, pool, index.contiguous(), scale, want_delta=False)[1]
    return torch.addcmul(X.reshape(-1, d), pool.index_select(0, index), scale[:, None]).view(N, P, d)
