"""The command line's JSON contract and the presets listing."""

import json

from core.cli.main import main
from core.engine.metrics import METRICS

SPEC_METRICS = {
    "corr_robust", "corr_nonrobust", "lambda_robust", "gamma_nonrobust", "acc_clean", "acc_pgd", "acc_swap",
    "acc_robust_feature", "acc_nonrobust_feature", "loss", "acc_train",
}


def test_presets_lists_names_with_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("classroom", "figure3", "paper-scale", "dense-loses", "eps-too-small"):
        assert name in out


def test_run_json_contract(tmp_path, capsys):
    path = tmp_path / "out.json"
    code = main(["run", "--preset", "classroom", "--set", "steps=20", "--set", "eval_every=10",
                 "--device", "cpu", "--quiet", "--json", str(path)])
    assert code == 0
    table = capsys.readouterr().out
    assert "corr_robust" in table and "adv" in table
    data = json.loads(path.read_text())
    assert data["config"]["steps"] == 20 and data["config"]["k"] == 5
    assert set(data["runs"]) == {"std", "adv"}
    for run in data["runs"].values():
        assert SPEC_METRICS <= set(run["final"]) <= set(METRICS)
        assert run["phase_transition_step"] is None or isinstance(run["phase_transition_step"], int)
        assert [row["step"] for row in run["history"]] == [0, 10, 20]
        assert SPEC_METRICS | {"step"} <= set(run["history"][0])


def test_single_mode_run(tmp_path):
    path = tmp_path / "std.json"
    assert main(["run", "--mode", "std", "--set", "steps=5", "--quiet", "--json", str(path)]) == 0
    assert set(json.loads(path.read_text())["runs"]) == {"std"}


def test_bench_prints_the_machine_on_one_line():
    from core.cli.main import _bench_number

    cpu = {"model": "AMD EPYC", "capability": "AVX512", "last_level_cache_bytes": 32 * 2**20, "cores": 2}
    assert _bench_number(cpu) == "AMD EPYC · AVX512 · last-level cache 32 MiB · 2 cores"
    assert _bench_number({**cpu, "last_level_cache_bytes": None}) == "AMD EPYC · AVX512 · 2 cores"
    assert _bench_number(0.0004) == "0.0004" and _bench_number(53.55) == "53.550"
    assert _bench_number([0.6021, 0.71]) == "0.602 0.710"  # each round's fraction on one line
