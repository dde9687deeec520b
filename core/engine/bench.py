"""Speed of training steps, measured in one process against the peer and the matmul rate.

Only training steps are timed (no evaluation). The peer is the obvious autograd
implementation kept in ``bench/peer.py``; the matrix-product rate is this machine's
float32 ``mm`` on square matrices, measured in the same run, so every figure is a ratio
of numbers taken side by side.
"""

from __future__ import annotations

import time

import torch

from .config import Config
from .data import make_datasets
from .network import Arch, init_weights
from .resources import apply_threads, resolve_device
from .train import gradient_step, training_attack


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn, device, steps: int, warmup: int = 3) -> float:
    """Calls per second of fn, after warm-up."""
    for _ in range(warmup):
        fn()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return steps / (time.perf_counter() - started)


def matmul_gflops(device: torch.device) -> float:
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    return 2 * n**3 * _rate(lambda: torch.mm(a, b), device, 20 if device.type == "cuda" else 8) / 1e9


def matmuls_per_step(cfg: Config, mode: str) -> int:
    """Products of size (N*P, d, k*m) a step needs: forward and weight gradient, plus a
    forward and an input gradient per attack step."""
    if mode == "std":
        return 2
    attack_steps = cfg.train_attack_steps if cfg.train_attack == "pgd" else 1
    return 2 + 2 * attack_steps


def run_bench(cfg: Config, mode: str, steps: int) -> dict:
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    train_set, _ = make_datasets(cfg.replace(n_test=1))
    train_set = train_set.to(device)
    X, y = train_set.X, train_set.y
    W = init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    arch = Arch.from_config(cfg)
    attack = training_attack(cfg, mode)

    def ours():
        grad, _, _ = gradient_step(W, X, y, arch, attack, None)
        W.sub_(grad, alpha=cfg.eta)

    from bench.peer import step as peer_step  # the peer lives outside the engine

    peer_W = [W.clone()]

    def peer():
        peer_W[0] = peer_step(peer_W[0], X, y, cfg, adversarial=mode == "adv")

    matmul = matmul_gflops(device)
    steps_per_s = _rate(ours, device, steps)
    peer_steps_per_s = _rate(peer, device, max(3, steps // 3), warmup=1)
    flops = matmuls_per_step(cfg, mode) * 2 * len(y) * cfg.P * cfg.d * cfg.k * cfg.m
    gflops = flops * steps_per_s / 1e9
    return {
        "config": cfg.to_dict(),
        "mode": mode,
        "steps_per_s": steps_per_s,
        "peer_steps_per_s": peer_steps_per_s,
        "speedup_vs_peer": steps_per_s / peer_steps_per_s,
        "gflops": gflops,
        "matmul_gflops": matmul,
        "matmul_peak_fraction": gflops / matmul,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
    }
