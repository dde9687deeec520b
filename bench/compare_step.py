"""This tree's training step against an older commit's, and both against the step's limit.

    PYTHONPATH=. python bench/compare_step.py --old dda8d34 [--steps 5 --rounds 5 --threads 1]

The old commit's core/ is unpacked (git archive) into a temporary folder as the package
``oldcore`` and both steps run in this one process, in alternating rounds with the step's
textbook products alone (core.engine.measure.step_speed.dense_step_products, the dense limit). Times are
process CPU time with one thread (the CPU kernels' pool included), so a shared machine's load
shows up less than in wall time; medians of the rounds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch


def unpack(commit: str, into: Path) -> None:
    tar = subprocess.run(["git", "archive", commit, "core"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    (into / "core").rename(into / "oldcore")


def rate(fn, steps: int) -> float:
    fn()
    started = time.process_time()
    for _ in range(steps):
        fn()
    return steps / (time.process_time() - started)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the commit to compare with")
    ap.add_argument("--preset", default="figure3")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from core.engine.config import Config
    from core.engine.resources import apply_threads

    apply_threads(Config(threads=args.threads))  # torch's and the CPU kernels' threads, in the order that holds
    folder = Path(tempfile.mkdtemp())
    unpack(args.old, folder)
    sys.path.insert(0, str(folder))
    from oldcore.engine.train import gradient_step as old_step  # noqa: I001
    from oldcore.engine.train import training_attack as old_attack

    from core.engine.attacks import per_run
    from core.engine.data import make_datasets
    from core.engine.measure.step_speed import SETTINGS, dense_step_products
    from core.engine.network import Arch, init_weights
    from core.engine.presets import get_preset
    from core.engine.seeds import init_generator, training_generator
    from core.engine.train import gradient_step, training_attack

    base = get_preset(args.preset).config(device="cpu")
    for name, (mode, changes) in SETTINGS.items():
        cfg = base.replace(**changes)
        data, _ = make_datasets(cfg.replace(n_test=1))
        arch = Arch.from_config(cfg)
        W = init_weights(cfg, init_generator(cfg.seed))
        attack = training_attack(cfg, mode, per_run([cfg], "eps", W[None]), per_run([cfg], "eta_a", W[None]))
        old = old_attack(cfg, mode)
        gens, old_gen = [training_generator(cfg.seed)], torch.Generator().manual_seed(cfg.seed + 2)
        fns = {"old": lambda: old_step(W, data.X, data.y, arch, old, old_gen),  # noqa: B023
               "new": lambda: gradient_step(W[None], data.X[None], data.y[None], arch, attack, gens),  # noqa: B023
               "limit": dense_step_products(cfg, mode, torch.device("cpu"))}
        rates = {key: [] for key in fns}
        for _ in range(args.rounds):
            for key, fn in fns.items():
                rates[key].append(rate(fn, args.steps))
        m = {key: statistics.median(values) for key, values in rates.items()}
        print(f"{name:13s} old {m['old']:6.2f}/s ({m['old'] / m['limit']:.2f} of limit)  new {m['new']:6.2f}/s "
              f"({m['new'] / m['limit']:.2f})  limit {m['limit']:6.2f}/s  new/old {m['new'] / m['old']:.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
