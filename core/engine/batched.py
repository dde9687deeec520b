"""Many runs of one shape trained as one batched program (a leading run dimension R).

Runs whose tensors have the same shapes (k, P, d, m, n_train, n_test, steps, ...) and
the same code path (mode, threat model, objectives) stack: weights (R, k*m, d), data
(R, N, P, d). Knobs that only change numbers -- the data's alpha, beta, s, sigma_p,
jitter, the init's sigma_0, the seed, and eps, eta, eta_a -- may differ per run. The
products become ``bmm``/``baddbmm`` over R; the elementwise part reuses the fused
``network.activate`` on (R*n, P, K). One small run leaves a GPU idle; 100 stacked
fill it, and on a CPU the per-step overhead is shared.

Every run follows ``core.engine.train.train`` exactly: the same data, init and PGD starts
from the same seeds, the same example chunks (so each weight gradient is summed in the
same order), the same logged steps and metrics. A run's numbers therefore do not
depend on which other runs share its batch. What cannot batch (PGD or mini-batch
training) falls back to ``train`` one run at a time in ``train_many``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from .config import Config
from .data import make_datasets
from .metrics import EvalSet
from .network import OBJECTIVES, Arch, activate, ce_and_grad, chunk_rows, chunks, init_weights, neuron_expand
from .resources import apply_threads, resolve_device
from .threats import get_threat_model
from .train import Progress, RunResult, train

# Fields that may differ between runs of one batch: they change numbers, not shapes or code paths.
PER_RUN = ("seed", "alpha", "beta", "s", "sigma_p", "jitter", "sigma_0", "eps", "eta", "eta_a")

# Floats of (P, K) work per chunk of runs x examples, as network.chunk_rows budgets one run: 1 MiB
# keeps a CPU's elementwise passes in cache (larger chunks measured slower, bench/bench_sweep.py);
# a GPU takes 64M. Runs stack inside a chunk only when one run's examples leave room.
CPU_BUDGET = 2**18
GPU_BUDGET = 64 * 2**20


def batch_key(cfg: Config, mode: str):
    """Runs with equal keys can share a batch; None means "train this one alone"."""
    if cfg.batch_size or (mode == "adv" and cfg.train_attack != "one_step"):
        return None
    shared = {name: value for name, value in cfg.to_dict().items() if name not in PER_RUN}
    return (mode, tuple(sorted(shared.items())))


# ---- batched network: W (R, K, d), X (R, n, P, d) ----


def _forward(W, X, arch: Arch, want_slope: bool):
    """Logits (R*n, k) and the slope (R*n, P, K) of every run's examples."""
    R, n, P, d = X.shape
    Z = torch.bmm(X.reshape(R, n * P, d), W.transpose(1, 2)).view(R * n, P, W.shape[1])
    S, slope = activate(Z, arch, want_slope)
    return S.view(R * n, arch.k, arch.m).sum(2), slope


def _logits(W, X, arch):
    return _forward(W, X, arch, False)[0].view(X.shape[0], X.shape[1], arch.k)


def _input_grad(W, X, y, arch, objective):
    """Gradient of the per-example objective with respect to X (R, n, P, d), and the logits."""
    F, slope = _forward(W, X, arch, True)
    _, G = OBJECTIVES[objective](F, y.reshape(-1))
    dZ = slope.mul_(neuron_expand(G, arch))
    R, n, P, d = X.shape
    return torch.bmm(dZ.view(R, n * P, -1), W).view(X.shape), F


def _weight_grad_into(grad_W, W, X, y, arch, scale):
    """Add scale * d(sum of CE)/dW per run into grad_W; return (logits, CE per example)."""
    F, slope = _forward(W, X, arch, True)
    loss, G = ce_and_grad(F, y.reshape(-1))
    dZ = slope.mul_(neuron_expand(G, arch))
    R, n, P, d = X.shape
    grad_W.baddbmm_(dZ.view(R, n * P, -1).transpose(1, 2), X.reshape(R, n * P, d), alpha=scale)
    return F, loss


class _Threat:
    """A threat model applied to (R, n, P, d) with one eps per run.

    The registry's threat models take a perturbation (N, P, d) and a scalar radius; here
    the runs are flattened into N = R*n and the radius becomes one entry per example, in
    the shape each model divides by (per patch for patch_l2 and linf, per example for l2).
    """

    def __init__(self, name: str):
        self.model = get_threat_model(name)
        self.per_example = name == "l2"

    def rows(self, values: torch.Tensor, n: int) -> torch.Tensor:
        rows = values.repeat_interleave(n)
        return rows if self.per_example else rows.view(-1, 1, 1)

    def project(self, delta, eps_rows):
        return self.model.project(delta.flatten(0, 1), eps_rows).view(delta.shape)

    def step(self, grad, size_rows):
        return self.model.step(grad.flatten(0, 1), size_rows).view(grad.shape)


class _Stack:
    """Per-run data, eval sets, initial weights and scalar knobs, stacked along R."""

    def __init__(self, cfgs: Sequence[Config], device, dtype):
        def stack(tensors):
            return torch.stack(tensors).to(device=device, dtype=dtype if tensors[0].is_floating_point() else None)

        trains, evals, inits = [], [], []
        for cfg in cfgs:  # data and init from each run's own seed, exactly as train() draws them
            train_set, test_set = make_datasets(cfg)
            trains.append(train_set)
            evals.append(EvalSet.build(test_set, cfg.seed))
            inits.append(init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1)))
        self.X, self.y = stack([t.X for t in trains]), stack([t.y for t in trains])
        self.X_test, self.y_test = stack([e.test.X for e in evals]), stack([e.test.y for e in evals])
        self.X_swap = stack([e.X_swap for e in evals])
        self.X_robust_only = stack([e.X_robust_only for e in evals])
        self.X_nonrobust_only = stack([e.X_nonrobust_only for e in evals])
        self.W = stack(inits)
        self.eps = torch.tensor([c.eps for c in cfgs], device=device, dtype=dtype)
        self.eta = torch.tensor([c.eta for c in cfgs], device=device, dtype=dtype)
        self.eta_a = torch.tensor([c.eta_a for c in cfgs], device=device, dtype=dtype)


def _run_chunk(R: int, rows: int, P: int, width: int, device) -> int:
    budget = GPU_BUDGET if device.type == "cuda" else CPU_BUDGET
    return max(1, min(R, budget // max(1, rows * P * width)))


class BatchedTrainer:
    def __init__(self, cfgs: Sequence[Config], mode: str, device, dtype):
        self.cfg, self.cfgs, self.mode = cfgs[0], list(cfgs), mode
        self.device, self.dtype = device, dtype
        self.arch = Arch.from_config(self.cfg)
        self.data = _Stack(cfgs, device, dtype)
        self.threat = _Threat(self.cfg.threat_model)
        R, P, K, d = len(cfgs), self.cfg.P, self.cfg.k * self.cfg.m, self.cfg.d
        self.width = max(K, d)
        self.train_rows = chunk_rows(self.cfg.n_train, P, self.width, device)  # as train()'s chunks
        self.run_rows = _run_chunk(R, self.train_rows, P, self.width, device)

    def _one_step(self, W, X, y, rs):
        """The paper's attack: clip_eps(eta_a * grad_X margin), per run's eps and eta_a."""
        n = X.shape[1]
        grad, F = _input_grad(W, X, y, self.arch, self.cfg.train_objective)
        grad.mul_(self.data.eta_a[rs].view(-1, 1, 1, 1))
        return self.threat.project(grad, self.threat.rows(self.data.eps[rs], n)), F

    def gradient_step(self, W):
        """Per run: gradient of the mean CE at the (attacked) training set, loss, training accuracy."""
        X, y = self.data.X, self.data.y
        R, n = y.shape
        grad_W = torch.zeros_like(W)
        loss = torch.zeros(R, device=W.device, dtype=W.dtype)
        correct = torch.zeros(R, device=W.device, dtype=torch.long)
        for rs in chunks(R, self.run_rows):
            for part in chunks(n, self.train_rows):
                Xc, yc, Wc = X[rs, part], y[rs, part], W[rs]
                F_clean = None
                if self.mode == "adv":
                    delta, F_clean = self._one_step(Wc, Xc, yc, rs)
                    Xc = delta.add_(Xc)
                F, per_example = _weight_grad_into(grad_W[rs], Wc, Xc, yc, self.arch, 1.0 / n)
                F_clean = F if F_clean is None else F_clean
                loss[rs] += per_example.view(yc.shape).sum(1)
                correct[rs] += (F_clean.argmax(1).view(yc.shape) == yc).sum(1)
        return grad_W, loss / n, correct.to(W.dtype) / n

    # ---- evaluation: core.engine.metrics.evaluate for all runs at once ----

    def _count(self, W, X, y, rs, perturb=None):
        """Correct predictions per run of the chunk rs, example chunk by example chunk."""
        n = y.shape[1]
        correct = torch.zeros(rs.stop - rs.start, device=W.device, dtype=torch.long)
        for part in chunks(n, chunk_rows(n, X.shape[2], self.width, self.device)):
            Xc, yc = X[rs, part], y[rs, part]
            if perturb is not None:
                Xc = Xc + perturb(W[rs], Xc, yc, rs, part)
            correct += (_logits(W[rs], Xc, self.arch).argmax(2) == yc).sum(1)
        return correct

    def _pgd_starts(self, step: int, n: int):
        """Each run's random starts, drawn as evaluate() draws them: its own generator, its chunks."""
        P, d = self.cfg.P, self.cfg.d
        rows = chunk_rows(n, P, self.width, self.device)
        starts = []
        for cfg in self.cfgs:
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            starts.append(torch.cat([
                self.threat.model.random_start((part.stop - part.start, P, d), cfg.eps, generator, "cpu")
                for part in chunks(n, rows)
            ]))
        return torch.stack(starts).to(self.device, self.dtype)

    def _pgd(self, starts):
        cfg, threat = self.cfg, self.threat
        steps = cfg.pgd_steps

        def perturb(W, X, y, rs, part):
            n = X.shape[1]
            eps = threat.rows(self.data.eps[rs], n)
            size = threat.rows(self.data.eps[rs] * (2.5 / max(1, steps)), n)  # PGDAttack.standard
            delta = starts[rs, part]
            for _ in range(steps):
                grad, _ = _input_grad(W, X + delta, y, self.arch, cfg.pgd_objective)
                delta = threat.project(delta + threat.step(grad, size), eps)
            return delta

        return perturb

    def evaluate(self, W, step: int) -> list[dict]:
        data, cfg = self.data, self.cfg
        n_pgd = cfg.n_pgd
        starts = self._pgd_starts(step, n_pgd)
        pgd = self._pgd(starts)
        counts = {name: [] for name in ("clean", "pgd", "swap", "robust", "nonrobust", "onestep")}
        y, y_pgd = data.y_test, data.y_test[:, :n_pgd]
        for rs in chunks(len(W), self.run_rows):
            counts["clean"].append(self._count(W, data.X_test, y, rs))
            counts["pgd"].append(self._count(W, data.X_test[:, :n_pgd], y_pgd, rs, pgd))
            counts["swap"].append(self._count(W, data.X_swap, y, rs))
            counts["robust"].append(self._count(W, data.X_robust_only, y, rs))
            counts["nonrobust"].append(self._count(W, data.X_nonrobust_only, y, rs))
            counts["onestep"].append(self._count(W, data.X_test, y, rs, lambda W, X, y, rs, part:
                                                 self._one_step(W, X, y, rs)[0]))
        n = y.shape[1]
        acc = {key: (torch.cat(value).double() / (n_pgd if key == "pgd" else n)).tolist()
               for key, value in counts.items()}
        align = _feature_alignment(W, cfg.k, cfg.m)
        return [
            {**{key: values[r] for key, values in align.items()},
             "acc_clean": acc["clean"][r], "acc_pgd": acc["pgd"][r], "acc_swap": acc["swap"][r],
             "acc_robust_feature": acc["robust"][r], "acc_nonrobust_feature": acc["nonrobust"][r],
             "acc_onestep": acc["onestep"][r]}
            for r in range(len(W))
        ]


def _feature_alignment(W: torch.Tensor, k: int, m: int) -> dict[str, list[float]]:
    """metrics.feature_alignment for every run: max over a class's neurons, mean over classes."""
    per_class = W.view(W.shape[0], k, m, -1)  # (R, k, m, d)
    raw_robust = torch.diagonal(per_class[..., :k], dim1=1, dim2=3)  # (R, m, k): W[r, c, i, c]
    raw_nonrobust = torch.diagonal(per_class[..., k : 2 * k], dim1=1, dim2=3)
    norms = per_class.norm(dim=3).clamp_min(1e-12).transpose(1, 2)  # (R, m, k)
    return {
        "corr_robust": (raw_robust / norms).amax(1).mean(1).tolist(),
        "corr_nonrobust": (raw_nonrobust / norms).amax(1).mean(1).tolist(),
        "lambda_robust": raw_robust.amax(1).mean(1).tolist(),
        "gamma_nonrobust": raw_nonrobust.amax(1).mean(1).tolist(),
    }


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_batch(
    cfgs: Sequence[Config],
    mode: str,
    *,
    callback: Callable[[int, Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[RunResult]:
    """Train runs that share one batch_key together; one RunResult per config, in order.

    callback(index, progress) hears each run's logged steps. A run that diverges stops
    alone (its weights freeze where the loss went non-finite); the others go on.
    """
    keys = {batch_key(cfg, mode) for cfg in cfgs}
    if None in keys or len(keys) != 1:
        raise ValueError("train_batch needs runs with one common, batchable batch_key; use train_many")
    cfg = cfgs[0]
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    trainer = BatchedTrainer(cfgs, mode, device, dtype)
    W = trainer.data.W
    R = len(cfgs)
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
        grad_W, loss, acc_train = trainer.gradient_step(W)
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
        # Diverged runs keep their last weights (train() returns them unchanged); where() keeps NaNs out.
        update = torch.where(active.to(device).view(-1, 1, 1), grad_W * trainer.data.eta.view(-1, 1, 1), 0.0)
        if not logged and step < cfg.steps:
            W.sub_(update)
        _sync(device)
        train_s += time.perf_counter() - started
        if logged:
            started = time.perf_counter()
            rows = trainer.evaluate(W, step)
            accs = acc_train.tolist()
            for r in active.nonzero().flatten().tolist():
                row = {"step": step, **rows[r], "loss": loss_list[r], "acc_train": accs[r]}
                histories[r].append(row)
                if callback is not None:
                    callback(r, Progress(mode, step, cfg.steps, {k: v for k, v in row.items() if k != "step"},
                                         W[r].detach().to("cpu", copy=True)))
            if step < cfg.steps:
                W.sub_(update)
            _sync(device)
            eval_s += time.perf_counter() - started
    W = W.detach().cpu()
    return [RunResult(mode, status[r], reason[r], histories[r], W[r].clone(), train_s / R, eval_s / R)
            for r in range(R)]


def train_many(
    items: Sequence[tuple[Config, str]],
    *,
    max_batch: int = 64,
    should_stop: Callable[[], bool] | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[RunResult]:
    """Train (config, mode) pairs: batchable ones in batches of at most max_batch, the rest
    one by one with core.engine.train.train. Results come back in the order of items."""
    groups: dict = {}
    for index, (cfg, mode) in enumerate(items):
        key = batch_key(cfg, mode)
        groups.setdefault(("alone", index) if key is None else key, []).append(index)
    results: list[RunResult | None] = [None] * len(items)
    for key, indices in groups.items():
        if key[0] == "alone":
            cfg, mode = items[indices[0]]
            results[indices[0]] = train(cfg, mode, should_stop=should_stop)
            continue
        for part in chunks(len(indices), max(1, max_batch)):
            chosen = indices[part]
            mode = items[chosen[0]][1]
            batch = train_batch([items[i][0] for i in chosen], mode, should_stop=should_stop, dtype=dtype)
            for i, result in zip(chosen, batch, strict=True):
                results[i] = result
    return results

