"""A sweep's estimate against the sweep itself: what the Sweep page and `core sweep` say, then the run.

    PYTHONPATH=. python bench/sweep_estimate.py --preset figure3 --grid eps=0.3,0.5 --set steps=200

Prints the estimate (and how long making it took), each run as it finishes (seconds since the sweep
started, its mode and point) and the sweep's wall time, workers started included, as
estimate_seconds counts it. docs/performance.md keeps the numbers.
"""

from __future__ import annotations

import argparse
import time

from core.engine.presets import get_preset
from core.runs.sweep import run_sweep
from core.runs.sweep_spec import SweepSpec, estimate_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--grid", action="append", required=True, help="FIELD=V1,V2,... or FIELD=A:B:N (once or twice)")
    ap.add_argument("--set", action="append", default=[], help="FIELD=VALUE on the base config")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--mode", choices=("std", "adv", "both"), default="both")
    ap.add_argument("--jobs", type=int)
    args = ap.parse_args()
    spec = SweepSpec.from_strings(get_preset(args.preset).config().with_overrides(args.set), args.grid, args.seeds,
                                  args.mode)
    started = time.perf_counter()
    estimate = estimate_seconds(spec, jobs=args.jobs)
    print(f"{len(spec)} runs: estimate {estimate:.1f} s (made in {time.perf_counter() - started:.2f} s)", flush=True)
    started = time.perf_counter()

    def on_row(row: dict) -> None:
        point = " ".join(f"{name}={row[name]}" for name in spec.fields)
        print(f"  {time.perf_counter() - started:6.1f} s  {row['mode']:3s} {point}", flush=True)

    run_sweep(spec, jobs=args.jobs, callback=on_row)
    print(f"measured {time.perf_counter() - started:.1f} s (estimate {estimate:.1f} s)")


if __name__ == "__main__":
    main()
