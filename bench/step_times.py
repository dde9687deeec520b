"""Wall and CPU time of one standard and one adversarial training step, medians of a few steps.

    PYTHONPATH=. python bench/step_times.py --preset figure3 [--threads 2] [--steps 12]

A process's settings that act at its start (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``,
``RFL_KERNELS=torch``) can only be compared process against process: run this once per setting,
alternating the settings over several rounds, since a shared machine's speed drifts within
minutes. CPU time over wall time near the thread count means the threads were busy or spinning.
"""

from __future__ import annotations

import argparse
import statistics
import time

from core.engine.data import make_datasets
from core.engine.network import Arch, init_weights
from core.engine.presets import get_preset
from core.engine.resources import apply_threads
from core.engine.seeds import init_generator, training_generator
from core.engine.train import gradient_step, training_attack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="figure3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    cfg = get_preset(args.preset).config(threads=args.threads)
    apply_threads(cfg)
    train_set, _ = make_datasets(cfg)
    W = init_weights(cfg, init_generator(cfg.seed))
    arch = Arch.from_config(cfg)
    parts = []
    for mode in ("std", "adv"):
        attack, generator = training_attack(cfg, mode), training_generator(cfg.seed)
        for _ in range(3):  # warm-up: allocator, kernels
            gradient_step(W, train_set.X, train_set.y, arch, attack, generator)
        walls, cpus = [], []
        for _ in range(args.steps):
            wall, cpu = time.perf_counter(), time.process_time()
            gradient_step(W, train_set.X, train_set.y, arch, attack, generator)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        parts.append(f"{mode} wall {statistics.median(walls) * 1e3:.1f} ms (CPU {statistics.median(cpus) * 1e3:.1f})")
    print("  ".join(parts))


if __name__ == "__main__":
    main()
