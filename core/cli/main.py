"""Command line: ``python -m core {presets,run,bench,checks,runs,sweep,real}``.

Bad fields or values exit with code 2 and a one-line message, before any work starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..engine.assumptions import assumption_checks
from ..engine.config import MODES, Config, ConfigError
from ..engine.knobs import knob_lines
from ..engine.metrics import METRICS
from ..engine.presets import PRESETS, get_preset
from .lesson import add_lesson_parser
from .real import add_real_parser
from .runs import add_runs_parser, run_twins_recorded
from .sweep import add_sweep_parser

SUMMARY_METRICS = ("corr_robust", "corr_nonrobust", "acc_clean", "acc_pgd", "acc_swap",
                   "acc_robust_feature", "acc_nonrobust_feature", "loss")


def build_config(args) -> Config:
    preset = get_preset(args.preset)
    cfg = preset.config()
    pairs = list(args.set or [])
    if getattr(args, "device", None):
        pairs.append(f"device={args.device}")
    return cfg.with_overrides(pairs)


def run_json(cfg: Config, results) -> dict:
    """The --json contract: config, then per mode final metrics, transition and history."""
    return {
        "config": cfg.to_dict(),
        "runs": {
            mode: {
                "status": r.status,
                "reason": r.reason,
                "final": r.final,
                "phase_transition_step": r.phase_transition_step,
                "history": r.history,
                "train_seconds": r.train_seconds,
                "eval_seconds": r.eval_seconds,
            }
            for mode, r in results.items()
        },
    }


def summary_table(results) -> str:
    modes = list(results)
    lines = [f"{'metric':<24}" + "".join(f"{m:>12}" for m in modes)]
    for name in SUMMARY_METRICS:
        lines.append(f"{name:<24}" + "".join(f"{results[m].final.get(name, float('nan')):>12.3f}" for m in modes))
    transitions = "".join(f"{str(results[m].phase_transition_step):>12}" for m in modes)
    lines.append(f"{'phase_transition_step':<24}" + transitions)
    lines.append(f"{'status':<24}" + "".join(f"{results[m].status:>12}" for m in modes))
    for m in modes:
        if results[m].reason:
            lines.append(f"{m}: {results[m].reason}")
    return "\n".join(lines)


def cmd_presets(args) -> int:
    for preset in PRESETS.values():
        print(f"{preset.name:<15} {preset.description}")
    return 0


def cmd_checks(args) -> int:
    for check in assumption_checks(build_config(args)):
        print(f"[{check.status:>5}] {check.name}: {check.why}")
    return 0


def cmd_run(args) -> int:
    from tqdm import tqdm

    from ..engine.resources import check_memory, resolve_device
    from ..engine.train import run_twins
    from .threads import ThreadsFollowLoad

    cfg = build_config(args)
    device = resolve_device(cfg.device)
    check_memory(cfg, device)
    modes = MODES if args.mode == "both" else (args.mode,)
    bars = {}
    # A run pinned to a thread count keeps it; otherwise it leaves the cores other processes use to them.
    follow = ThreadsFollowLoad() if device.type == "cpu" and not cfg.threads else None

    def on_progress(event):
        if follow is not None:
            follow(event)
        bar = bars.get(event.mode)
        if bar is None:
            bar = bars[event.mode] = tqdm(total=event.steps, desc=event.mode, unit="step", file=sys.stderr,
                                          leave=True, disable=args.quiet)
        bar.update(1)
        if event.metrics:
            bar.set_postfix(corr_r=f"{event.metrics['corr_robust']:.2f}",
                            corr_nr=f"{event.metrics['corr_nonrobust']:.2f}",
                            pgd=f"{event.metrics['acc_pgd']:.2f}")

    if args.store:
        results, ids = run_twins_recorded(args.store, cfg, modes, preset=args.preset, callback=on_progress)
    else:
        results = run_twins(cfg, modes, callback=on_progress)
    for bar in bars.values():
        bar.close()
    print(summary_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(run_json(cfg, results), indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.store:
        print(f"stored runs {', '.join(f'{m}={i}' for m, i in ids.items())} in {args.store}", file=sys.stderr)
    return 0 if all(r.status == "finished" for r in results.values()) else 1


def _bench_number(value) -> str:
    """Three decimals, or three significant digits where those would print 0.000 (a tiny step's GFLOP);
    the CPU's description on one line."""
    if isinstance(value, dict):
        cache = value.get("last_level_cache_bytes")
        parts = [value["model"], value["capability"]]
        parts += [f"last-level cache {cache / 2**20:.0f} MiB"] if cache else []
        return " · ".join([*parts, f"{value['cores']} cores"])
    if isinstance(value, list):  # each round's figure
        return " ".join(_bench_number(one) for one in value)
    if not isinstance(value, float):
        return str(value)
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.01 else f"{value:.3g}"


def cmd_bench(args) -> int:
    from ..engine.measure.step_speed import run_bench, run_bench_settings

    cfg = build_config(args)
    reports = run_bench_settings(cfg, args.steps) if args.all else {args.mode: run_bench(cfg, args.mode, args.steps)}
    for name, one in reports.items():
        if args.all:
            print(f"-- {name}")
        for key, value in one.items():
            if key != "config":
                print(f"{key:<26} {_bench_number(value)}")
    report = reports if args.all else next(iter(reports.values()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


class UsageError(Exception):
    """Bad usage of the command line: main says it in one line and returns 2."""


class OneLineParser(argparse.ArgumentParser):
    """Bad usage ends in one line, like every other bad input here (not the usage text plus the error);
    the subcommands' parsers are of the same class. --help still prints and exits."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(prog="python -m core", description="Robust Feature Lab engine")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the presets with their descriptions").set_defaults(func=cmd_presets)

    def with_config(p, default_preset):
        p.add_argument("--preset", default=default_preset, help=f"one of {', '.join(PRESETS)}")
        p.add_argument("--set", action="append", metavar="FIELD=VALUE",
                       help="override a config field (repeatable); the fields are listed below")
        p.formatter_class, p.epilog = argparse.RawDescriptionHelpFormatter, "\n".join(
            ["fields (defaults are the plain Config's; the preset sets its own):", *knob_lines(Config)])
        p.add_argument("--device", choices=("auto", "cpu", "cuda"))

    p = sub.add_parser("run", help="train standard and/or adversarial runs")
    with_config(p, "classroom")
    p.add_argument("--mode", choices=("std", "adv", "both"), default="both")
    p.add_argument("--json", metavar="PATH", help="write config, final metrics and history as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--store", metavar="PATH", help="also record both runs, metrics and snapshots in this run store")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("checks", help="print the paper's Assumption 2.3 checks for a setup")
    with_config(p, "classroom")
    p.set_defaults(func=cmd_checks)

    p = sub.add_parser("bench", help="time training steps against the paper's plain autograd step (paper.py)")
    with_config(p, "figure3")
    p.add_argument("--mode", choices=MODES, default="adv")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--all", action="store_true",
                   help="standard, one-step and PGD-3 adversarial steps, JSON keyed by them")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_bench)
    add_runs_parser(sub)
    add_sweep_parser(sub)
    add_real_parser(sub)
    add_lesson_parser(sub)
    return top


def main(argv=None) -> int:
    from ..runs.schema import StoreError

    try:
        args = parser().parse_args(argv)
        return args.func(args)
    except (UsageError, ConfigError, StoreError) as err:  # bad input or usage, or not our store: one line
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


__all__ = ["main", "METRICS"]
