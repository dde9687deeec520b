"""Wall time of R runs trained as one batch against the same R runs one by one, on one device.

    PYTHONPATH=. python bench/bench_gpu_sweep.py --runs 64 --device cuda [--preset classroom] [--json out.json]
                                                 [--one-by-one N]

An eps grid of the preset, standard and adversarial halves; both ways train exactly the same
runs (core.engine.batched.train_batch against core.engine.train.train). On a GPU one small run
leaves the device idle, so the batch should win by far (goal: 20x at 64 runs).

--one-by-one N times only the first N runs of each half one by one and scales their time to the
whole half (runs of one shape take the same time to within noise): where a GPU is had for minutes
the slow side must not eat them. The report says how many were timed.

--scaling 1,8,32,64 also trains each mode's batch at those sizes and reports its training and
evaluation seconds: what stays flat with R is per-step overhead that batching shares, what grows
is per-run work (docs/performance.md has what it showed on an H200).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from core.engine.batched import train_batch
from core.engine.presets import get_preset
from core.engine.resources import resolve_device, sync
from core.engine.train import train


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json")
    ap.add_argument("--one-by-one", type=int, default=0, help="runs of each half timed one by one (0: all)")
    ap.add_argument("--scaling", default="", help="batch sizes, comma-separated: each mode's seconds at each")
    args = ap.parse_args()
    base = get_preset(args.preset).config(device=args.device)
    device = resolve_device(base.device)
    half = max(1, args.runs // 2)
    cfgs = [base.replace(eps=round(0.05 + 0.4 * i / max(1, half - 1), 6)) for i in range(half)]
    train_batch(cfgs[:2], "std")  # warm-up: CUDA context, kernels
    sync(device)
    started = time.perf_counter()
    for mode in ("std", "adv"):
        train_batch(cfgs, mode)
    sync(device)
    batched = time.perf_counter() - started
    timed = cfgs[:args.one_by_one] if 0 < args.one_by_one < half else cfgs
    started = time.perf_counter()
    for mode in ("std", "adv"):
        for cfg in timed:
            train(cfg, mode)
    sync(device)
    measured = time.perf_counter() - started
    one_by_one = measured * half / len(timed)
    report = {"runs": 2 * half, "preset": args.preset, "device": str(device) if device.type == "cpu"
              else torch.cuda.get_device_name(device), "batched_s": batched, "one_by_one_s": one_by_one,
              "one_by_one_timed_runs": 2 * len(timed), "one_by_one_measured_s": measured,
              "speedup": one_by_one / batched}
    if args.scaling:
        report["scaling"] = scaling(cfgs, [int(size) for size in args.scaling.split(",")], device)
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


def scaling(cfgs, sizes, device) -> dict:
    """{mode: {R: {wall_s, train_s, eval_s}}}: one batch of R of these runs (repeated when R is more)."""
    report = {}
    for mode in ("std", "adv"):
        report[mode] = {}
        for size in sizes:
            batch = [cfgs[i % len(cfgs)] for i in range(size)]
            started = time.perf_counter()
            results = train_batch(batch, mode)
            sync(device)
            report[mode][size] = {"wall_s": time.perf_counter() - started,
                                  # a RunResult holds its share: the batch's seconds over its runs
                                  "train_s": sum(r.train_seconds for r in results),
                                  "eval_s": sum(r.eval_seconds for r in results)}
    return report


if __name__ == "__main__":
    raise SystemExit(main())
