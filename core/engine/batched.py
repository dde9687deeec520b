"""Many runs of one shape trained as one batched program (a leading run dimension R).

Runs whose tensors have the same shapes (k, P, d, m, n_train, n_test, steps, ...) and
the same code path (mode, threat model, attack, objectives) stack: weights (R, k*m, d),
data (R, N, P, d). Knobs that only change numbers -- the data's alpha, beta, s, sigma_p,
jitter, the init's sigma_0, the seed, and eps, eta, eta_a -- may differ per run. The
products become ``bmm``/``baddbmm`` over R; the elementwise part sees (R*n, P, K). One
small run leaves a GPU idle; 100 stacked fill it, and on a CPU the per-step overhead is
shared.

There is one training loop, ``core.engine.train.train_runs``; ``train`` calls it with a
batch of one and ``train_batch`` with many, so every run follows the same steps: the same
data, init and random draws from its own seeds, the same example chunks, the same logged
steps and metrics. A run's numbers therefore do not depend on which other runs share its
batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields

import torch

from .config import Config
from .fast import CPU_BUDGET, GPU_BUDGET, chunks  # noqa: F401  (the budgets: re-exported for the sweep planner)
from .resources import apply_threads, resolve_device
from .train import Progress, RunBatch, RunResult, train, train_runs

# Fields that may differ between runs of one batch: they change numbers, not shapes or code paths.
PER_RUN = ("seed", "alpha", "beta", "s", "sigma_p", "jitter", "sigma_0", "eps", "eta", "eta_a")


def batch_key(cfg: Config, mode: str):
    """Runs with equal keys can share a batch (None would mean "train this one alone")."""
    # the fields by getattr, not cfg.to_dict(): asdict's deep copies made this most of a 40 000-run sweep's planning
    shared = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in PER_RUN}
    return (mode, tuple(sorted(shared.items())))


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
    device = resolve_device(cfgs[0].device)
    apply_threads(cfgs[0])
    batch = RunBatch.build(cfgs, device, dtype)

    def logged_only(index: int, progress: Progress) -> None:
        if progress.metrics is not None:
            callback(index, progress)

    return train_runs(batch, mode, callback=None if callback is None else logged_only, should_stop=should_stop)


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
