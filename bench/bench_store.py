"""What streaming to the run store costs, and how soon another process sees a step.

    PYTHONPATH=. python bench/bench_store.py [--preset classroom] [--repeats 3] [--json PATH] [--no-jobs]

1. Overhead: train() with and without the store-writing callback (core.runs.recorder.RunRecorder,
   metrics and snapshots), same process, interleaved; reported as a fraction of training
   time, both from the run times and from the time spent inside the callback (steadier on a
   busy machine). Goal: under 5 %.
2. Visibility: a reader in another process polls the newest logged step with its own
   connection; delay = when it first sees a step minus when training logged it. Bounded by
   the recorder's flush interval (0.5 s) plus one step.
3. First point through the job manager: submit on a warm pool until the first metrics row
   is readable (the dashboard's goal: under 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from core.engine.presets import get_preset
from core.engine.train import train
from core.runs.recorder import RunRecorder
from core.runs.store import RunStore

READER = """
import json, sys, time
from core.runs.store import RunStore
store, run_id, seen, last = RunStore(sys.argv[1]), sys.argv[2], {}, None
print("ready", flush=True)
while store.run_status(run_id) not in ("finished", "failed", "cancelled", "diverged"):
    step = store.last_metric_step(run_id)
    if step is not None and step != last:
        seen[step], last = time.time(), step
    time.sleep(0.005)
print(json.dumps(seen))
"""


def timed_callback(recorder, spent: list, logged: dict):
    def callback(event):
        started = time.perf_counter()
        recorder(event)
        spent[0] += time.perf_counter() - started
        if event.metrics is not None:
            logged[event.step] = time.time()

    return callback


def overhead(cfg, store: RunStore, repeats: int) -> dict:
    plain, recorded, inside = [], [], []
    train(cfg.replace(steps=0), "adv")  # warm-up
    for _ in range(repeats):
        started = time.perf_counter()
        train(cfg, "adv")
        plain.append(time.perf_counter() - started)
        run_id = store.create_run(cfg, "adv")
        store.start_run(run_id, "cpu")
        spent = [0.0]
        recorder = RunRecorder(store, run_id)
        started = time.perf_counter()
        train(cfg, "adv", callback=timed_callback(recorder, spent, {}))
        recorder.flush()
        recorded.append(time.perf_counter() - started)
        inside.append(spent[0])
        store.finish_run(run_id, "finished")
    base = statistics.median(plain)
    return {
        "train_s": base,
        "train_with_store_s": statistics.median(recorded),
        "overhead_fraction_by_run_time": statistics.median(recorded) / base - 1,
        "overhead_fraction_in_callback": statistics.median(inside) / base,
    }


def visibility(cfg, store: RunStore) -> dict:
    run_id = store.create_run(cfg, "adv")
    store.start_run(run_id, "cpu")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store.path), run_id], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    reader.stdout.readline()
    logged: dict = {}
    recorder = RunRecorder(store, run_id)
    train(cfg, "adv", callback=timed_callback(recorder, [0.0], logged))
    recorder.flush()
    store.finish_run(run_id, "finished")
    seen = {int(step): stamp for step, stamp in json.loads(reader.communicate(timeout=60)[0]).items()}
    # a step the reader skipped over (two arrived in one batch) was visible when a later one was
    delays = []
    for step, stamp in sorted(logged.items()):
        later = [seen[s] for s in seen if s >= step]
        if later:
            delays.append(min(later) - stamp)
    return {
        "flush_s": recorder.flush_s,
        "visible_delay_first_s": delays[0],
        "visible_delay_median_s": statistics.median(delays),
        "visible_delay_max_s": max(delays),
    }


def first_point(cfg, path: Path, repeats: int) -> dict:
    from core.runs.jobs import JobManager

    with JobManager(path, max_workers=1) as manager:
        manager.wait_ready(120)
        times = []
        for _ in range(repeats):
            started = time.monotonic()
            run_id = manager.submit(cfg, "adv", fresh=True)
            while manager.store.last_metric_step(run_id) is None:
                time.sleep(0.005)
            times.append(time.monotonic() - started)
            manager.cancel(run_id)
            manager.wait(run_id, 30)
    return {"first_point_median_s": statistics.median(times), "first_point_max_s": max(times)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--no-jobs", action="store_true", help="skip the job-manager first-point measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = get_preset(args.preset).config(device="cpu", threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs.sqlite")
        report = {"preset": args.preset, "steps": cfg.steps, "eval_every": cfg.eval_every}
        report.update(overhead(cfg, store, args.repeats))
        report.update(visibility(cfg, store))
        if not args.no_jobs:
            report.update(first_point(cfg, Path(tmp) / "jobs.sqlite", args.repeats))
        store.close()
    for key, value in report.items():
        print(f"{key:<32} {value:.4f}" if isinstance(value, float) else f"{key:<32} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
