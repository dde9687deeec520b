"""The bench's ratios in CPU time of one thread, for a shared machine.

``python -m core bench`` reads the wall clock, which other jobs on a loaded machine move by
2-20x. This runs the same three training steps (standard, one-step, PGD-3) with one torch
thread and ``time.thread_time``: the work another process's load cannot add to (caches
aside). Ours and the limit alternate over several rounds; medians are kept.

    PYTHONPATH=. python bench/bench_cpu.py --preset figure3 [--steps 20] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.engine.bench import run_bench_settings
from core.engine.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="figure3")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    cfg = get_preset(args.preset).config(threads=1)
    reports = run_bench_settings(cfg, args.steps, args.rounds, clock=time.thread_time)
    for name, one in reports.items():
        print(f"{name:<13} steps/s {one['steps_per_s']:7.1f}  limit {one['limit_steps_per_s']:7.1f}  "
              f"limit_fraction {one['limit_fraction']:.3f}  speedup_vs_peer {one['speedup_vs_peer']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
