"""One training loop for standard and adversarial training, for one run or a batch of runs.

Standard training is the loop with no attack. Adversarial training perturbs every
training point first, with the paper's one-step clipped ascent or with multi-step PGD,
then takes the gradient step on the cross-entropy at the perturbed points (Section 2.5).

A single run is a batch of one: ``train`` stacks one run and calls ``train_runs``, the
loop ``core.engine.batched.train_batch`` calls with many. Runs of a batch share shapes and
code path; their data, init, seeds and scalar knobs (eps, eta, eta_a, ...) are their own,
and every random draw comes from the run's own generators, so a run's numbers do not
depend on the batch it is in. Progress leaves through a callback; a NaN or Inf ends a run
with a reason, not a crash (in a batch, that run alone).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .attacks import OneStepAttack, PGDAttack
from .config import MODES, Config
from .data import PatchData, make_datasets
from .metrics import EvalSet, correct_counts, evaluate_runs, phase_transition_step
from .network import Arch, chunk_rows, chunk_runs, chunks, init_weights, weight_grad_into
from .resources import apply_threads, check_memory, resolve_device, sync
from .seeds import init_generator, training_generator
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


def training_attack(cfg: Config, mode: str, eps=None, eta_a=None):
    """None for standard training; the configured attack for adversarial training.

    eps and eta_a default to the config's; a batch passes its runs' as (R, 1, 1, 1) tensors."""
    if mode == "std":
        return None
    threat = get_threat_model(cfg.threat_model)
    eps = cfg.eps if eps is None else eps
    if cfg.train_attack == "pgd":
        return PGDAttack.standard(threat, eps, cfg.train_attack_steps, cfg.train_objective)
    return OneStepAttack(threat, eps, cfg.eta_a if eta_a is None else eta_a, cfg.train_objective)


def gradient_sums(W, X, y, arch: Arch, attack, generator, scale: float):
    """Chunk by chunk: scale * the gradient of the summed cross-entropy at the (attacked)
    points, the summed loss per run, and the clean correct count per run (None when the
    attack did not compute the clean logits: PGD). The one-step attack's forward pass gives
    the clean logits anyway, so the clean training accuracy comes for free."""
    lead = W.shape[:-2]
    n = y.shape[-1]
    grad_W = torch.zeros_like(W)
    loss_sum = torch.zeros(lead, device=W.device, dtype=W.dtype)
    correct = torch.zeros(lead, device=W.device, dtype=torch.long)
    clean_seen = True
    geometry = starts = None
    if attack is not None:  # what every chunk shares: W's pair geometry, the starts of all examples
        geometry, starts = attack.prepare(W, arch), attack.start_draws(X, generator)
    for part in chunks(n, chunk_rows(n, X.shape[-2], max(W.shape[-2:]), X.device)):
        Xc, yc = X[..., part, :, :], y[..., part]
        Z = F_clean = None
        if attack is not None:
            point = attack.point(W, Xc, yc, arch, generator, geometry=geometry,
                                 starts=None if starts is None else starts.part(part))
            Xc, Z, F_clean = point.X, point.Z, point.F_clean
        F, loss = weight_grad_into(grad_W, W, Xc, yc, arch, scale, Z=Z)
        if attack is None:
            F_clean = F
        loss_sum += loss.view(yc.shape).sum(-1)
        if F_clean is None:
            clean_seen = False
        else:
            correct += (F_clean.argmax(1).view(yc.shape) == yc).sum(-1)
    return grad_W, loss_sum, (correct if clean_seen else None)


def gradient_step(W, X, y, arch: Arch, attack, generator):
    """Gradient of the mean cross-entropy at the (attacked) batch, its mean loss and the
    clean training accuracy (or None): floats for one run (W 2-D), per-run tensors for a batch."""
    n = y.shape[-1]
    grad_W, loss, correct = gradient_sums(W, X, y, arch, attack, generator, 1.0 / n)
    if W.dim() == 2:
        return grad_W, loss.item() / n, (correct.item() / n if correct is not None else None)
    return grad_W, loss / n, (correct.to(W.dtype) / n if correct is not None else None)


class RunBatch:
    """Runs of one shape stacked along a leading run dimension R: training data (R, n, P, d),
    evaluation sets, initial weights (R, K, d) and the knobs that may differ per run."""

    def __init__(self, cfgs: Sequence[Config], train_sets, eval_sets, inits, device, dtype):
        def stack(tensors):
            one = tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)  # a view for one run
            return one.to(device=device, dtype=dtype if one.is_floating_point() else None)

        self.cfgs, self.device, self.dtype = list(cfgs), device, dtype
        self.X, self.y = stack([t.X for t in train_sets]), stack([t.y for t in train_sets])
        stacked = _unsqueeze(eval_sets[0]) if len(eval_sets) == 1 else EvalSet.stack(eval_sets)
        self.eval_set = stacked.to(device, dtype)
        self.W = stack(inits).clone()
        self.eta = torch.tensor([c.eta for c in cfgs], device=device, dtype=dtype).view(-1, 1, 1)

    @classmethod
    def build(cls, cfgs: Sequence[Config], device, dtype) -> RunBatch:
        """Data, evaluation sets and init from each run's own seed, as a lone run draws them."""
        trains, evals, inits = [], [], []
        for cfg in cfgs:
            train_set, test_set = make_datasets(cfg)
            trains.append(train_set)
            evals.append(EvalSet.build(test_set, cfg.seed))
            inits.append(init_weights(cfg, init_generator(cfg.seed)))
        return cls(cfgs, trains, evals, inits, device, dtype)

    def per_run(self, name: str, runs: slice) -> torch.Tensor:
        """A knob of the runs `runs` as an (r, 1, 1, 1) tensor, broadcasting over (r, n, P, d)."""
        return torch.tensor([getattr(c, name) for c in self.cfgs[runs]], device=self.device,
                            dtype=self.dtype).view(-1, 1, 1, 1)


def _unsqueeze(ev: EvalSet) -> EvalSet:
    """One run's evaluation set as a batch of one (views, no copies)."""
    t = ev.test
    return EvalSet(PatchData(t.X[None], t.y[None], t.robust[None], t.coef[None], t.k),
                   ev.X_robust_only[None], ev.X_nonrobust_only[None], ev.X_swap[None], ev.y_swap[None])


def train_runs(
    batch: RunBatch,
    mode: str,
    *,
    callback: Callable[[int, Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunResult]:
    """Train every run of the batch; one RunResult per run, in order.

    callback(index, progress) hears each active run at every step (metrics and weights at
    logged steps). A run that diverges stops alone: its weights stay where the loss went
    non-finite and it is heard no more; the others go on."""
    cfgs, cfg, device = batch.cfgs, batch.cfgs[0], batch.device
    R, n = batch.y.shape
    arch = Arch.from_config(cfg)
    P, width = cfg.P, max(cfg.k * cfg.m, cfg.d)
    generators = [training_generator(c.seed) for c in cfgs]  # batch order, PGD training starts
    orders = [torch.randperm(n, generator=g) for g in generators]
    cursor = 0
    rows = min(n, cfg.batch_size) if cfg.batch_size else n
    run_parts = list(chunks(R, chunk_runs(R, chunk_rows(rows, P, width, device), P, width, device)))
    attacks = [training_attack(cfg, mode, batch.per_run("eps", rs), batch.per_run("eta_a", rs)) for rs in run_parts]
    W = batch.W
    histories: list[list[dict]] = [[] for _ in range(R)]
    status, reason = ["finished"] * R, [None] * R
    active = torch.ones(R, dtype=torch.bool)
    train_s = eval_s = 0.0

    for step in range(cfg.steps + 1):
        if should_stop is not None and should_stop():
            for r in active.nonzero().flatten().tolist():
                status[r], reason[r] = "cancelled", f"stopped by the user at step {step}"
            break
        started = time.perf_counter()
        if cfg.batch_size:
            if cursor + cfg.batch_size > n:
                orders, cursor = [torch.randperm(n, generator=g) for g in generators], 0
            index = torch.stack([o[cursor : cursor + cfg.batch_size] for o in orders]).to(device)
            cursor += cfg.batch_size
            runs = torch.arange(R, device=device)[:, None]
            X, y = batch.X[runs, index], batch.y[runs, index]
        else:
            X, y = batch.X, batch.y
        parts = [gradient_step(W[rs], X[rs], y[rs], arch, attack, generators[rs])
                 for rs, attack in zip(run_parts, attacks, strict=True)]
        grad_W = parts[0][0] if len(parts) == 1 else torch.cat([p[0] for p in parts])
        loss = torch.cat([p[1] for p in parts])
        acc_train = None if parts[0][2] is None else torch.cat([p[2] for p in parts])
        finite = (torch.isfinite(loss) & torch.isfinite(grad_W).flatten(1).all(1)).cpu()
        loss_list = loss.tolist()
        for r in (active & ~finite).nonzero().flatten().tolist():
            status[r] = "diverged"
            reason[r] = (f"loss became {loss_list[r]} at step {step}: the weights blew up; "
                         f"lower eta (now {cfgs[r].eta:g}) or eta_a (now {cfgs[r].eta_a:g})")
        active &= finite
        if not active.any():
            break
        logged = step % cfg.eval_every == 0 or step == cfg.steps
        # Diverged runs keep their last weights; where() keeps their NaNs out of the update.
        update = grad_W.mul_(batch.eta) if active.all() else torch.where(
            active.to(device).view(-1, 1, 1), grad_W * batch.eta, 0.0)
        if not logged and step < cfg.steps:
            W.sub_(update)
        sync(device)
        train_s += time.perf_counter() - started

        rows_out: list[dict | None] = [None] * R
        if logged:
            started = time.perf_counter()
            evaluated = []
            for rs in run_parts:
                evaluated += evaluate_runs(W[rs], batch.eval_set.runs(rs), cfgs[rs], step)
            if acc_train is None:  # PGD training never saw the clean training points
                acc_train = torch.cat([correct_counts(W[rs], X[rs], y[rs], arch) for rs in run_parts]) / y.shape[1]
            accs = acc_train.tolist()
            for r in active.nonzero().flatten().tolist():
                rows_out[r] = {**evaluated[r], "loss": loss_list[r], "acc_train": accs[r]}
                histories[r].append({"step": step, **rows_out[r]})
            if step < cfg.steps:
                W.sub_(update)
            sync(device)
            eval_s += time.perf_counter() - started
        if callback is not None:
            for r in active.nonzero().flatten().tolist():
                weights = W[r].detach().to("cpu", copy=True) if logged else None
                callback(r, Progress(mode, step, cfg.steps, rows_out[r], weights))
    W = W.detach().cpu()
    return [RunResult(mode, status[r], reason[r], histories[r], W[r].clone(), train_s / R, eval_s / R)
            for r in range(R)]


def train(
    cfg: Config,
    mode: str,
    *,
    train_set: PatchData | None = None,
    eval_set: EvalSet | None = None,
    W0: torch.Tensor | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train one run: a batch of one. Data, eval set and init may be passed in so twin runs share them."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    if train_set is None or eval_set is None:
        check_memory(cfg, device)
        train_set, test_set = make_datasets(cfg)
        eval_set = EvalSet.build(test_set, cfg.seed)
    if W0 is None:
        W0 = init_weights(cfg, init_generator(cfg.seed))
    batch = RunBatch([cfg], [train_set], [eval_set], [W0], device, W0.dtype)
    hear = None if callback is None else (lambda _index, progress: callback(progress))
    return train_runs(batch, mode, callback=hear, should_stop=should_stop)[0]


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
    eval_set = EvalSet.build(test_set, cfg.seed)
    W0 = init_weights(cfg, init_generator(cfg.seed))
    results = {}
    for mode in modes:
        results[mode] = train(
            cfg, mode, train_set=train_set, eval_set=eval_set, W0=W0, callback=callback, should_stop=should_stop
        )
    return results
