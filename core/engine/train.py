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

``train_runs`` is the loop in four parts, each a method of ``_Runs``: a step (every run's gradient
at its attacked examples, chunk by chunk), an evaluation at logged steps, the descent, a report.
paper.py's ``train`` is the same loop for one run in plain autograd (tests/test_paper.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .attacks import OneStepAttack, PGDAttack, per_run
from .config import MODES, Config
from .data import PatchData, make_datasets
from .fast import chunk_rows, chunk_runs, chunks, weight_grad_into
from .metrics import EvalSet, correct_counts, evaluate_runs, phase_transition_step
from .network import Arch, init_weights
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
    evaluation sets, initial weights (R, K, d) and the learning rates, which may differ per run."""

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


def _unsqueeze(ev: EvalSet) -> EvalSet:
    """One run's evaluation set as a batch of one (views, no copies)."""
    t = ev.test
    return EvalSet(PatchData(t.X[None], t.y[None], t.robust[None], t.coef[None], t.k),
                   ev.X_robust_only[None], ev.X_nonrobust_only[None], ev.X_swap[None], ev.y_swap[None])


@dataclass(frozen=True)
class Shapes:
    """The sizes a batch's loop works with, named once."""

    runs: int  # R, the batch's runs
    examples: int  # n, each run's training examples
    rows: int  # examples in a step: the mini-batch, or all n
    parts: tuple[slice, ...]  # the runs a chunk of work stacks: all R when they fit the chunk budget

    @classmethod
    def of(cls, batch: RunBatch) -> Shapes:
        cfg = batch.cfgs[0]
        R, n = batch.y.shape
        rows = min(n, cfg.batch_size) if cfg.batch_size else n
        P, width = cfg.P, max(cfg.k * cfg.m, cfg.d)
        per_part = chunk_runs(R, chunk_rows(rows, P, width, batch.device), P, width, batch.device)
        return cls(R, n, rows, tuple(chunks(R, per_part)))


class _Runs:
    """The state of a batch's runs while they train: weights, random streams, and which are still
    going. The loop (train_runs) calls its parts in order: a step, an evaluation at logged steps,
    the weights' descent, a report."""

    def __init__(self, batch: RunBatch, mode: str):
        self.batch, self.mode, self.cfgs = batch, mode, batch.cfgs
        cfg = self.cfg = batch.cfgs[0]
        self.shapes = Shapes.of(batch)
        self.arch, self.W = Arch.from_config(cfg), batch.W
        self.generators = [training_generator(c.seed) for c in self.cfgs]  # mini-batch order, PGD's starts
        self.orders, self.cursor = [torch.randperm(self.shapes.examples, generator=g) for g in self.generators], 0
        self.attacks = [training_attack(cfg, mode, per_run(self.cfgs[rs], "eps", self.W),
                                        per_run(self.cfgs[rs], "eta_a", self.W)) for rs in self.shapes.parts]
        self.histories: list[list[dict]] = [[] for _ in self.cfgs]
        self.status, self.reason = ["finished"] * len(self.cfgs), [None] * len(self.cfgs)
        self.active = torch.ones(len(self.cfgs), dtype=torch.bool)
        self.train_s = self.eval_s = 0.0

    def running(self) -> list[int]:
        return self.active.nonzero().flatten().tolist()

    def stop(self, reason: str) -> None:
        for r in self.running():
            self.status[r], self.reason[r] = "cancelled", reason

    def step_batch(self):
        """This step's training examples of every run: all of them, or each run's next mini-batch."""
        batch, size, n = self.batch, self.cfg.batch_size, self.shapes.examples
        if not size:
            return batch.X, batch.y
        if self.cursor + size > n:  # an epoch is over: each run reshuffles with its own generator
            self.orders, self.cursor = [torch.randperm(n, generator=g) for g in self.generators], 0
        index = torch.stack([o[self.cursor : self.cursor + size] for o in self.orders]).to(batch.device)
        self.cursor += size
        runs = torch.arange(self.shapes.runs, device=batch.device)[:, None]
        return batch.X[runs, index], batch.y[runs, index]

    def gradient(self, step: int):
        """The step: each run's gradient at its (attacked) examples, its loss and clean training
        accuracy (None under PGD training), chunk of runs by chunk. A run whose loss or gradient is no
        longer finite stops here, with a reason."""
        self.X, self.y = self.step_batch()
        parts = [gradient_step(self.W[rs], self.X[rs], self.y[rs], self.arch, attack, self.generators[rs])
                 for rs, attack in zip(self.shapes.parts, self.attacks, strict=True)]
        grad_W = parts[0][0] if len(parts) == 1 else torch.cat([p[0] for p in parts])
        self.loss = torch.cat([p[1] for p in parts]).tolist()
        self.acc_train = None if parts[0][2] is None else torch.cat([p[2] for p in parts])
        finite = (torch.isfinite(torch.tensor(self.loss)) & torch.isfinite(grad_W).flatten(1).all(1).cpu())
        for r in (self.active & ~finite).nonzero().flatten().tolist():
            self.status[r] = "diverged"
            self.reason[r] = (f"loss became {self.loss[r]} at step {step}: the weights blew up; "
                              f"lower eta (now {self.cfgs[r].eta:g}) or eta_a (now {self.cfgs[r].eta_a:g})")
        self.active &= finite
        return grad_W

    def evaluate(self, step: int) -> list[dict | None]:
        """The metrics of every running run at this step's weights (before its descent)."""
        W, parts = self.W, self.shapes.parts
        evaluated = []
        for rs in parts:
            evaluated += evaluate_runs(W[rs], self.batch.eval_set.runs(rs), self.cfgs[rs], step)
        acc_train = self.acc_train
        if acc_train is None:  # PGD training never saw the clean training points
            counts = [correct_counts(W[rs], self.X[rs], self.y[rs], self.arch) for rs in parts]
            acc_train = torch.cat(counts) / self.y.shape[1]
        accs = acc_train.tolist()
        rows: list[dict | None] = [None] * self.shapes.runs
        for r in self.running():
            rows[r] = {**evaluated[r], "loss": self.loss[r], "acc_train": accs[r]}
            self.histories[r].append({"step": step, **rows[r]})
        return rows

    def descend(self, grad_W: torch.Tensor) -> None:
        """W -= eta * grad_W; a run that diverged keeps its last weights (where() keeps its NaNs out)."""
        eta = self.batch.eta
        if self.active.all():
            self.W.sub_(grad_W.mul_(eta))
        else:
            self.W.sub_(torch.where(self.active.to(self.W.device).view(-1, 1, 1), grad_W * eta, 0.0))

    def report(self, step: int, rows, callback) -> None:
        """Every running run's progress to the callback; weights (a CPU copy) at logged steps."""
        for r in self.running():
            weights = self.W[r].detach().to("cpu", copy=True) if rows is not None else None
            callback(r, Progress(self.mode, step, self.cfg.steps, None if rows is None else rows[r], weights))

    def results(self) -> list[RunResult]:
        W, R = self.W.detach().cpu(), self.shapes.runs
        return [RunResult(self.mode, self.status[r], self.reason[r], self.histories[r], W[r].clone(),
                          self.train_s / R, self.eval_s / R) for r in range(R)]


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
    runs, steps, every, device = _Runs(batch, mode), batch.cfgs[0].steps, batch.cfgs[0].eval_every, batch.device
    for step in range(steps + 1):
        if should_stop is not None and should_stop():
            runs.stop(f"stopped by the user at step {step}")
            break
        started = time.perf_counter()
        grad_W = runs.gradient(step)
        if not runs.active.any():
            break
        sync(device)
        runs.train_s += time.perf_counter() - started
        rows = None
        if step % every == 0 or step == steps:  # a logged step: the metrics at the weights before its descent
            started = time.perf_counter()
            rows = runs.evaluate(step)
            sync(device)
            runs.eval_s += time.perf_counter() - started
        if step < steps:
            started = time.perf_counter()
            runs.descend(grad_W)
            sync(device)
            runs.train_s += time.perf_counter() - started
        if callback is not None:
            runs.report(step, rows, callback)
    return runs.results()


def train(
    cfg: Config,
    mode: str,
    *,
    train_set: PatchData | None = None,
    eval_set: EvalSet | None = None,
    W0: torch.Tensor | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> RunResult:
    """Train one run: a batch of one. Data, eval set and init may be passed in so twin runs share them.
    threads: the count a caller offers the run (a job worker's share) when the config sets none."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = resolve_device(cfg.device)
    apply_threads(cfg, threads)
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
