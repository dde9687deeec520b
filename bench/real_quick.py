"""Measure the quick real-image preset on several seeds: numbers, timing, the paper's pattern.

    PYTHONPATH=. python bench/real_quick.py --seeds 0 1 2 --threads 2 [--set FIELD=VALUE ...] [--json out.json]

Prints one block per seed and whether each claim of core.real.real_claims holds; the load
average is printed beside the time because the measuring machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from core.cli.real import parse_overrides
from core.real.pipeline import run_real
from core.real.real_claims import real_claims
from core.real.real_config import RealConfig


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="the full preset instead of the quick one")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report, all_hold = [], True
    for seed in args.seeds:
        cfg = RealConfig.for_dataset(args.dataset, quick=not args.full, seed=seed, threads=args.threads,
                                     **parse_overrides(args.set))
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        data = run_real(cfg).to_json()
        wall = time.perf_counter() - started
        claims = real_claims(data)
        all_hold &= all(c.holds for c in claims)
        stages = ", ".join(f"{k} {v:.0f}" for k, v in data["seconds"].items())
        print(f"seed {seed}: {wall:.0f} s wall (load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after); stages {stages}")
        for mode in ("std", "adv"):
            run = data["runs"][mode]
            print(f"  {mode}: " + ", ".join(f"{k} {run[k]:.3f}" for k in
                                            ("acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust")))
        for name in ("nrf_pgd", "rf_pgd"):
            att = data["attacks"][name]
            print(f"  {name}: success on std {att['std']:.3f}, adv {att['adv']:.3f}, "
                  f"own reference {att['reference']:.3f}")
        for claim in claims:
            print(f"  [{'ok' if claim.holds else 'FAIL'}] {claim.name}: {claim.detail}")
        report.append({"seed": seed, "wall_s": wall, "load_before": load_before, **data,
                       "claims": [c.__dict__ for c in claims]})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    print("all claims hold" if all_hold else "some claims fail")
    return 0 if all_hold else 1


if __name__ == "__main__":
    raise SystemExit(main())
