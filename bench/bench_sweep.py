"""Runs per minute of classroom sweeps: batched against one run at a time, on this machine's CPU.

Two levels, each measured side by side in one invocation:
* sweep: ``run_sweep`` over all cores (loky), 16- and 64-point eps grids x both modes, three
  ways: ``batch=8`` (runs stacked 8 to a task), ``batch=1`` (one run per task) and the
  automatic choice (skipped, and reported as equal, where it plans the same tasks as one of those);
* engine: one process, one thread, ``train_many`` (all runs of a mode stacked) against a loop
  of ``core.engine.train.train`` -- the per-step overhead that batching removes, without parallelism.

    PYTHONPATH=. python bench/bench_sweep.py [--steps 100] [--sizes 16,64] [--set n_train=30] [--json out.json]

The default is the full classroom preset (400 steps); --steps trades fidelity for time. Wall
times on a shared machine are noisy: compare the variants of one invocation, not across runs.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from joblib import cpu_count

from core.engine.batched import train_many
from core.engine.presets import get_preset
from core.engine.train import train
from core.runs.sweep import make_tasks, plan_workers, run_sweep
from core.runs.sweep_spec import SweepSpec, sweep_points


def spec_for(points: int, steps: int, sets=()) -> SweepSpec:
    base = get_preset("classroom").config(steps=steps, device="cpu").with_overrides(list(sets))
    eps = [round(0.05 + 0.4 * i / max(1, points - 1), 6) for i in range(points)]
    return SweepSpec(base, (("eps", tuple(eps)),), 1, "both")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_sweep(points: int, steps: int, jobs: int | None, sets=()) -> list[dict]:
    spec = spec_for(points, steps, sets)
    run_sweep(spec_for(2, 2, sets), jobs=jobs)  # start the workers (and import torch there) outside the timing
    items = [(cfg, mode) for _, _, mode, cfg in sweep_points(spec)]
    workers, _ = plan_workers(len(items), spec.base, "loky", jobs)
    plans = {b: make_tasks(items, workers, b) for b in (8, 1, None)}
    out, seconds = [], {}
    for variant, batch in (("batched", 8), ("one-by-one", 1), ("auto", None)):
        same = next((b for b in (8, 1) if batch is None and plans[b] == plans[None]), None)
        seconds[batch] = seconds[same] if same else timed(lambda b=batch: run_sweep(spec, jobs=jobs, batch=b))
        out.append(dict(level="sweep", points=points, runs=len(spec), variant=variant, seconds=seconds[batch],
                        runs_per_min=60 * len(spec) / seconds[batch], tasks=len(plans[batch]),
                        note=f"same tasks as batch={same}" if same else ""))
    return out


def bench_engine(points: int, steps: int, sets=(), repeats: int = 2) -> list[dict]:
    """Alternating repeats; CPU seconds of this process too, which other users' load disturbs less."""
    torch.set_num_threads(1)
    items = [(cfg, mode) for _, _, mode, cfg in sweep_points(spec_for(points, steps, sets))]
    variants = {"batched": lambda: train_many(items, max_batch=len(items)),
                "one-by-one": lambda: [train(cfg, mode) for cfg, mode in items]}
    wall = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    for _ in range(repeats):
        for variant, fn in variants.items():
            started = time.process_time()
            wall[variant].append(timed(fn))
            cpu[variant].append(time.process_time() - started)
    return [dict(level="engine", points=points, runs=len(items), variant=v, seconds=min(wall[v]),
                 runs_per_min=60 * len(items) / min(wall[v]), cpu_seconds=min(cpu[v]),
                 note=f"cpu {min(cpu[v]):.1f} s = {60 * len(items) / min(cpu[v]):.1f} runs per cpu-minute")
            for v in variants]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=get_preset("classroom").config().steps)
    p.add_argument("--sizes", default="16,64", help="sweep sizes in grid points (each point runs std and adv)")
    p.add_argument("--jobs", type=int, help="loky workers (default: one per core)")
    p.add_argument("--engine-points", type=int, default=16, help="points for the single-process comparison; 0 skips")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a classroom field")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    rows = []
    for points in (int(s) for s in args.sizes.split(",") if s):
        rows += bench_sweep(points, args.steps, args.jobs, args.set)
    if args.engine_points:
        rows += bench_engine(args.engine_points, args.steps, args.set)
    ratios = {}
    for row in rows:
        if row["variant"] in ("batched", "auto"):
            base = next(r for r in rows if r["level"] == row["level"] and r["points"] == row["points"]
                        and r["variant"] == "one-by-one")
            key = f"{row['level']}_{row['points']}_{row['variant']}"
            ratios[key] = row["runs_per_min"] / base["runs_per_min"]
            if "cpu_seconds" in row:
                ratios[key + "_cpu"] = base["cpu_seconds"] / row["cpu_seconds"]
    print(f"classroom, steps={args.steps} {' '.join(args.set)}, {cpu_count()} cores, torch {torch.__version__}")
    print(f"{'level':<8}{'points':>7}{'runs':>6}{'variant':>12}{'tasks':>7}{'seconds':>10}{'runs/min':>10}")
    for r in rows:
        print(f"{r['level']:<8}{r['points']:>7}{r['runs']:>6}{r['variant']:>12}{r.get('tasks', ''):>7}"
              f"{r['seconds']:>10.1f}{r['runs_per_min']:>10.1f}  {r.get('note', '')}")
    for key, ratio in ratios.items():
        print(f"batched / one-by-one, {key}: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(steps=args.steps, sets=args.set, cores=cpu_count(), results=rows, ratios=ratios), f,
                      indent=1)


if __name__ == "__main__":
    main()
