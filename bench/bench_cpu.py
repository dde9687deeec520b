"""The bench's ratios in CPU time of one thread, for a shared machine.

``python -m core bench`` reads the wall clock, which other jobs on a loaded machine move by
several times. This runs the same three training steps (standard, one-step, PGD-3) with one torch
thread (and one thread for the CPU kernels) and ``time.process_time``: the work another
process's load cannot add to (caches aside). Process time, not the thread's: the kernels'
thread pool runs outside the calling thread. Ours, the limit (the step's recorded products)
and the dense limit (the textbook step's products) alternate over several rounds; medians are kept.

    PYTHONPATH=. python bench/bench_cpu.py --preset figure3 [--steps 20] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.engine.measure.step_speed import run_bench_settings
from core.engine.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="figure3")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    cfg = get_preset(args.preset).config(threads=1)
    reports = run_bench_settings(cfg, args.steps, args.rounds, clock=time.process_time)
    for name, one in reports.items():
        print(f"{name:<13} steps/s {one['steps_per_s']:7.1f}  limit {one['limit_steps_per_s']:7.1f}  "
              f"limit_fraction {one['limit_fraction']:.3f}  dense_limit_fraction {one['dense_limit_fraction']:.3f}  "
              f"speedup_vs_peer {one['speedup_vs_peer']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
