"""Speed of training steps, measured in one process against the peer and against the step's limit.

Only training steps are timed (no evaluation). Four references, each taken side by side
in the same run, so every figure is a ratio of numbers measured under the same load:

* the peer: the paper's training step in plain autograd, ``core/engine/paper.py``;
* the limit: the step's own matrix products alone, recorded from one call of the step
  (``products.record``) and replayed on preallocated tensors of the same shapes, strides,
  dtype and device (``products.replay``), no elementwise work -- the rate the step could
  reach if everything between its products were free (``limit_fraction`` = ours / that).
  Recorded rather than written out, because the step's algebra changes: the margin's input
  gradient is a small batched product (``network.pair_input_grad``), and every such change
  would otherwise leave a hand-written limit timing products the step no longer runs;
* the dense limit: the textbook step's products written out -- per chunk, the forward and
  weight gradient plus a forward and a full (rows*P x K)(K x d) input gradient per attack
  step (``dense_step_products``); ``dense_limit_fraction`` = ours / that, the limit of a step
  without the pair path's smaller products;
* the in-step limit: the same products timed where they run, inside our step
  (``products.ProductTimer``): seconds per step spent in products, their inputs just written
  by the step's other work. The replay reads buffers that other products left, so it can run
  slower than the same products inside the step (docs/performance.md); ``limit_in_step_fraction``
  = ours / that, the share of the step its products take, a cross-check of ``limit_fraction``;
* the square product: this machine's ``mm`` on 2048^2 matrices (``matmul_gflops``), a
  ceiling the step's thin products do not reach on every CPU.

Ours, the two limits, the in-step products and the peer are timed in alternating rounds and the
medians kept, so a burst of load from elsewhere on a shared machine hits all alike;
``limit_fraction_rounds`` and ``speedup_vs_peer_rounds`` keep each round's own ratio, the spread
behind the median. ``gflops`` counts the recorded products' FLOPs (``step_gflop`` per step, over
``products_per_step`` calls).
"""

from __future__ import annotations

import statistics
import time

import torch

from .. import paper
from ..attacks import per_run
from ..config import Config
from ..data import make_datasets
from ..fast import chunk_rows, chunks, describe_cpu
from ..network import Arch, init_weights
from ..resources import apply_threads, cpu_count, resolve_device, sync
from ..seeds import init_generator, training_generator
from ..train import gradient_step, training_attack
from .products import ProductTimer, record, replay, total_flops


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
    """Products of size (N*P, d, k*m) the textbook step needs: forward and weight gradient, plus
    a forward and a full input gradient per attack step (the engine's own step may need fewer)."""
    return 2 + 2 * attack_steps(cfg, mode)


def dense_step_products(cfg: Config, mode: str, device: torch.device, dtype=torch.float32):
    """A function that does the textbook training step's matrix products and nothing else.

    Per chunk of examples (the engine's chunks): forward Z = X W^T and the full input gradient
    dZ W per attack step, then the forward and the weight gradient dZ^T X. Inputs are random;
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
    """Steps per second of ours, the limit, the dense limit and the peer. clock=time.process_time with
    threads=1 measures CPU time, which a shared machine's load barely moves (bench/bench_cpu.py)."""
    device = resolve_device(cfg.device)
    apply_threads(cfg)
    train_set, _ = make_datasets(cfg.replace(n_test=1))
    train_set = train_set.to(device)
    # exactly what train() runs: a batch of one, with its training generator (PGD's random starts)
    X, y = train_set.X[None], train_set.y[None]
    W = init_weights(cfg, init_generator(cfg.seed)).to(device)[None]
    arch = Arch.from_config(cfg)
    attack = training_attack(cfg, mode, per_run([cfg], "eps", W), per_run([cfg], "eta_a", W))

    def step(weights, generators):
        grad, _, _ = gradient_step(weights, X, y, arch, attack, generators)
        weights.sub_(grad, alpha=cfg.eta)

    generators = [training_generator(cfg.seed)]

    def ours():
        step(W, generators)

    peer_W = [W[0].clone()]

    def peer():
        peer_W[0] = paper.training_step(peer_W[0], X[0], y[0], cfg, mode)

    # Recorded on copies, so that the timed steps start where they always did, and after a warm-up
    # step, so that one-time work (a cached pool, a compiled kernel) is not taken for every step's.
    recorded_W, recorded_generators = W.clone(), [training_generator(cfg.seed)]
    step(recorded_W, recorded_generators)
    products = record(lambda: step(recorded_W, recorded_generators))
    flops = total_flops(products)
    timed = {"ours": ours, "limit": replay(products), "dense_limit": dense_step_products(cfg, mode, device)}

    def products_inside() -> float:
        """Seconds per step our step spends in its products, timed where they run."""
        with ProductTimer(clock) as timer:
            for _ in range(steps):
                ours()
        return timer.seconds / steps

    matmul = matmul_gflops(device)
    rates = {name: [] for name in (*timed, "peer")}
    inside = []
    for index in range(rounds):
        for name, fn in timed.items():
            rates[name].append(_rate(fn, device, steps, clock=clock))
        inside.append(products_inside())
        # the peer is several times slower: a third of the steps, warmed up in the first round only
        rates["peer"].append(_rate(peer, device, max(3, steps // 3), warmup=0 if index else 1, clock=clock))
    steps_per_s, limit_steps_per_s, dense_limit_steps_per_s, peer_steps_per_s = (
        statistics.median(rates[name]) for name in rates)
    products_s = statistics.median(inside)
    gflops = flops * steps_per_s / 1e9
    return {
        "config": cfg.to_dict(),
        "mode": mode,
        "steps_per_s": steps_per_s,
        "limit_steps_per_s": limit_steps_per_s,
        "limit_fraction": steps_per_s / limit_steps_per_s,
        # each round's ours over the limit timed beside it: how far one median can move on a shared machine
        "limit_fraction_rounds": [ours / limit for ours, limit in zip(rates["ours"], rates["limit"], strict=True)],
        "limit_in_step_steps_per_s": 1 / products_s,
        "limit_in_step_fraction": steps_per_s * products_s,
        "dense_limit_steps_per_s": dense_limit_steps_per_s,
        "dense_limit_fraction": steps_per_s / dense_limit_steps_per_s,
        "peer_steps_per_s": peer_steps_per_s,
        "speedup_vs_peer": steps_per_s / peer_steps_per_s,
        "speedup_vs_peer_rounds": [ours / peer for ours, peer in zip(rates["ours"], rates["peer"], strict=True)],
        "products_per_step": len(products),
        "step_gflop": flops / 1e9,
        "gflops": gflops,
        "limit_gflops": flops * limit_steps_per_s / 1e9,
        "matmul_gflops": matmul,
        "matmul_peak_fraction": gflops / matmul,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        # the host's, also beside a GPU (it runs the step's Python and small ops)
        "cpu": {**describe_cpu(), "cores": cpu_count()},
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
