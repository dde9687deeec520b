"""``sweep`` subcommand: a grid of one or two knobs x seeds x modes, as a CSV.

    python -m core sweep --preset classroom --grid s=1,2,4 --grid beta=0.2:0.6:5 --seeds 2 --csv out.csv

``add_sweep_parser(subparsers)`` plugs it into the main command line; ``main(argv)`` runs it
alone (``python -m core.cli.sweep sweep ...``). A bad field or value exits with code 2 and
one line naming it, before any work starts; so does a --csv or --store that cannot be written (checked
before training); a Dask scheduler that cannot be reached (or whose workers cannot run the sweep) also
exits with code 2 and one line, within seconds. A cluster that
fails mid-sweep, or Ctrl-C, ends the sweep with one line saying what finished; the finished rows
are still written to the CSV and the store (exit code 1, or 130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager

from ..engine.config import ConfigError
from ..engine.presets import PRESETS, get_preset

SUMMARY = ("corr_robust", "corr_nonrobust", "acc_clean", "acc_pgd", "acc_swap")


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("sweep", help="sweep one or two knobs over seeds and modes (phase-diagram data)")
    p.add_argument("--preset", default="classroom", help=f"base setup, one of {', '.join(PRESETS)}")
    p.add_argument("--grid", action="append", required=True, metavar="FIELD=V1,V2,...|FIELD=A:B:N",
                   help="a swept field: listed values, or N evenly spaced points from A to B (once or twice)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per point, from the base seed on")
    p.add_argument("--mode", choices=("std", "adv", "both"), default="both")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a base config field (repeatable)")
    p.add_argument("--backend", choices=("loky", "dask"), default="loky")
    p.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies "
                   "--backend dask; the code is shipped to it, see docs/cluster.md); without it, a local cluster")
    p.add_argument("--jobs", type=int, help="parallel workers (default: one per core)")
    p.add_argument("--csv", metavar="PATH", help="write one row per (point, seed, mode)")
    p.add_argument("--store", metavar="PATH", help="also record every run in this run store (SQLite)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
    return p


def cmd_sweep(args) -> int:
    from ..runs.cluster import ClusterError
    from ..runs.schema import StoreError
    from .runs import UnknownRun

    try:
        return _sweep(args)
    except (ConfigError, StoreError, UnknownRun) as err:  # also caught by core.cli.main.main; here too so the
        print(f"error: {err}", file=sys.stderr)  # command stands alone
        return 2
    except ClusterError as err:  # one line: the cause and what finished; finished rows are kept
        kept = ""
        if args.csv and err.frame is not None and len(err.frame):
            from ..runs.sweep import sweep_csv

            sweep_csv(err.frame, args.csv)
            kept = f" (kept in {args.csv})"
        print(f"error: {err}{kept}", file=sys.stderr)
        return 1 if err.started else 2


@contextmanager
def _ctrl_c_stops(stop: threading.Event):
    """The first Ctrl-C asks the sweep to stop (it keeps what finished); a second one interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _sweep(args) -> int:
    from tqdm import tqdm

    from ..engine.measure.estimate import format_seconds
    from ..runs.sweep import run_sweep, sweep_csv
    from ..runs.sweep_spec import SweepSpec, estimate_seconds

    base = get_preset(args.preset).config().with_overrides(list(args.set or []))
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("jobs", f"need at least one worker, got {args.jobs}")
    spec = SweepSpec.from_strings(base, args.grid, args.seeds, args.mode)
    _check_outputs(args)
    backend = "dask" if args.scheduler else args.backend
    seconds = estimate_seconds(spec, jobs=args.jobs)
    print(f"{len(spec)} runs ({' x '.join(f'{n}:{len(v)}' for n, v in spec.grid)}, {len(spec.seeds)} seed(s), "
          f"{'+'.join(spec.modes)}); about {format_seconds(seconds)} on this machine", file=sys.stderr)
    bar = tqdm(total=len(spec), unit="run", file=sys.stderr, disable=args.quiet)

    def on_row(row):
        bar.update(1)
        point = " ".join(f"{n}={_shown(row[n])}" for n in spec.fields)  # a grid may sweep a choice (train_attack)
        bar.set_postfix(last=f"{row['mode']} {point}", refresh=False)

    stop = threading.Event()
    try:
        with _ctrl_c_stops(stop):
            frame = run_sweep(spec, backend=backend, scheduler=args.scheduler, jobs=args.jobs, callback=on_row,
                              should_stop=stop.is_set, store=args.store, preset=args.preset)
    finally:
        bar.close()
    if len(frame):
        print(frame.groupby([*spec.fields, "mode"], sort=True)[list(SUMMARY)].mean().round(3).to_string())
    if args.csv:
        sweep_csv(frame, args.csv)
        print(f"wrote {args.csv}", file=sys.stderr)
    if stop.is_set():
        done = int((frame["status"] == "finished").sum())
        print(f"cancelled (Ctrl-C): {done} of {len(spec)} runs finished", file=sys.stderr)
        return 130
    return 0 if len(frame) == len(spec) and (frame["status"] == "finished").all() else 1


def _check_outputs(args) -> None:
    """The CSV and the store can be written, before any training (UnknownRun or StoreError: one line)."""
    from ..runs.schema import StoreError
    from ..runs.store import RunStore
    from .runs import writable

    if args.csv:
        writable(args.csv)
    if args.store:
        try:
            store = RunStore(args.store)
            store.check()
            store.close()
        except OSError as err:  # its folder cannot be made
            raise StoreError(args.store, f"cannot be created ({err.strerror or err})",
                             "choose a writable path") from None


def main(argv=None) -> int:
    top = argparse.ArgumentParser(prog="python -m core.cli.sweep")
    add_sweep_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)
