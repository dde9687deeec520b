"""Training and evaluation of one image classifier, standard or adversarial (PGD).

The loop knows nothing about representative datasets: the caller passes ``evaluate``,
called after every epoch (and once before the first, epoch 0, so curves start at
initialisation), and ``progress`` for batch-level fractions. ``should_stop`` is polled
every batch; a stop raises ``Cancelled`` for the pipeline to turn into a status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from .real_attacks import pgd
from .real_config import RealConfig

EVAL_BATCH = 500  # images per forward pass when only predicting


class Cancelled(Exception):
    pass


def predict(model, x: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
    model.train(was_training)
    return out


def accuracy(model, x: torch.Tensor, y: torch.Tensor) -> float:
    return (predict(model, x) == y).float().mean().item() if len(y) else float("nan")


def robust_accuracy(model, x, y, cfg: RealConfig, generator=None, steps: int | None = None) -> float:
    """Accuracy under untargeted PGD at the config's eps (step size 2.5 eps / steps)."""
    steps = cfg.eval_pgd_steps if steps is None else steps
    if steps == 0 or not len(y):
        return float("nan")
    correct = 0
    for i in range(0, len(x), EVAL_BATCH):
        xb, yb = x[i : i + EVAL_BATCH], y[i : i + EVAL_BATCH]
        adv = pgd(model, xb, yb, cfg.eps, steps, 2.5 * cfg.eps / steps, cfg.threat, generator)
        correct += (predict(model, adv) == yb).sum().item()
    return correct / len(y)


def train_network(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: RealConfig,
    adversarial: bool,
    epochs: int,
    generator: torch.Generator,
    *,
    evaluate: Callable[[object], dict] | None = None,
    progress: Callable[[float, dict | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """SGD with momentum and a cosine schedule; adversarial = train on PGD examples (Madry et al.).

    Returns the history: one row per epoch (0 = before training) with loss, acc_train
    (on the batches as trained: adversarial ones for adversarial training), seconds and
    whatever ``evaluate(model)`` returns.
    """
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    n = len(y)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = max(1, epochs * per_epoch)
    history = [{"epoch": 0, **(evaluate(model) if evaluate else {})}]
    if progress:
        progress(0.0, history[-1])
    it = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator).to(x.device)
        loss_sum = correct = 0.0
        for start in range(0, n, cfg.batch_size):
            if should_stop is not None and should_stop():
                raise Cancelled(f"stopped in epoch {epoch}")
            index = order[start : start + cfg.batch_size]
            xb, yb = x[index], y[index]
            if adversarial:
                xb = pgd(model, xb, yb, cfg.eps, cfg.pgd_steps, cfg.train_step_size, cfg.threat, generator)
            for group in opt.param_groups:  # cosine decay per iteration, to 0 at the end
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * it / total))
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
            if progress:
                progress(it / total, None)
        row = {"epoch": epoch, "loss": loss_sum / n, "acc_train": correct / n,
               "seconds": time.perf_counter() - started}
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"loss became {row['loss']} in epoch {epoch}; lower lr (now {cfg.lr:g})")
        if evaluate:
            row.update(evaluate(model))
        history.append(row)
        if progress:
            progress(it / total, row)
    return history
