"""A twin run timed as the Lab meets it: through the job manager's warm workers, from submit to both done.

    PYTHONPATH=. python bench/app_twin.py --preset classroom --rounds 4

Each round submits the preset's pair fresh (no cache) to a JobManager on a temporary store, as the
Lab's Run does, and waits for both runs; it prints the round's wall time and when each half ended,
after the Lab's estimate for the pair, and beside it the machine's square-product rate timed just
before the round (``step_speed.matmul_gflops``): a shared machine's speed can swing 2x within minutes,
and that rate says which phase of the machine a round ran in.
The workers start (and load their kernels) before the first round, as they do on a server's first
visit, so no round pays for that. docs/performance.md keeps the numbers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from core.engine.measure.estimate import estimate_runtime
from core.engine.measure.step_speed import matmul_gflops
from core.engine.presets import get_preset
from core.runs.jobs import JobManager


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="classroom")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cfg = get_preset(args.preset).config()
    with tempfile.TemporaryDirectory() as folder:
        manager = JobManager(Path(folder) / "runs.sqlite")
        try:
            if not manager.wait_ready(300):
                raise SystemExit("the workers did not start within 300 s")
            est = estimate_runtime(cfg)  # what the Lab's caption says for this pair, timed as its server does
            print(f"{args.preset} estimate: {est.wall_s:.1f} s for both (standard {est.std_s:.1f} s, adversarial "
                  f"{est.adv_s:.1f} s)", flush=True)
            for round_ in range(args.rounds):
                machine = matmul_gflops(torch.device("cpu"))  # the phase, timed while the workers idle
                started = time.time()
                ids = manager.submit_twins(cfg, preset=args.preset, fresh=True)
                manager.wait(list(ids.values()), timeout=3600)
                total = time.time() - started
                ends = {mode: manager.store.get_run(run_id) for mode, run_id in ids.items()}
                halves = ", ".join(f"{mode} {run['status']} at {run['finished'] - started:.2f} s"
                                   for mode, run in ends.items())
                print(f"{args.preset} round {round_}: {total:.2f} s ({halves}; square product {machine:.0f} "
                      f"GFLOP/s just before)", flush=True)
        finally:
            manager.shutdown()


if __name__ == "__main__":
    main()
