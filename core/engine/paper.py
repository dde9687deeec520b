"""The paper in one file: read this first.

Li & Li, "Adversarial Training Can Provably Improve Robustness: Theoretical Analysis of Feature
Learning Process Under Structured Data" (ICLR 2025), written out as plainly as torch allows, top to
bottom: the patch data of Definition 2.2, the two-layer smoothed-ReLU network of Section 2.3,
standard training (Section 2.4), the paper's adversarial training with its one-step clipped attack
(Section 2.5) and multi-step PGD training (Madry et al., the paper's future work), the attacks a
network is evaluated with (PGD and the swap attack of Theorem 4.3), and what Section 6.1 and
Definition 4.1 measure. Every gradient comes from torch.autograd.

The rest of the engine computes the same numbers faster (network.py's hand-written backward pass,
attacks.py, train.py, metrics.py, and the speed paths in fast/); tests/test_paper.py holds it to
this file, and ``python -m core bench`` times its training step against this file's.

A config is any object with the paper's symbols as fields (core.engine.config.Config): k classes,
P patches of dimension d, s of them robust, strengths alpha and beta, noise sigma_p, m neurons per
class, the activation's q and rho, eps, eta, eta_a. Shapes: X (n, P, d), y (n,), W (k*m, d).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ---- Data (Definition 2.2) ----
# Features are orthonormal and axis-aligned: class j's robust feature is u_j = e_j, its non-robust
# feature v_j = e_{k+j}. An example of class y holds u_y on a random set J_R of s patches (strength
# alpha_p) and v_y on the other P - s (strength beta_p), plus Gaussian noise on every patch.


def strengths(mean: float, jitter: float, shape, generator) -> torch.Tensor:
    """alpha_p or beta_p: the mean, or the mean times a uniform relative jitter."""
    if jitter <= 0:
        return torch.full(shape, mean)
    return mean * (1 + jitter * (2 * torch.rand(shape, generator=generator) - 1))


def make_data(cfg, n: int, generator: torch.Generator):
    """n examples: patches X (n, P, d), labels y (n,), robust (n, P) marking J_R, strengths coef (n, P)."""
    k, P, s, d = cfg.k, cfg.P, cfg.s, cfg.d
    y = torch.randint(0, k, (n,), generator=generator)
    chosen = torch.rand(n, P, generator=generator).argsort(dim=1)[:, :s]  # s positions, uniformly
    robust = torch.zeros(n, P, dtype=torch.bool).scatter_(1, chosen, True)
    alpha = strengths(cfg.alpha, cfg.jitter, (n, P), generator)
    beta = strengths(cfg.beta, cfg.jitter, (n, P), generator)
    coef = torch.where(robust, alpha, beta)
    noise = torch.randn(n, P, d, generator=generator) * cfg.sigma_p
    feature = torch.where(robust, y[:, None], k + y[:, None])  # the coordinate of u_y or v_y
    return noise + coef[..., None] * F.one_hot(feature, d), y, robust, coef


# ---- The network (Section 2.3) ----
# F_r(X) = sum over the m neurons of class r and the P patches of sigma(<w_{r,i}, x_p>): filters
# shared over patches, no bias, no second layer. W's row r*m + i is neuron i of class r.


def sigma(z: torch.Tensor, q: int, rho: float) -> torch.Tensor:
    """The smoothed ReLU: 0 below 0, z^q / (q rho^(q-1)) up to rho, then z - (1 - 1/q) rho."""
    inner = torch.where(z <= rho, z**q / (q * rho ** (q - 1)), z - (1 - 1 / q) * rho)
    return torch.where(z <= 0, torch.zeros_like(z), inner)


def logits(W: torch.Tensor, X: torch.Tensor, cfg) -> torch.Tensor:
    """F(X), (n, k)."""
    Z = torch.einsum("npd,kd->npk", X, W)
    return sigma(Z, cfg.q, cfg.rho).sum(1).view(X.shape[0], cfg.k, cfg.m).sum(2)


def init_weights(cfg, generator: torch.Generator) -> torch.Tensor:
    """w_{r,i} ~ N(0, sigma_0^2 I_d); sigma_0 = 0 means the paper's Xavier choice 1 / sqrt(d)."""
    std = cfg.sigma_0 if cfg.sigma_0 > 0 else 1 / math.sqrt(cfg.d)
    return torch.randn(cfg.k * cfg.m, cfg.d, generator=generator) * std


def margin(F_: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Carlini-Wagner margin max_{j != y} F_j - F_y per example: the attacker maximises it."""
    others = F_.scatter(1, y[:, None], float("-inf"))
    return others.max(1).values - F_.gather(1, y[:, None]).squeeze(1)


def attack_loss(W, X, y, cfg, objective: str = "margin") -> torch.Tensor:
    """What an attack ascends, summed over the examples: the margin (the paper) or the
    cross-entropy (Remark 2.5's general form)."""
    F_ = logits(W, X, cfg)
    return margin(F_, y).sum() if objective == "margin" else F.cross_entropy(F_, y, reduction="sum")


def input_gradient(W, X, y, cfg, objective: str = "margin") -> torch.Tensor:
    X = X.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_loss(W.detach(), X, y, cfg, objective), X)
    return grad


# ---- Attacks in the patch-wise l2 ball (Section 2.5) ----
# A perturbation delta may move each patch by at most eps: ||delta_p||_2 <= eps for every p.


def clip(delta: torch.Tensor, eps) -> torch.Tensor:
    """The paper's patch-wise clip: delta_p * min(1, eps / ||delta_p||_2)."""
    return delta * (eps / delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)


def one_step_attack(W, X, y, cfg) -> torch.Tensor:
    """The paper's attack: X + clip_eps(eta_a * grad_X margin)."""
    return X + clip(cfg.eta_a * input_gradient(W, X, y, cfg, cfg.train_objective), cfg.eps)


def random_start(X: torch.Tensor, eps, generator=None) -> torch.Tensor:
    """A uniform point of each patch's eps-ball: a random direction, radius eps * U^(1/d)."""
    where = dict(device=X.device if generator is None else generator.device, dtype=X.dtype)
    direction = torch.randn(X.shape, generator=generator, **where).to(X.device)
    radius = torch.rand(*X.shape[:-1], 1, generator=generator, **where).to(X.device) ** (1 / X.shape[-1])
    return direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12) * (eps * radius)


def pgd_attack(W, X, y, cfg, steps: int, start=None, objective: str = "margin") -> torch.Tensor:
    """PGD-K (Madry et al.): K normalised steps of 2.5 eps / K from a random start, each clipped
    back into the ball. start: the first perturbation (a random_start unless given)."""
    delta = random_start(X, cfg.eps) if start is None else start
    for _ in range(steps):
        g = input_gradient(W, X + delta, y, cfg, objective)
        delta = clip(delta + 2.5 * cfg.eps / steps * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12), cfg.eps)
    return X + delta


def swap_classes(y: torch.Tensor, k: int, generator) -> torch.Tensor:
    """The swap's other class y' of every example: uniform among the k - 1 classes but y."""
    return (y + torch.randint(1, k, y.shape, generator=generator)) % k


def swap_attack(X, y, robust, coef, y_other, cfg) -> torch.Tensor:
    """Theorem 4.3's model-free attack: every non-robust patch's beta_p v_y becomes beta_p v_{y'}."""
    change = F.one_hot(cfg.k + y_other, cfg.d) - F.one_hot(cfg.k + y, cfg.d)  # v_{y'} - v_y, (n, d)
    return X + (coef * ~robust)[..., None] * change[:, None, :]


# ---- Training (Sections 2.4 and 2.5) ----
# Full-batch gradient descent on the mean cross-entropy: standard training at the clean points,
# adversarial training at points the attack moved first.


def training_points(W, X, y, cfg, mode: str, start=None) -> torch.Tensor:
    """Where the step's loss is taken: X (standard), the one-step attack's points (the paper's
    algorithm), or PGD's (train_attack = "pgd", from the given start when there is one)."""
    if mode == "std":
        return X
    if cfg.train_attack == "pgd":
        return pgd_attack(W, X, y, cfg, cfg.train_attack_steps, start, cfg.train_objective).detach()
    return one_step_attack(W, X, y, cfg).detach()


def training_step(W, X, y, cfg, mode: str, start=None) -> torch.Tensor:
    """One step W - eta * grad_W L(W), L the mean cross-entropy at the training points."""
    W = W.detach().requires_grad_(True)
    loss = F.cross_entropy(logits(W, training_points(W, X, y, cfg, mode, start), cfg), y)
    (grad,) = torch.autograd.grad(loss, W)
    return (W - cfg.eta * grad).detach()


def train(cfg, mode: str, X, y, W, starts=None) -> torch.Tensor:
    """cfg.steps steps from W; starts(step, X) gives PGD's random start at each step when given."""
    for step in range(cfg.steps):
        W = training_step(W, X, y, cfg, mode, None if starts is None else starts(step, X))
    return W


# ---- What is measured (Section 6.1 and Definition 4.1) ----


def correlations(W: torch.Tensor, cfg) -> dict[str, float]:
    """The weight-feature correlations: per class, the best of its m neurons, then the mean over
    classes. corr_* divide <w_{r,i}, u_r> by ||w_{r,i}||; lambda (robust) and gamma (non-robust)
    are the raw coefficients of Section 5."""
    k, m = cfg.k, cfg.m
    classes = torch.arange(k)
    per_class = W.view(k, m, -1)
    robust = per_class[classes, :, classes]  # (k, m): <w_{r,i}, u_r>
    nonrobust = per_class[classes, :, k + classes]
    norms = per_class.norm(dim=2).clamp_min(1e-12)
    return {"corr_robust": (robust / norms).amax(1).mean().item(),
            "corr_nonrobust": (nonrobust / norms).amax(1).mean().item(),
            "lambda_robust": robust.amax(1).mean().item(),
            "gamma_nonrobust": nonrobust.amax(1).mean().item()}


def accuracy(W, X, y, cfg) -> float:
    return (logits(W, X, cfg).argmax(1) == y).double().mean().item()


def without(X, y, robust, coef, which: str, cfg) -> torch.Tensor:
    """Definition 4.1 on this data: X with the robust (or non-robust) feature terms set to zero,
    noise kept. What is left tells how well the other feature alone classifies."""
    removed = robust if which == "robust" else ~robust
    feature = torch.where(robust, y[:, None], cfg.k + y[:, None])
    return X - (coef * removed)[..., None] * F.one_hot(feature, cfg.d)


def evaluate(W, X, y, robust, coef, y_other, cfg, pgd_start=None, n_pgd=None) -> dict[str, float]:
    """Every test metric of a logged step: the correlations; accuracy at the clean points, under
    PGD-K (on the first n_pgd examples), under the swap attack and the one-step attack; and the
    feature learning accuracies of Definition 4.1."""
    n_pgd = len(y) if n_pgd is None else n_pgd
    attacked = pgd_attack(W, X[:n_pgd], y[:n_pgd], cfg, cfg.pgd_steps, pgd_start, cfg.pgd_objective)
    return {**correlations(W, cfg),
            "acc_clean": accuracy(W, X, y, cfg),
            "acc_pgd": accuracy(W, attacked, y[:n_pgd], cfg),
            "acc_swap": accuracy(W, swap_attack(X, y, robust, coef, y_other, cfg), y, cfg),
            "acc_robust_feature": accuracy(W, without(X, y, robust, coef, "nonrobust", cfg), y, cfg),
            "acc_nonrobust_feature": accuracy(W, without(X, y, robust, coef, "robust", cfg), y, cfg),
            "acc_onestep": accuracy(W, one_step_attack(W, X, y, cfg), y, cfg)}
