"""The run store from the command line: run --store, then runs list/show/export/delete."""

import json
import shutil

import pandas as pd
import pytest

from core.cli.main import main
from core.engine.metrics import METRICS

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # restored after the module


@pytest.fixture(scope="module")
def stored_template(tmp_path_factory):
    """One recorded twin pair (training is the slow part), never handed to a test itself: see ``stored``."""
    path = tmp_path_factory.mktemp("cli") / "runs.sqlite"
    code = main(["run", "--preset", "classroom", "--set", "steps=40", "--set", "eval_every=10", "--set", "n_train=40",
                 "--set", "threads=1",
                 "--device", "cpu", "--quiet", "--store", str(path)])
    assert code == 0
    return path


@pytest.fixture
def stored(stored_template, tmp_path):
    """Each test's own copy of the template's store (and anything beside it), so a delete stays in its test."""
    folder = shutil.copytree(stored_template.parent, tmp_path / "store")
    return folder / stored_template.name


def runs_json(path, capsys):
    capsys.readouterr()
    assert main(["runs", "list", "--store", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_store_then_list_shows_both_finished_runs(stored, capsys):
    runs = runs_json(stored, capsys)
    assert sorted(r["mode"] for r in runs) == ["adv", "std"]
    assert all(r["status"] == "finished" and r["step"] == 40 and r["steps"] == 40 for r in runs)
    assert runs[0]["pair_id"] == runs[1]["pair_id"] and runs[0]["preset"] == "classroom"
    assert set(METRICS) <= set(runs[0]["final"])
    assert main(["runs", "list", "--store", str(stored)]) == 0
    table = capsys.readouterr().out
    assert all(r["id"] in table for r in runs) and "finished" in table


def test_export_csv_and_json_and_show(stored, tmp_path, capsys):
    run = runs_json(stored, capsys)[0]
    csv = tmp_path / "run.csv"
    assert main(["runs", "export", run["id"], "--store", str(stored), "--csv", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["step", *METRICS]
    assert frame["step"].tolist() == list(range(0, 41, 10))
    out = tmp_path / "run.json"
    assert main(["runs", "export", run["id"][:6], "--store", str(stored), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["id"] == run["id"] and data["config"]["steps"] == 40
    assert [row["step"] for row in data["history"]] == [0, 10, 20, 30, 40]
    capsys.readouterr()
    assert main(["runs", "show", run["id"], "--store", str(stored)]) == 0
    shown = capsys.readouterr().out
    assert run["id"] in shown and "corr_robust" in shown and "snapshots" in shown


def test_unknown_id_exits_2_with_one_line(stored, tmp_path, capsys):
    for argv in (["runs", "show", "nosuchrun"], ["runs", "delete", "nosuchrun"],
                 ["runs", "export", "nosuchrun", "--csv", str(tmp_path / "x.csv")]):
        capsys.readouterr()
        assert main([*argv, "--store", str(stored)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: no run with id 'nosuchrun'") and "\n" not in err
    assert main(["runs", "show", "abc", "--store", str(tmp_path / "missing.sqlite")]) == 2
    assert not (tmp_path / "missing.sqlite").exists()  # reading never creates a store


@pytest.mark.parametrize("victim", [0, 1])  # twice, and either order: each test owns its store
def test_delete_removes_the_run(stored, capsys, victim):
    runs = runs_json(stored, capsys)
    assert len(runs) == 2
    assert main(["runs", "delete", runs[victim]["id"], "--store", str(stored)]) == 0
    assert [r["id"] for r in runs_json(stored, capsys)] == [runs[1 - victim]["id"]]


def test_a_test_after_the_deletes_still_sees_both_runs(stored, capsys):
    assert len(runs_json(stored, capsys)) == 2


# ---- refusing cleanly: one line, exit 2, nothing lost ------------------------------------------------
def test_an_export_to_an_unwritable_place_is_refused_in_one_line(stored, tmp_path, capsys):
    from _disks import read_only  # tests/ is on the path

    before = runs_json(stored, capsys)
    run = before[0]
    (tmp_path / "locked.csv").write_text("keep me\n")
    for target in (tmp_path / "no" / "such" / "folder" / "run.csv", tmp_path, tmp_path / "locked.csv"):
        with read_only(tmp_path / "locked.csv"):
            capsys.readouterr()
            assert main(["runs", "export", run["id"], "--store", str(stored), "--csv", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: cannot write {target}") and "\n" not in err and "Traceback" not in err
    assert (tmp_path / "locked.csv").read_text() == "keep me\n" and runs_json(stored, capsys) == before


def test_runs_list_on_a_store_that_is_not_there_says_so(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "runs.sqlite"
    assert main(["runs", "list", "--store", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: there is no run store at {missing} (--store PATH or $RFL_STORE names one)"
    assert not missing.exists() and not missing.parent.exists()  # nothing created


def test_a_sweep_whose_output_cannot_be_written_is_refused_before_training(tmp_path, capsys, monkeypatch):
    import core.runs.sweep

    trained = []
    monkeypatch.setattr(core.runs.sweep, "run_sweep", lambda *a, **k: trained.append(a))
    (tmp_path / "file").write_text("not a folder")
    for extra in (["--csv", str(tmp_path / "missing" / "out.csv")], ["--csv", str(tmp_path)],
                  ["--store", str(tmp_path / "file" / "runs.sqlite")]):
        capsys.readouterr()
        assert main(["sweep", "--grid", "eps=0.1,0.2", "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and "Traceback" not in err[0], err
    assert trained == []
