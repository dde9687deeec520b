"""The theory, runnable: Propositions 3.1 and 3.2, and Section 5's reduced dynamics.

* Propositions 3.1 / 3.2: the constructed global minima w_{r,i} = c v_r (non-robust) and
  w_{r,i} = c u_r (robust), evaluated on the run's data for a scale c.
* Section 5's reduced dynamics: the noiseless population version, one representative per
  class and one neuron per class restricted to w_r = Lambda u_r + Gamma v_r, trained by the
  very same training step as the real network. Milliseconds, and the theory's
  Lambda(t), Gamma(t) to draw beside the measured curves.
"""

from __future__ import annotations

import math

import torch

from .config import Config
from .data import make_datasets, representatives
from .fast import logits
from .metrics import EvalSet, accuracy, attacked_accuracy, pgd_attack
from .network import Arch, ce_and_grad
from .seeds import constructed_pgd_generator
from .train import gradient_step, training_attack

MINIMA = ("nonrobust", "robust")


def constructed_weights(cfg: Config, kind: str, scale: float) -> torch.Tensor:
    """Every neuron of class r set to scale * v_r (kind 'nonrobust') or scale * u_r ('robust')."""
    W = torch.zeros(cfg.k, cfg.m, cfg.d)
    offset = cfg.k if kind == "nonrobust" else 0
    classes = torch.arange(cfg.k)
    W[classes, :, classes + offset] = scale
    return W.view(cfg.k * cfg.m, cfg.d)


def evaluate_constructed(cfg: Config, scales, eval_set: EvalSet | None = None) -> list[dict]:
    """Clean loss and accuracy, PGD and swap accuracy of both constructed minima per scale.

    Expected (Propositions 3.1/3.2): both fit the data as the scale grows; only the
    robust one survives the swap attack.
    """
    if eval_set is None:
        _, test = make_datasets(cfg.replace(n_train=1))
        eval_set = EvalSet.build(test, cfg.seed)
    arch = Arch.from_config(cfg)
    test = eval_set.test
    rows = []
    for kind in MINIMA:
        for scale in scales:
            W = constructed_weights(cfg, kind, float(scale))
            loss, _ = ce_and_grad(logits(W, test.X, arch), test.y)
            generator = constructed_pgd_generator(cfg.seed)
            n = cfg.n_pgd
            rows.append(
                {
                    "minimum": kind,
                    "scale": float(scale),
                    "loss": loss.mean().item(),
                    "acc_clean": accuracy(W, test.X, test.y, arch),
                    "acc_pgd": attacked_accuracy(W, test.X[:n], test.y[:n], arch, pgd_attack(cfg), generator),
                    "acc_swap": accuracy(W, eval_set.X_swap, test.y, arch),
                }
            )
    return rows


def initial_coefficients(cfg: Config) -> float:
    """Typical max_i <w_{r,i}, u_r> at init: sigma_0 sqrt(2 ln m) (max of m Gaussians)."""
    return cfg.init_std * math.sqrt(2 * math.log(max(cfg.m, 2)))


def reduced_dynamics(
    cfg: Config, mode: str, lambda0: float | None = None, gamma0: float | None = None, every: int | None = None
) -> list[dict]:
    """Lambda(t), Gamma(t) of the noiseless one-neuron-per-class model under cfg's training.

    Same loop body as the full model (gradient_step with the same attack); after each
    step the weights are kept in span{u_r, v_r} by masking the gradient, as in Section 5.
    Each class keeps its m neurons, all equal (w_{r,i} = w_r): the symmetric reduction of
    the full network, so logits and input gradients have the full model's scale. With a
    single neuron the attack's unclipped step eta_a * grad would be m times too small and
    the one-step attack would leave the paper's clipped regime.
    """
    small = cfg.replace(d=2 * cfg.k, sigma_p=0.0, device="cpu")
    arch = Arch.from_config(small)
    data = representatives(small)
    start = initial_coefficients(cfg)
    lam = start if lambda0 is None else lambda0
    gam = start if gamma0 is None else gamma0
    classes = torch.arange(cfg.k)
    mask = torch.zeros(cfg.k, 2 * cfg.k)
    mask[classes, classes] = 1.0
    mask[classes, classes + cfg.k] = 1.0
    W = mask * torch.cat([torch.full((cfg.k, cfg.k), lam), torch.full((cfg.k, cfg.k), gam)], 1)
    W, mask = W.repeat_interleave(cfg.m, 0).contiguous(), mask.repeat_interleave(cfg.m, 0)
    first = classes * cfg.m  # row of neuron 0 of each class; the others equal it
    attack = training_attack(small, mode)
    every = every or cfg.eval_every
    rows = []
    for step in range(cfg.steps + 1):
        if step % every == 0 or step == cfg.steps:
            lam_t = W[first, classes].mean().item()
            gam_t = W[first, classes + cfg.k].mean().item()
            norm = math.hypot(lam_t, gam_t) or 1.0
            rows.append(
                {
                    "step": step,
                    "lambda_robust": lam_t,
                    "gamma_nonrobust": gam_t,
                    "corr_robust": lam_t / norm,
                    "corr_nonrobust": gam_t / norm,
                }
            )
        if step == cfg.steps:
            break
        grad, loss, _ = gradient_step(W, data.X, data.y, arch, attack, None)
        if not math.isfinite(loss):
            break
        W -= cfg.eta * grad * mask
    return rows
