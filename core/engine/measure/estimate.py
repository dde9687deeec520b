"""How long a twin run will take, before it starts: a work-count model, scaled to a timed step.

Every cost of a run is a pass of the network over a batch of examples: the matrix product
Z = X W^T (or dZ W, dZ^T X), each 2 n P d K flops, followed by an elementwise pass over the
n P K pre-activations. So a run's time is about a * flops + b * elements, with a and b
measured by timing two small gradient steps of different shapes (one matmul-heavy, one
elementwise-heavy). That model gives the run's shape (its training steps against its
evaluations); its scale comes from timing one training step of the config itself, on at most
PROBE_FLOPS of its batch (own_step_s), because a product's rate depends on its shape. How close
it comes is in docs/performance.md; the dashboard shows it as "about", never as a promise.

The timing is repeated at most once a minute and the fastest of the last few kept: a server's
first calibration often runs while its job workers are starting (importing torch, loading
kernels) and reads the machine as slower than it is; a single slow reading ages out within
minutes, while a machine that stays slower is followed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..config import Config
from ..data import make_datasets
from ..fast import on_pairs
from ..network import Arch, init_weights
from ..random_starts import POOL_ROWS, transient_pools
from ..resources import cores_per_run, cpu_count, default_workers, set_threads
from ..seeds import init_generator
from ..threats import get_threat_model
from ..train import gradient_step, training_attack

RUN_OVERHEAD_S = 0.3  # data generation of a small run, store writes, the worker's hand-off
RECALIBRATE_S = 60.0  # a timing is a small share of the server's CPU: once a minute is noise-level load
KEPT_TIMINGS = 3  # the fastest of the last three: one disturbed timing does not decide the estimate


@dataclass(frozen=True)
class Work:
    """Matmul flops and activation elements of one run."""

    flops: float
    elements: float


def _attack_step(cfg: Config, pairs: bool) -> float:
    """Matrix products of one attack step, in passes: on the pair path (fast/pair_attacks.py) a forward and an
    input gradient become two (P x 2m)(2m x K) products, 2 * 2m / d of a pass instead of 2."""
    return 2 * (2 * cfg.m / cfg.d) if pairs else 2


def step_work(cfg: Config, mode: str) -> Work:
    """One training step over its batch."""
    K = cfg.k * cfg.m
    per_pass = 2.0 * cfg.P * cfg.d * K  # flops of one matmul per example
    per_elem = float(cfg.P * K)  # activation elements per example per forward
    batch = cfg.batch_size or cfg.n_train
    threat, arch = get_threat_model(cfg.threat_model), Arch.from_config(cfg)
    train_step = _attack_step(cfg, on_pairs(threat, cfg.train_objective, arch))
    if mode == "std":
        matmuls, forwards = 2, 1  # preact + weight gradient
    elif cfg.train_attack == "pgd":
        matmuls, forwards = train_step * cfg.train_attack_steps + 3, cfg.train_attack_steps + 2  # + train accuracy
    else:
        matmuls, forwards = train_step + 2, 2  # one-step: preact + input gradient, then preact + weight gradient
    return Work(batch * matmuls * per_pass, batch * forwards * per_elem)


def eval_work(cfg: Config) -> Work:
    """One evaluation: a forward for the clean inputs, the feature variants and the one-step attack (+ its
    input gradient and the attacked forward, or the pair path's updates) on n_test, PGD-K on n_pgd; an
    evaluation only counts, so it takes the pair path at any k (fast.on_pairs)."""
    K = cfg.k * cfg.m
    per_pass, per_elem = 2.0 * cfg.P * cfg.d * K, float(cfg.P * K)
    threat, arch = get_threat_model(cfg.threat_model), Arch.from_config(cfg)
    one_step_pairs = on_pairs(threat, cfg.train_objective, arch, counting=True)
    one_step = _attack_step(cfg, one_step_pairs) + (0 if one_step_pairs else 1)
    pgd_step = _attack_step(cfg, on_pairs(threat, cfg.pgd_objective, arch, counting=True))
    matmuls = (1 + one_step) * cfg.n_test + (pgd_step * cfg.pgd_steps + 1) * cfg.n_pgd
    forwards = 6 * cfg.n_test + (cfg.pgd_steps + 1) * cfg.n_pgd
    return Work(matmuls * per_pass, forwards * per_elem)


def run_work(cfg: Config, mode: str) -> Work:
    """Count the passes train() makes: training steps plus evaluation at logged steps."""
    steps = cfg.steps + 1
    logged = cfg.steps // cfg.eval_every + 1 + (cfg.steps % cfg.eval_every != 0)
    step, evaluation = step_work(cfg, mode), eval_work(cfg)
    return Work(steps * step.flops + logged * evaluation.flops, steps * step.elements + logged * evaluation.elements)


def _time_step(cfg: Config, mode: str, repeats: int = 5) -> float:
    """Fastest of a few steps: the least disturbed by whatever else the machine is doing."""
    train, _ = make_datasets(cfg)
    W = init_weights(cfg, init_generator(0))
    arch, attack = Arch.from_config(cfg), training_attack(cfg, mode)
    generator = torch.Generator().manual_seed(0)  # PGD's random start is part of a step's cost
    gradient_step(W, train.X, train.y, arch, attack, generator)  # warm-up: allocator, kernels
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        gradient_step(W, train.X, train.y, arch, attack, generator)
        best = min(best, time.perf_counter() - started)
    return best


@contextmanager
def _threads(threads: int):
    """torch and the CPU kernels on ``threads`` threads for a timing, as before afterwards."""
    before = torch.get_num_threads()
    set_threads(threads)
    try:
        yield
    finally:
        set_threads(before)


_timings: dict[int, deque] = {}  # threads -> (when, (t_matmul, t_elementwise)) of recent timings
_timings_lock = threading.Lock()  # the server renders pages from one thread per session


def calibrate(threads: int, now: float | None = None) -> tuple[float, float]:
    """(seconds per flop, seconds per element) on this machine with ``threads`` torch threads,
    from the fastest of the last KEPT_TIMINGS timings, timing again when the newest is older than
    RECALIBRATE_S (the module docstring says why)."""
    now = time.monotonic() if now is None else now
    with _timings_lock:
        kept = _timings.setdefault(threads, deque(maxlen=KEPT_TIMINGS))
        if not kept or now - kept[-1][0] >= RECALIBRATE_S:
            kept.append((now, _time_shapes(threads)))
        t1 = min(times[0] for _, times in kept)
        t2 = min(times[1] for _, times in kept)
    return _fit(t1, t2)


# The two timed shapes: d = 200 (matmul-heavy) and d = 8 (elementwise-heavy)
_SHAPES = tuple(Config(k=4, P=50, s=1, d=d, m=10, n_train=64, n_test=1, steps=1, device="cpu") for d in (200, 8))


def _time_shapes(threads: int) -> tuple[float, float]:
    """Seconds of a standard step at each of the two shapes (the one-step attack is the same
    passes twice)."""
    with _threads(threads):
        return tuple(_time_step(cfg, "std") for cfg in _SHAPES)


def _fit(t1: float, t2: float) -> tuple[float, float]:
    """(a, b) with a * flops + b * elements = the step's time at both shapes."""
    (f1, e1), (f2, e2) = ((w.flops, w.elements) for w in (step_work(cfg, "std") for cfg in _SHAPES))
    det = f1 * e2 - f2 * e1
    a = (t1 * e2 - t2 * e1) / det
    b = (f1 * t2 - f2 * t1) / det
    # noise can push one coefficient negative; fall back to attributing all time to flops then
    if a <= 0 or b <= 0:
        a, b = t1 / (f1 + 20 * e1), 20 * t1 / (f1 + 20 * e1)
    return a, b


# The probe: training steps of the config itself. The two shapes above fit a * flops + b * elements, but a
# product's rate depends on its shape and the fused kernels' cost per element on the size, so the model
# alone can be off by 2x (docs/performance.md). A step at the config's own shapes corrects it.
PROBE_FLOPS = 2e9  # a small timed step: the server times each new shape quickly
PROBE_FLOATS = 2e7  # 80 MB at most for each of the probe's tensors: examples, weights, PGD's start pool
FIT_MIN_EXAMPLES = 8  # fewer examples cannot tell a step's fixed part (the PGD start pool) from its per-example part
_probed: dict[tuple, tuple[float, float | None]] = {}  # shape key -> (when, seconds of a step), RECALIBRATE_S long
_PROBED_KEPT = 256  # distinct shapes remembered; a class dials a few dozen


def _probe_config(cfg: Config, n: int) -> Config:
    return cfg.replace(n_train=n, batch_size=0, n_test=1, steps=1, device="cpu", threads=0)


def step_shape(cfg: Config, mode: str) -> tuple:
    """What a training step's time depends on: not the seed, the step count or the learning rates."""
    attack = () if mode == "std" else (cfg.train_attack, cfg.train_attack_steps, cfg.train_objective)
    return (mode, cfg.k, cfg.P, cfg.s, cfg.d, cfg.m, cfg.n_train, cfg.batch_size, cfg.q, cfg.threat_model, *attack)


def own_step_s(cfg: Config, mode: str, threads: int, now: float | None = None) -> float | None:
    """Seconds of one training step of ``cfg`` on this CPU with ``threads`` threads, timed at the config's own
    shapes on at most PROBE_FLOPS of its batch and extrapolated to the whole batch; None when even one
    example would be more work than an estimate may do in the server (the model alone is used then).
    Timed again after RECALIBRATE_S; the step's time does not depend on the seed, the step count or the
    learning rates, so those are not part of the key."""
    now = time.monotonic() if now is None else now
    key = (threads, *step_shape(cfg, mode))
    with _timings_lock:
        if key in _probed and now - _probed[key][0] < RECALIBRATE_S:
            return _probed[key][1]
        seconds = _time_own_step(cfg, mode, threads)
        if len(_probed) >= _PROBED_KEPT:
            _probed.pop(next(iter(_probed)))  # the oldest
        _probed[key] = (now, seconds)
    return seconds


def _time_own_step(cfg: Config, mode: str, threads: int) -> float | None:
    batch = cfg.batch_size or cfg.n_train
    one = step_work(cfg, mode).flops / batch  # an example's flops: the count is linear in the batch
    n = min(batch, int(PROBE_FLOPS // one), int(PROBE_FLOATS // (cfg.P * cfg.d)))
    pool = POOL_ROWS * cfg.d if mode == "adv" and cfg.train_attack == "pgd" else 0  # PGD's random starts
    if n < 1 or cfg.k * cfg.m * cfg.d > PROBE_FLOATS or pool > PROBE_FLOATS:
        return None
    with _threads(threads), transient_pools():
        t = _time_step(_probe_config(cfg, n), mode, repeats=3)
        if n == batch:
            return t
        if n < FIT_MIN_EXAMPLES:
            return t * batch / n
        few = n // 4
        t_few = _time_step(_probe_config(cfg, few), mode, repeats=3)
    per_example = (t - t_few) / (n - few)
    if per_example <= 0:  # noise: scale the larger timing
        return t * batch / n
    return t + per_example * (batch - n)


def _model_s(work: Work, threads: int) -> float:
    a, b = calibrate(threads)
    return a * work.flops + b * work.elements


def timed_scale(cfg: Config, mode: str, threads: int) -> float | None:
    """The config's timed step over the model's step (own_step_s); None when the shape is too big to time."""
    own = own_step_s(cfg, mode, threads)
    return None if own is None else own / _model_s(step_work(cfg, mode), threads)


def run_seconds(cfg: Config, mode: str, threads: int, scale: float | None = None,
                overhead_s: float = RUN_OVERHEAD_S) -> float:
    """Seconds of one run on ``threads`` threads: the model's shape of the run (its steps against its
    evaluations), times ``scale`` (timed_scale) when a step of its shape was timed."""
    return overhead_s + _model_s(run_work(cfg, mode), threads) * (1.0 if scale is None else scale)


def worker_threads() -> int:
    """Threads each job worker gets from the job manager (its cores shared among its workers)."""
    return max(1, cpu_count() // default_workers())


@dataclass(frozen=True)
class Estimate:
    std_s: float  # each run on its worker's own threads
    adv_s: float
    wall_s: float  # both runs side by side on separate workers, sharing the machine's cores
    device: str
    threads: int  # the threads each run has in std_s and adv_s (a worker's share, or the config's own)


def side_by_side_s(both: dict[str, float], long_alone_s: float) -> float:
    """Both runs of a pair on their own workers: ``both`` holds each run's seconds on its share of the
    cores while both run, ``long_alone_s`` the longer run's seconds on the cores it is given once the
    shorter is done (resources.cores_per_run); more cores never make it slower."""
    short, long = sorted(both.values())
    return short + (1 - short / long) * min(long, long_alone_s)


def _cpu_run_seconds(cfg: Config, mode: str, threads: int) -> float:
    return run_seconds(cfg, mode, threads, timed_scale(cfg, mode, threads))


def _run_times(cfg: Config, threads: int, timed: bool = True) -> dict[str, float]:
    """Each run's seconds on ``threads`` threads, scaled to a timed step of its own where ``timed`` (the CPU)."""
    times = {mode: _cpu_run_seconds(cfg, mode, threads) if timed else run_seconds(cfg, mode, threads)
             for mode in ("std", "adv")}
    # an adversarial run does the standard run's work and more: two noisy probes of a tiny config must not say otherwise
    times["adv"] = max(times["adv"], times["std"])
    return times


def _pair_on_shared_cores(cfg: Config, times: dict[str, float], threads: int, cores: int) -> float:
    """The pair's wall time when the job manager shares the cores among the runs running: each run timed
    at its share while both run, the longer (adversarial) one again at the cores it has alone. Timed, not
    assumed: what a second core gives a run depends on its shape (docs/performance.md)."""
    shared, alone = cores_per_run(2, threads, cores), cores_per_run(1, threads, cores)
    both = times if shared == threads else _run_times(cfg, shared)
    if alone == shared:
        return max(both.values())
    # a second timing's noise must not promise more than the added cores can give
    long_alone = max(_cpu_run_seconds(cfg, "adv", alone), both["adv"] * shared / alone)
    return side_by_side_s(both, long_alone)


def estimate_runtime(cfg: Config, threads: int | None = None) -> Estimate:
    """Seconds for the standard run, the adversarial run, and the pair side by side (CPU model), each
    run on ``threads`` threads: by default a job worker's, or the config's own when it sets them (a
    pinned run keeps its count in a worker, core/runs/worker.py)."""
    threads = min(threads or cfg.threads or worker_threads(), cpu_count())  # never timed above the cores
    device = "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"
    times = _run_times(cfg, threads, timed=device == "cpu")
    if device == "cpu" and not cfg.threads:  # a run pinned to its own thread count keeps it
        wall = _pair_on_shared_cores(cfg, times, threads, cpu_count())
    else:  # GPU workers are not given more threads
        wall = max(times.values())
    return Estimate(times["std"], times["adv"], wall, device, threads)


def format_seconds(s: float) -> str:
    """An estimate as a person reads it: "2.4 s", "23 s", "4 min", "2.0 h" (the Lab, the Sweep page, the CLI)."""
    # One decimal below 10 s, so a caption's figures read alike ("2.4 s for both, standard 1.0 s"), not
    # "2 s" beside "1.9 s"; minutes from 90 s, since "3600 s" makes the reader do the division.
    if s < 90:
        return f"{s:.1f} s" if round(s, 1) < 10 else f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"
