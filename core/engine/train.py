"""One training loop for standard and adversarial training; the attack is a parameter.

Standard training is the loop with no attack. Adversarial training perturbs every
training point first, with the paper's one-step clipped ascent or with multi-step PGD,
then takes the gradient step on the cross-entropy at the perturbed points (Section 2.5).
Progress leaves through a callback; a NaN or Inf ends the run with a reason, not a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .attacks import OneStepAttack, PGDAttack
from .config import MODES, Config
from .data import PatchData, make_datasets
from .metrics import EvalSet, accuracy, evaluate, phase_transition_step
from .network import Arch, chunk_rows, chunks, init_weights, weight_grad_into
from .resources import apply_threads, check_memory, resolve_device
from .threats import get_threat_model


@dataclass
class Progress:
    """What a listener hears: every step, with metrics and weights at logged steps."""

    mode: str
    step: int
    steps: int
    metrics: dict | None = None  # set at logged steps
    weights: torch.Tensor | None = None  # CPU copy, set at logged steps
    done: bool = False


@dataclass
class RunResult:
    mode: str
    status: str  # finished | diverged | cancelled
    reason: str | None
    history: list[dict]
    weights: torch.Tensor
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    phase_transition_step: int | None = field(init=False)

    def __post_init__(self):
        self.phase_transition_step = phase_transition_step(self.history)

    @property
    def final(self) -> dict:
        return {key: value for key, value in self.history[-1].items() if key != "step"} if self.history else {}


def training_attack(cfg: Config, mode: str):
    """None for standard training; the configured attack for adversarial training."""
    if mode == "std":
        return None
    threat = get_threat_model(cfg.threat_model)
    if cfg.train_attack == "pgd":
        return PGDAttack.standard(threat, cfg.eps, cfg.train_attack_steps, cfg.train_objective)
    return OneStepAttack(threat, cfg.eps, cfg.eta_a, cfg.train_objective)


def gradient_step(W, X, y, arch: Arch, attack, generator):
    """Gradient of the mean cross-entropy at the (attacked) batch, chunk by chunk.

    Returns (grad_W, mean loss, clean training accuracy or None). The one-step attack
    computes the clean logits anyway, so the clean accuracy comes for free.
    """
    n = len(y)
    grad_W = torch.zeros_like(W)
    loss_sum = torch.zeros((), device=W.device)
    correct = torch.zeros((), device=W.device, dtype=torch.long)
    clean_seen = True
    for part in chunks(n, chunk_rows(n, X.shape[1], max(W.shape), X.device)):
        Xc, yc = X[part], y[part]
        F_clean = None
        if attack is not None:
            delta, F_clean = attack.perturb(W, Xc, yc, arch, generator)
            Xc = delta.add_(Xc)
        F, loss = weight_grad_into(grad_W, W, Xc, yc, arch, 1.0 / n)
        if attack is None:
            F_clean = F
        loss_sum += loss.sum()
        if F_clean is None:
            clean_seen = False
        else:
            correct += (F_clean.argmax(1) == yc).sum()
    return grad_W, loss_sum.item() / n, (correct.item() / n if clean_seen else None)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    cfg: Config,
    mode: str,
    *,
    train_set: PatchData | None = None,
    eval_set: EvalSet | None = None,
    W0: torch.Tensor | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate_fn=evaluate,
) -> RunResult:
    """Train one run. Data, eval set and init may be passed in so twin runs share them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    if train_set is None or eval_set is None:
        check_memory(cfg, device)
        train_set, test_set = make_datasets(cfg)
        eval_set = EvalSet.build(test_set.to(device), cfg.seed)
    if W0 is None:
        W0 = init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1))
    train_set = train_set.to(device)
    W = W0.to(device).clone()
    arch = Arch.from_config(cfg)
    attack = training_attack(cfg, mode)
    generator = torch.Generator().manual_seed(cfg.seed + 2)  # PGD training starts, batches
    history: list[dict] = []
    status, reason = "finished", None
    train_s = eval_s = 0.0
    n = len(train_set)
    order = torch.randperm(n, generator=generator)
    cursor = 0

    for step in range(cfg.steps + 1):
        if should_stop is not None and should_stop():
            status, reason = "cancelled", f"stopped by the user at step {step}"
            break
        started = time.perf_counter()
        if cfg.batch_size:
            if cursor + cfg.batch_size > n:
                order, cursor = torch.randperm(n, generator=generator), 0
            index = order[cursor : cursor + cfg.batch_size].to(device)
            cursor += cfg.batch_size
            X, y = train_set.X[index], train_set.y[index]
        else:
            X, y = train_set.X, train_set.y
        grad_W, loss, acc_train = gradient_step(W, X, y, arch, attack, generator)
        if not math.isfinite(loss) or not torch.isfinite(grad_W).all():
            status = "diverged"
            reason = (
                f"loss became {loss} at step {step}: the weights blew up; "
                f"lower eta (now {cfg.eta:g}) or eta_a (now {cfg.eta_a:g})"
            )
            break
        logged = step % cfg.eval_every == 0 or step == cfg.steps
        if not logged and step < cfg.steps:
            W.sub_(grad_W, alpha=cfg.eta)
        _sync(device)
        train_s += time.perf_counter() - started

        metrics = None
        if logged:
            started = time.perf_counter()
            metrics = evaluate_fn(W, eval_set, cfg, step)
            metrics["loss"] = loss
            metrics["acc_train"] = acc_train if acc_train is not None else accuracy(W, X, y, arch)
            history.append({"step": step, **metrics})
            if step < cfg.steps:
                W.sub_(grad_W, alpha=cfg.eta)
            _sync(device)
            eval_s += time.perf_counter() - started
        if callback is not None:
            callback(
                Progress(mode, step, cfg.steps, metrics, W.detach().to("cpu", copy=True) if logged else None)
            )
    return RunResult(mode, status, reason, history, W.detach().cpu(), train_s, eval_s)


def run_twins(
    cfg: Config,
    modes=MODES,
    *,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, RunResult]:
    """Standard and adversarial runs on the same data from the same initial weights."""
    device = resolve_device(cfg.device)
    check_memory(cfg, device)
    train_set, test_set = make_datasets(cfg)
    eval_set = EvalSet.build(test_set.to(device), cfg.seed)
    W0 = init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1))
    results = {}
    for mode in modes:
        results[mode] = train(
            cfg, mode, train_set=train_set, eval_set=eval_set, W0=W0, callback=callback, should_stop=should_stop
        )
    return results
