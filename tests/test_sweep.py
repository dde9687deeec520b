"""Sweeps: grid parsing, loky and Dask agree, cancellation kills workers, store and command line."""

import argparse
import time

import psutil
import pytest

from core.cli.sweep import add_sweep_parser
from core.engine.config import ConfigError
from core.engine.metrics import METRICS
from core.engine.presets import get_preset
from core.runs.store import RunStore
from core.runs.sweep import run_sweep, sweep_csv
from core.runs.sweep_spec import SweepSpec, estimate_seconds, parse_grid, sweep_points

BASE = get_preset("classroom").config(steps=20, n_train=30, n_test=30, eval_every=10, threads=1, device="cpu")


def small_spec(**changes):
    return SweepSpec(BASE.replace(**changes), (parse_grid("eps=0.1,0.3"),), 1, "both")


# ---- grids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, field, values", [
    ("eps=0.1,0.3", "eps", [0.1, 0.3]),
    ("beta = 0.1:0.5:5", "beta", [0.1, 0.2, 0.3, 0.4, 0.5]),
    ("s=1:9:5", "s", [1, 3, 5, 7, 9]),
    ("P=20,40.0", "P", [20, 40]),
    ("eps=0.2:0.2:1", "eps", [0.2]),
    ("threat_model=l2,linf", "threat_model", ["l2", "linf"]),
])
def test_parse_grid_values(text, field, values):
    name, parsed = parse_grid(text, BASE)
    assert name == field and parsed == values
    assert all(type(v) is type(values[0]) for v in parsed)  # ints stay ints


@pytest.mark.parametrize("text, field", [
    ("nope=1,2", "nope"), ("s=1.5,2", "s"), ("s=1:4:3", "s"), ("eps=-1,0.2", "eps"), ("eps=", "eps"),
    ("eps=0.1:0.2", "eps"), ("eps=0.1,0.1", "eps"), ("s=1,60", "s"), ("threat_model=l3", "threat_model"),
    ("seed=1,2", "seed"), ("eps", "eps"), ("eps=0.1:0.3:x", "eps (N)"),
])
def test_parse_grid_errors_name_the_field(text, field):
    with pytest.raises(ConfigError) as err:
        parse_grid(text, BASE)
    assert err.value.field == field and "\n" not in str(err.value)


def test_spec_checks_whole_points_and_lists_runs():
    with pytest.raises(ConfigError, match="^s:"):  # s=30 fits P=50 but not P=20
        SweepSpec(BASE, (("s", (1, 30)), ("P", (20, 50))))
    with pytest.raises(ConfigError):
        SweepSpec(BASE, (("s", (1,)), ("P", (50,)), ("d", (40,))))
    spec = SweepSpec(BASE, (("s", (1, 2)), ("beta", (0.2, 0.3, 0.4))), seeds=2, modes="adv")
    runs = sweep_points(spec)
    assert len(runs) == len(spec) == 2 * 3 * 2
    point, seed, mode, cfg = runs[-1]
    assert point == {"s": 2, "beta": 0.4} and seed == 1 and mode == "adv"
    assert (cfg.s, cfg.beta, cfg.seed) == (2, 0.4, 1)
    # on 2 workers (on 16, both grids would run at once and take their longest run's time)
    assert 0 < estimate_seconds(small_spec(), jobs=2) < estimate_seconds(spec, jobs=2)


# ---- execution -------------------------------------------------------------------------------


def test_loky_and_dask_give_identical_csvs():
    from distributed import LocalCluster

    rows = []
    loky = run_sweep(small_spec(), jobs=2, callback=rows.append)
    assert len(rows) == 4 and {r["mode"] for r in rows} == {"std", "adv"}  # streamed as they finished
    assert list(loky.columns) == ["eps", "seed", "mode", *METRICS, "phase_transition_step", "status"]
    assert (loky["status"] == "finished").all() and loky["acc_clean"].between(0, 1).all()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask = run_sweep(small_spec(), backend="dask", scheduler=cluster.scheduler_address, jobs=2)
    assert sweep_csv(loky) == sweep_csv(dask)


def _loky_workers():
    workers = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any("popen_loky" in part for part in p.cmdline()):
                workers.append(p)
        except psutil.Error:  # exited while we looked
            pass
    return workers


def test_a_cancelled_sweep_stops_its_workers():
    spec = SweepSpec(BASE.replace(steps=100_000, eval_every=50_000), (parse_grid("eps=0.1:0.4:4"),), 1, "both")
    from joblib.externals.loky import get_reusable_executor

    # Idle workers of an earlier test's sweep would be counted as this sweep's: start from none.
    get_reusable_executor(max_workers=1).shutdown(wait=True, kill_workers=True)
    seen = {}

    def should_stop():
        workers = _loky_workers()
        seen.setdefault("first", time.monotonic()) if workers else None
        if workers and time.monotonic() - seen["first"] > 1.0:  # workers up and training
            seen.setdefault("pids", [p.pid for p in workers])
            seen.setdefault("stopped", time.monotonic())
            return True
        return False

    frame = run_sweep(spec, jobs=2, should_stop=should_stop)
    # Stopped inside the points, not after them (100k steps each would take minutes): no run finished.
    assert "stopped" in seen and set(frame["status"]) <= {"cancelled"}
    psutil.wait_procs([psutil.Process(p) for p in seen["pids"] if psutil.pid_exists(p)], timeout=5)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in seen["pids"])


def test_runs_are_recorded_in_the_store(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    frame = run_sweep(small_spec(), jobs=1, store=store, preset="classroom")
    assert frame["run_id"].notna().all()
    for row in frame.itertuples():
        run = store.get_run(row.run_id)
        assert run["status"] == "finished" and run["mode"] == row.mode and run["config"]["eps"] == row.eps
        metrics = store.metrics_frame(row.run_id)
        assert len(metrics) == 3  # steps 0, 10, 20
    pairs = {store.get_run(r)["pair_id"] for r in frame["run_id"]}
    assert len(pairs) == 2  # std and adv of a point are twins


# ---- command line ----------------------------------------------------------------------------


def cli(argv):
    top = argparse.ArgumentParser()
    add_sweep_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    return args.func(args)


def test_cli_writes_one_csv_row_per_run(tmp_path, capsys):
    path = tmp_path / "sweep.csv"
    sets = ["--set", "steps=20", "--set", "n_train=30", "--set", "n_test=30", "--set", "threads=1"]
    code = cli(["sweep", "--grid", "eps=0.1,0.3", "--mode", "adv", "--seeds", "2", "--jobs", "2", "--quiet",
                *sets, "--csv", str(path)])
    assert code == 0
    lines = path.read_text().splitlines()
    assert lines[0].startswith("eps,seed,mode,corr_robust") and len(lines) == 1 + 2 * 2
    assert "acc_pgd" in capsys.readouterr().out


def test_cli_sweeps_a_choice_field(tmp_path):
    """A grid over a field of choices (the training attack) runs to the end: its progress line names the
    point as text."""
    path = tmp_path / "sweep.csv"
    sets = ["--set", "steps=10", "--set", "n_train=20", "--set", "n_test=20", "--set", "threads=1"]
    assert cli(["sweep", "--grid", "train_attack=one_step,pgd", "--mode", "adv", "--jobs", "1", *sets,
                "--csv", str(path)]) == 0
    assert sorted(line.split(",")[0] for line in path.read_text().splitlines()[1:]) == ["one_step", "pgd"]


@pytest.mark.parametrize("argv, field", [
    (["--grid", "epsilon=0.1,0.2"], "epsilon"), (["--grid", "s=1,99"], "s"), (["--grid", "eps=0.1", "--jobs", "0"],
                                                                                "jobs"),
    (["--grid", "eps=0.1", "--preset", "nope"], "preset"), (["--grid", "eps=0.1", "--set", "k=1"], "k"),
])
def test_cli_config_errors_exit_2_with_one_line(argv, field, capsys):
    assert cli(["sweep", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {field}:") and "\n" not in err


# ---- phase-diagram figures -------------------------------------------------------------------


def test_phase_figures_draw_heatmaps_with_the_theory_curves():
    import pandas as pd

    from core.figures.phase import phase_figures, phase_table

    rows = [{"s": s, "beta": b, "seed": seed, "mode": mode, **{m: 0.5 for m in METRICS}, "status": "finished",
             "corr_robust": 0.9 if b < 0.3 else 0.2}
            for s in (1, 2, 4) for b in (0.2, 0.4) for seed in (0, 1) for mode in ("std", "adv")]
    frame = pd.DataFrame(rows)
    xs, ys, Z = phase_table(frame, "s", "beta", "corr_gap", "std")
    assert xs == [1, 2, 4] and ys == [0.2, 0.4] and Z.shape == (2, 3) and Z[0, 0] == pytest.approx(0.4)
    figures = phase_figures(frame, BASE, ("s", "beta"))
    quantities = ("corr_gap", "acc_pgd", "acc_swap", "acc_clean")
    assert set(figures) == {f"{q}_{m}" for q in quantities for m in ("std", "adv")}
    names = [t.name for t in figures["corr_gap_adv"].data]
    assert figures["corr_gap_adv"].data[0].type == "heatmap"
    assert any("S_NR/S_R = 1" in n for n in names[1:]) and any("heuristic" in n for n in names[1:])
    assert any("sqrt(2) beta" in n for n in names[1:])
    assert not any("heuristic" in (t.name or "") for t in figures["corr_gap_std"].data)
    line = phase_figures(frame[frame["s"] == 1], BASE, ("beta",))
    assert {t.name for t in line["acc_pgd"].data} == {"std", "adv"}


def test_the_theory_curves_are_computed_once_per_plane_not_per_panel_or_redraw(monkeypatch):
    """The Sweep page redraws every panel while a sweep runs: the curves depend on the base config, the
    fields and their ranges only, so a redraw with more runs computes none of them again."""
    import pandas as pd

    from core.figures import phase

    evaluated = []
    real = phase.density_ratio
    monkeypatch.setattr(phase, "density_ratio", lambda c, eps: evaluated.append(1) or real(c, eps))
    phase._theory_lines.cache_clear()
    rows = [{"s": s, "beta": b, "seed": seed, "mode": mode, **{m: 0.5 for m in METRICS}, "status": "finished"}
            for seed in (0, 1) for s in (1, 2, 4) for b in (0.2, 0.4) for mode in ("std", "adv")]
    first = phase.phase_figures(pd.DataFrame(rows[:12]), BASE, ("s", "beta"))  # seed 0: the whole plane
    assert len(evaluated) == 3 * 31 * 31  # std: one density plane; adv: two (the swap plane needs none)
    again = phase.phase_figures(pd.DataFrame(rows), BASE, ("s", "beta"))
    assert len(evaluated) == 3 * 31 * 31
    for before, after in zip(first["corr_gap_adv"].data[1:], again["corr_gap_adv"].data[1:], strict=True):
        assert before.name == after.name and (before.z == after.z).all()
