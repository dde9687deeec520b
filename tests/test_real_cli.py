"""The `real` subcommand: JSON contract on a micro digits run, exit code 2 on bad input."""

import argparse
import json

import pytest

from core.cli.real import add_real_parser, main

MICRO = ["--set", "n_train=96", "--set", "n_test=40", "--set", "epochs=1", "--set", "width=4",
         "--set", "batch_size=32", "--set", "pgd_steps=1", "--set", "eval_pgd_steps=1",
         "--set", "inversion_steps=2", "--set", "attack_steps=1", "--set", "n_rep=20", "--set", "n_attack=20"]


def test_add_real_parser_plugs_into_a_parser():
    top = argparse.ArgumentParser()
    sub = top.add_subparsers(dest="command")
    add_real_parser(sub)
    args = top.parse_args(["real", "--dataset", "mnist", "--data-dir", "/x", "--quick", "--seed", "2"])
    assert (args.dataset, args.data_dir, args.quick, args.seed, args.device) == ("mnist", "/x", True, 2, "auto")
    assert callable(args.func)


def test_json_contract_on_micro_digits(tmp_path, capsys):
    path = tmp_path / "real.json"
    assert main(["--quick", "--device", "cpu", "--seed", "1", "--quiet", "--json", str(path), *MICRO]) == 0
    table = capsys.readouterr().out
    assert "feat_acc_nonrobust" in table and "nrf_pgd success" in table
    data = json.loads(path.read_text())
    assert data["config"]["dataset"] == "digits" and data["config"]["quick"] is True and data["config"]["seed"] == 1
    assert data["config"]["n_train"] == 96
    for mode in ("std", "adv"):
        run = data["runs"][mode]
        assert {"acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust", "history"} <= set(run)
        assert [row["epoch"] for row in run["history"]] == [0, 1]
    for name in ("nrf_pgd", "rf_pgd"):
        assert 0 <= data["attacks"][name]["std"] <= 1 and 0 <= data["attacks"][name]["adv"] <= 1


@pytest.mark.parametrize("argv,message", [
    (["--set", "eps=-1"], "eps"),
    (["--set", "epoch=3"], "unknown field"),
    (["--set", "lr=fast"], "lr"),
    (["--set", "dataset=mnist"], "--dataset"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
