"""Time of one call of the random starts' draws: today's pooled_starts against philox_starts.counter_starts.

    PYTHONPATH=. python bench/bench_philox_starts.py [--device cpu|cuda] [--threads 1] [--rounds 7] [--json out.json]

At each shape -- one classroom run (150 x 50 patches), one figure3 run (300 x 100), one paper-scale
run (2000 x 100) and a 64-run classroom batch -- both draw the (pool row, signed scale) pieces of
every patch of a training step's starts. Rounds alternate the two, and each reports the median
of its calls in a round; the ratios are of the medians over rounds, measured in one process.

counter_starts runs its compiled kernel on the CPU where numba is (fast/philox_kernel.py) and its
torch code elsewhere; ``torch ops`` times the torch code on the CPU too (what a GPU would run, one
launch per operation: ``ops/call`` counts them; ``meta`` is no stand-in for launches, its ops go
through Python reference implementations).

With --device cuda both give their pieces on the GPU, as a training step there asks for them:
pooled_starts draws on the CPU and copies, counter_starts runs its torch code on the GPU (the
``torch ops`` column is then the same route); every call ends with a synchronize.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from core.engine.fast import philox_starts, set_kernel_threads
from core.engine.fast.philox_starts import Stream, counter_starts
from core.engine.resources import resolve_device, sync
from core.engine.threats import PatchL2

SHAPES = {  # (R, n, P, d)
    "classroom": (1, 150, 50, 40),
    "figure3": (1, 300, 100, 100),
    "paper-scale": (1, 2000, 100, 1000),
    "classroom x64": (64, 150, 50, 40),
}


def _median_ms(fn, calls: int, device) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def _ops_per_call(fn) -> int:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    # top-level aten calls: what a GPU would launch (views and tensor creation counted too)
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None)


def measure(shape, rounds: int, calls: int, device) -> dict:
    """Median milliseconds of each way at one shape, their ratios and the torch code's op count."""
    R, n, P, d = shape
    seeds, eps = list(range(R)), torch.full((R, 1, 1, 1), 0.3, device=device)
    threat, kernel = PatchL2(), philox_starts._cpu_kernel()
    generators = [torch.Generator().manual_seed(s) for s in seeds]  # a run makes its own once

    def pooled():
        threat.pooled_starts(shape, eps, generators, device)

    def counter():
        counter_starts(shape, eps, seeds, Stream.TRAINING, 17, device)

    def torch_ops():
        philox_starts._kernel = False
        try:
            counter()
        finally:
            philox_starts._kernel = kernel

    ways = {"pooled_starts": pooled, "counter_starts": counter, "torch ops": torch_ops}
    for fn in ways.values():
        fn()  # warm: the pool, the table, the kernel's compile
    times = {way: [] for way in ways}
    for _ in range(rounds):
        for way, fn in ways.items():
            times[way].append(_median_ms(fn, calls, device))
    row = {way: statistics.median(values) for way, values in times.items()}
    row["ops/call"] = _ops_per_call(torch_ops)
    row["counter/pooled"] = row["counter_starts"] / row["pooled_starts"]
    row["torch ops/pooled"] = row["torch ops"] / row["pooled_starts"]
    print(f"{'x'.join(map(str, shape)):18s} pooled_starts {row['pooled_starts']:7.2f} ms"
          f"  counter_starts {row['counter_starts']:7.2f} ms ({row['counter/pooled']:.2f}x)"
          f"  torch ops {row['torch ops']:7.2f} ms ({row['torch ops/pooled']:.2f}x, {row['ops/call']} ops)", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    set_kernel_threads(args.threads)
    device = resolve_device(args.device)
    report = {name: measure(shape, args.rounds, args.calls, device) for name, shape in SHAPES.items()}
    report["threads"], report["device"] = args.threads, str(device)
    report["kernel"] = bool(philox_starts._cpu_kernel())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
