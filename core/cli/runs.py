"""Command line for the run store: ``python -m core runs {list,show,export,delete}``, and the
recording behind ``python -m core run --store PATH``.

An unknown run id, a store path where there is no store, or an export to a place that cannot be
written exits with code 2 and a one-line message, like a bad config field; the store is left as it was.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..runs.store import ACTIVE, RunStore, default_path, new_id, owner_alive

LIST_METRICS = ("corr_robust", "corr_nonrobust", "acc_clean", "acc_pgd")
_FIELDS = ("id", "pair_id", "status", "mode", "preset", "created", "started", "finished", "step", "steps", "seed",
           "device", "client_id", "code_version", "config_key", "error")


class UnknownRun(LookupError):
    pass


def run_twins_recorded(store_path, cfg, modes, *, preset=None, callback=None):
    """run_twins, with both runs recorded as one pair in the store; returns (results, run ids by mode)."""
    from ..engine.resources import resolve_device
    from ..engine.train import run_twins
    from ..runs.recorder import RunRecorder

    store = RunStore(store_path)
    pair_id = new_id()
    ids = {mode: store.create_run(cfg, mode, pair_id=pair_id, preset=preset, client_id="cli") for mode in modes}
    recorders = {mode: RunRecorder(store, ids[mode]) for mode in modes}
    device = str(resolve_device(cfg.device))

    def on_progress(event):
        recorder = recorders[event.mode]
        if recorder.step is None:  # the twins run one after the other: each starts at its first step
            store.start_run(ids[event.mode], device)
        recorder(event)
        if callback is not None:
            callback(event)

    try:
        results = run_twins(cfg, modes, callback=on_progress)
    except BaseException as err:
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        for mode in modes:
            recorders[mode].flush()
            store.finish_run(ids[mode], status, f"{status}: {type(err).__name__}: {err}".splitlines()[0],
                             only_if_active=True)
        raise
    for mode, result in results.items():
        recorders[mode].flush()
        store.finish_run(ids[mode], result.status, result.reason)
    return results, ids


def add_runs_parser(sub) -> None:
    runs = sub.add_parser("runs", help="list, show, export or delete runs kept in the run store")
    actions = runs.add_subparsers(dest="action", required=True)

    def action(name, help_text, func):
        p = actions.add_parser(name, help=help_text)
        p.add_argument("--store", metavar="PATH", help=f"the run store (default: $RFL_STORE or {default_path()})")
        p.set_defaults(func=lambda args: _guarded(func, args))
        return p

    p = action("list", "the runs, newest first, with their final metrics", cmd_list)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--limit", type=int, help="at most this many runs")
    p.add_argument("--status", help="only runs with this status")
    p = action("show", "one run: its fields, config and final metrics", cmd_show)
    p.add_argument("id", help="run id (a unique prefix is enough)")
    p.add_argument("--json", action="store_true")
    p = action("export", "one row per logged step: step and the logged metrics", cmd_export)
    p.add_argument("id", help="run id (a unique prefix is enough)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--csv", metavar="PATH")
    where.add_argument("--json", metavar="PATH", help="run fields, config and the rows as 'history'")
    p = action("delete", "remove a run with its metrics and snapshots", cmd_delete)
    p.add_argument("id", help="run id (a unique prefix is enough)")
    p.add_argument("--force", action="store_true", help="delete even if the run still looks active")


def _guarded(func, args) -> int:
    try:
        return func(args)
    except UnknownRun as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _store(args) -> RunStore:
    path = Path(args.store) if args.store else default_path()
    if not path.is_file():  # reading must not create an empty store as a side effect
        what = f"no run with id {args.id!r}: " if getattr(args, "id", None) else ""
        raise UnknownRun(f"{what}there is no run store at {path} (--store PATH or $RFL_STORE names one)")
    return RunStore(path)


def writable(path) -> Path:
    """``path`` as a file this process can write, checked before any work (a sweep's CSV is checked before
    training); UnknownRun's one line otherwise. Nothing is left behind by the check."""
    path = Path(path)
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as err:
        raise UnknownRun(f"cannot write {path}: {err.strerror or err}") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def resolve(store: RunStore, run_id: str) -> str:
    """A full id, or a prefix that names exactly one run."""
    if store.run_status(run_id) is not None:
        return run_id
    matches = store.ids_with_prefix(run_id)
    if len(matches) == 1:
        return matches[0]
    detail = f"{len(matches)} runs start with it" if matches else "see `python -m core runs list`"
    raise UnknownRun(f"no run with id {run_id!r} in {store.path} ({detail})")


def summary(run: dict) -> dict:
    return {**{key: run.get(key) for key in _FIELDS}, "final": run["final"]}


def _when(stamp) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def cmd_list(args) -> int:
    store = _store(args)
    runs = store.list_runs(limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps([summary(r) for r in runs], indent=1))
        return 0
    if not runs:
        print("no runs stored")
        return 0
    header = f"{'id':<13}{'pair':<13}{'status':<12}{'mode':<5}{'preset':<15}{'created':<20}{'step':>11}"
    print(header + "".join(f"{name:>16}" for name in LIST_METRICS))
    for r in runs:
        step = f"{r['step'] if r['step'] is not None else '-'}/{r['steps']}"
        line = (f"{r['id']:<13}{(r['pair_id'] or '-'):<13}{r['status']:<12}{r['mode']:<5}{(r['preset'] or '-'):<15}"
                f"{_when(r['created']):<20}{step:>11}")
        print(line + "".join(f"{r['final'].get(name, float('nan')):>16.3f}" for name in LIST_METRICS))
    return 0


def cmd_show(args) -> int:
    store = _store(args)
    run = store.get_run(resolve(store, args.id))
    run["snapshot_steps"] = store.snapshot_steps(run["id"])
    if args.json:
        print(json.dumps(run, indent=1))
        return 0
    for key in _FIELDS:
        value = _when(run[key]) if key in ("created", "started", "finished") else run[key]
        print(f"{key:<14} {value if value is not None else '-'}")
    print(f"{'snapshots':<14} {len(run['snapshot_steps'])}")
    print("config:")
    for key, value in run["config"].items():
        print(f"  {key:<20} {value}")
    print("final metrics:")
    for key, value in run["final"].items():
        print(f"  {key:<22} {value:.4f}")
    return 0


def cmd_export(args) -> int:
    store = _store(args)
    run = store.get_run(resolve(store, args.id))
    target = writable(args.csv or args.json)
    frame = store.metrics_frame(run["id"])
    if args.csv:
        text = frame.to_csv(index=False)
    else:
        history = json.loads(frame.to_json(orient="records"))  # NaN becomes null, valid JSON
        text = json.dumps({**summary(run), "config": run["config"], "history": history}, indent=1)
    try:
        target.write_text(text)
    except OSError as err:  # the disk filled up meanwhile: the store is untouched either way
        raise UnknownRun(f"cannot write {target}: {err.strerror or err}") from None
    print(f"wrote {len(frame)} rows of run {run['id']} to {target}", file=sys.stderr)
    return 0


def cmd_delete(args) -> int:
    store = _store(args)
    run = store.get_run(resolve(store, args.id))
    if run["status"] in ACTIVE and owner_alive(run["owner"]) and not args.force:
        print(f"error: run {run['id']} is still {run['status']}; stop it first, or pass --force", file=sys.stderr)
        return 2
    store.delete_run(run["id"])
    print(f"deleted run {run['id']}")
    return 0
