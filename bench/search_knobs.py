"""Search knobs of a preset for settings that meet the paper's claims on several seeds.

    python bench/search_knobs.py --preset classroom --seeds 0 1 2 \
        --grid eta_a=3,5,10 --grid rho=1,2 [--set steps=400]

Prints one line per setting: claims passed per seed, peak PGD accuracy of the adversarial
run, and how many logged steps it stayed within 0.05 of that peak.
"""

import argparse
import itertools
import sys
import time

sys.path.insert(0, ".")

from core.engine.claims import check_claims, peak  # noqa: E402
from core.engine.presets import get_preset  # noqa: E402
from core.engine.train import run_twins  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--grid", action="append", default=[])
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    base = get_preset(args.preset).config().with_overrides(args.set)
    axes = [(g.split("=")[0], g.split("=")[1].split(",")) for g in args.grid]
    for values in itertools.product(*[v for _, v in axes]):
        pairs = [f"{name}={value}" for (name, _), value in zip(axes, values, strict=True)]
        cfg = base.with_overrides(pairs)
        started = time.time()
        cells = []
        for seed in args.seeds:
            res = run_twins(cfg.replace(seed=seed))
            claims = check_claims(res)
            failed = [c.text for c in claims if not c.passed]
            hist = res["adv"].history
            top = peak(hist, "acc_pgd")
            held = sum(1 for row in hist if row["acc_pgd"] >= top - 0.05)
            pts = res["adv"].phase_transition_step
            cells.append(f"s{seed}:{'OK' if not failed else 'FAIL(' + ';'.join(failed) + ')'} "
                         f"pgd_peak={top:.2f} held={held} pts={pts} swap={res['adv'].final['acc_swap']:.2f}")
        print(" ".join(pairs), f"[{time.time() - started:.0f}s]", " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
