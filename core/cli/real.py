"""Command line for the real-image experiment: ``real --dataset digits --quick``.

``add_real_parser(subparsers)`` plugs the subcommand into the project's parser; ``main``
runs it standalone (``python -m core.real``). Progress goes to stderr through tqdm,
the summary table to stdout; bad input exits with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from ..engine.config import ConfigError
from ..real.real_config import DATASETS, DEVICES, RealConfig

RUN_ROWS = ("acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust")


def add_real_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("real", help="real-image feature learning and feature attacks (the paper's Section 6.2)")
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="digits is built in; the others are read from --data-dir")
    p.add_argument("--data-dir", default="", metavar="DIR", help="folder with the dataset's files")
    p.add_argument("--download", action="store_true", help="fetch missing dataset files from the standard URLs")
    p.add_argument("--quick", action="store_true", help="the quick preset: minutes on a laptop CPU")
    p.add_argument("--json", metavar="PATH", help="write config, runs and attacks as JSON")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a config field (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_real)
    return p


def parse_overrides(pairs: list[str]) -> dict:
    """FIELD=VALUE strings typed by the field's declared type; never evaluated."""
    kinds = {f.name: str(f.type) for f in fields(RealConfig)}
    out = {}
    for pair in pairs:
        name, sep, raw = (part.strip() for part in pair.partition("="))
        if not sep:
            raise ConfigError(pair, "expected FIELD=VALUE")
        if name not in kinds:
            raise ConfigError(name, f"unknown field; known fields are {', '.join(sorted(kinds))}")
        try:
            if kinds[name] == "int":
                out[name] = int(float(raw)) if float(raw).is_integer() else raw
            elif kinds[name] == "float":
                out[name] = float(raw)
            elif kinds[name] == "bool":
                out[name] = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower(), raw)
            else:
                out[name] = raw
        except ValueError:
            raise ConfigError(name, f"expected a number, got {raw!r}") from None
    return out


def build_config(args) -> RealConfig:
    overrides = parse_overrides(args.set or [])
    for name in ("dataset", "quick"):  # they pick the preset, so they have their own options
        if name in overrides:
            raise ConfigError(name, f"choose it with --{name}, not --set {name}=...")
    base = dict(data_dir=args.data_dir, download=args.download, device=args.device, seed=args.seed)
    return RealConfig.for_dataset(args.dataset, quick=args.quick, **{**base, **overrides})


def summary_table(result) -> str:
    lines = [f"{'metric':<22}{'std':>10}{'adv':>10}"]
    for name in RUN_ROWS:
        values = [result.runs.get(m, {}).get(name, float("nan")) for m in ("std", "adv")]
        lines.append(f"{name:<22}" + "".join(f"{v:>10.3f}" for v in values))
    for name in ("nrf_pgd", "rf_pgd"):
        rates = result.attacks.get(name, {})
        values = [rates.get(m, float("nan")) for m in ("std", "adv")]
        lines.append(f"{name + ' success':<22}" + "".join(f"{v:>10.3f}" for v in values))
    lines.append(f"status: {result.status}" + (f" ({result.reason})" if result.reason else ""))
    return "\n".join(lines)


def cmd_real(args) -> int:
    import torch
    from tqdm import tqdm

    from ..engine.resources import resolve_device
    from ..real.pipeline import run_real
    from .threads import ThreadsFollowLoad

    bar = None
    try:
        cfg = build_config(args)
        # as `core run`: on the CPU, unless pinned, the cores other processes keep busy are left to them
        follow = (ThreadsFollowLoad(apply=torch.set_num_threads)
                  if not cfg.threads and resolve_device(cfg.device).type == "cpu" else None)
        bar = tqdm(total=100, unit="%", file=sys.stderr, disable=args.quiet,
                   bar_format="{desc:<18}{percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

        def on_progress(event):
            if follow is not None:
                follow(event)
            bar.set_description_str(event.stage)
            bar.update(max(0, round(100 * event.fraction) - bar.n))
            row = event.metrics or {}
            if "feat_acc_robust" in row:
                bar.set_postfix(epoch=row["epoch"], clean=f"{row['acc_clean']:.2f}", pgd=f"{row['acc_pgd']:.2f}",
                                feat_nr=f"{row['feat_acc_nonrobust']:.2f}", feat_r=f"{row['feat_acc_robust']:.2f}")

        result = run_real(cfg, callback=on_progress)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(summary_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if result.status == "finished" else 1


def main(argv=None) -> int:
    top = argparse.ArgumentParser(prog="python -m core.real", description="Robust Feature Lab: real images")
    sub = top.add_subparsers(dest="command", required=True)
    add_real_parser(sub)
    args = top.parse_args(["real", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)
