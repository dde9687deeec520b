"""Speed of training steps, measured in one process against the peer and against the step's limit.

Only training steps are timed (no evaluation). Three references, each taken side by side
in the same run, so every figure is a ratio of numbers measured under the same load:

* the peer: the obvious autograd implementation kept in ``bench/peer.py``;
* the limit: the same step's matrix products alone -- the same shapes, the same example
  chunks, the same dtype and device, no elementwise work -- the rate a step could reach if
  everything between the products were free (``limit_fraction`` = ours / that);
* the square product: this machine's ``mm`` on 2048^2 matrices (``matmul_gflops``), a
  ceiling the step's thin products do not reach on every CPU.

Ours and the limit are timed in alternating rounds and the medians kept, so a burst of
load from elsewhere on a shared machine hits both alike.
"""

from __future__ import annotations

import statistics
import time

import torch

from .config import Config
from .data import make_datasets
from .network import Arch, chunk_rows, chunks, init_weights
from .resources import apply_threads, resolve_device, sync
from .seeds import init_generator, training_generator
from .train import gradient_step, training_attack


def _rate(fn, device, steps: int, warmup: int = 3, clock=time.perf_counter) -> float:
    """Calls per second of fn, after warm-up, by `clock` (wall time unless told)."""
    for _ in range(warmup):
        fn()
    sync(device)
    started = clock()
    for _ in range(steps):
        fn()
    sync(device)
    return steps / (clock() - started)


def matmul_gflops(device: torch.device) -> float:
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    return 2 * n**3 * _rate(lambda: torch.mm(a, b), device, 20 if device.type == "cuda" else 8) / 1e9


def attack_steps(cfg: Config, mode: str) -> int:
    """Input gradients a training step takes: 0 standard, 1 one-step, K for PGD-K."""
    if mode == "std":
        return 0
    return cfg.train_attack_steps if cfg.train_attack == "pgd" else 1


def matmuls_per_step(cfg: Config, mode: str) -> int:
    """Products of size (N*P, d, k*m) a step needs: forward and weight gradient, plus a
    forward and an input gradient per attack step."""
    return 2 + 2 * attack_steps(cfg, mode)


def step_products(cfg: Config, mode: str, device: torch.device, dtype=torch.float32):
    """A function that does one training step's matrix products and nothing else.

    Per chunk of examples (the engine's chunks): forward Z = X W^T and input gradient dZ W
    per attack step, then the forward and the weight gradient dZ^T X. Inputs are random;
    outputs go to preallocated buffers, so no allocation is timed either."""
    n = cfg.batch_size or cfg.n_train
    P, d, K = cfg.P, cfg.d, cfg.k * cfg.m
    rows = chunk_rows(n, P, max(K, d), device)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows * P, d, generator=g).to(device, dtype)
    dZ = torch.randn(rows * P, K, generator=g).to(device, dtype)
    W = torch.randn(K, d, generator=g).to(device, dtype)
    Z, grad_X, grad_W = torch.empty(rows * P, K, device=device, dtype=dtype), torch.empty_like(X), torch.zeros_like(W)
    inner = attack_steps(cfg, mode)

    def products():
        for part in chunks(n, rows):
            size = (part.stop - part.start) * P
            Xc, dZc = X[:size], dZ[:size]
            for _ in range(inner):
                torch.mm(Xc, W.t(), out=Z[:size])
                torch.mm(dZc, W, out=grad_X[:size])
            torch.mm(Xc, W.t(), out=Z[:size])
            grad_W.addmm_(dZc.t(), Xc)

    return products


def run_bench(cfg: Config, mode: str, steps: int, rounds: int = 3, clock=time.perf_counter) -> dict:
    """Steps per second of ours, the limit and the peer. clock=time.thread_time with threads=1
    measures CPU time, which a shared machine's load barely moves (bench/bench_cpu.py)."""
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    train_set, _ = make_datasets(cfg.replace(n_test=1))
    train_set = train_set.to(device)
    # exactly what train() runs: a batch of one, with its training generator (PGD's random starts)
    X, y = train_set.X[None], train_set.y[None]
    W = init_weights(cfg, init_generator(cfg.seed)).to(device)[None]
    arch = Arch.from_config(cfg)
    per_run = {name: torch.tensor([getattr(cfg, name)], device=device).view(1, 1, 1, 1) for name in ("eps", "eta_a")}
    attack = training_attack(cfg, mode, per_run["eps"], per_run["eta_a"])
    generators = [training_generator(cfg.seed)]

    def ours():
        grad, _, _ = gradient_step(W, X, y, arch, attack, generators)
        W.sub_(grad, alpha=cfg.eta)

    from bench.peer import step as peer_step  # the peer lives outside the engine

    peer_W = [W[0].clone()]

    def peer():
        peer_W[0] = peer_step(peer_W[0], X[0], y[0], cfg, adversarial=mode == "adv")

    limit = step_products(cfg, mode, device)
    matmul = matmul_gflops(device)
    ours_rates, limit_rates = [], []
    for _ in range(rounds):
        ours_rates.append(_rate(ours, device, steps, clock=clock))
        limit_rates.append(_rate(limit, device, steps, clock=clock))
    steps_per_s, limit_steps_per_s = statistics.median(ours_rates), statistics.median(limit_rates)
    peer_steps_per_s = _rate(peer, device, max(3, steps // 3), warmup=1, clock=clock)
    flops = matmuls_per_step(cfg, mode) * 2 * len(y[0]) * cfg.P * cfg.d * cfg.k * cfg.m
    gflops = flops * steps_per_s / 1e9
    return {
        "config": cfg.to_dict(),
        "mode": mode,
        "steps_per_s": steps_per_s,
        "limit_steps_per_s": limit_steps_per_s,
        "limit_fraction": steps_per_s / limit_steps_per_s,
        "peer_steps_per_s": peer_steps_per_s,
        "speedup_vs_peer": steps_per_s / peer_steps_per_s,
        "gflops": gflops,
        "limit_gflops": flops * limit_steps_per_s / 1e9,
        "matmul_gflops": matmul,
        "matmul_peak_fraction": gflops / matmul,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
    }


# The three training steps a report covers: standard, the paper's one-step attack, PGD-3.
SETTINGS = {
    "std": ("std", {}),
    "adv_one_step": ("adv", {"train_attack": "one_step"}),
    "adv_pgd3": ("adv", {"train_attack": "pgd", "train_attack_steps": 3}),
}


def run_bench_settings(cfg: Config, steps: int, rounds: int = 3, clock=time.perf_counter) -> dict[str, dict]:
    """run_bench for each of SETTINGS on the same base config."""
    return {name: run_bench(cfg.replace(**changes), mode, steps, rounds, clock)
            for name, (mode, changes) in SETTINGS.items()}
