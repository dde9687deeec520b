"""Bad input is refused before any work, with a message naming the field and the range."""

import pytest

from core.cli.main import main
from core.engine.config import Config, ConfigError
from core.engine.presets import PRESETS
from core.engine.resources import check_memory, estimate_memory


@pytest.mark.parametrize(
    "changes, field, words",
    [
        (dict(s=120, P=100), "s", "s must be an integer ≥ 0 and ≤ P (here 100)"),
        (dict(d=10, k=10), "d", "d must be an integer ≥ 2k (here 20) and ≤ 1000000"),
        (dict(eps=0.0), "eps", "eps"),
        (dict(eps=-1.0), "eps", "eps must be a number ≥ 1e-12 and ≤ 1000000"),
        (dict(threat_model="l7"), "threat_model", "patch_l2"),
        (dict(q=1), "q", "q must be an integer ≥ 2 and ≤ 10"),
        (dict(batch_size=400, n_train=300), "batch_size", "≤ n_train (here 300)"),
        (dict(k=3.5), "k", "integer"),
        (dict(device="tpu"), "device", "auto"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(changes, field, words):
    with pytest.raises(ConfigError) as err:
        Config(**changes)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}:")
    assert words in str(err.value)


def test_no_message_prints_an_infinite_bound():
    """A one-sided range (d has only a fixed upper bound) says its other side in words, never -inf."""
    with pytest.raises(ConfigError) as err:
        Config(d=5)
    assert "inf" not in str(err.value) and "2k (here 20)" in str(err.value)


@pytest.mark.parametrize("name", ["eps", "beta", "jitter", "eta"])
@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_floats_are_refused_with_the_range(name, bad):
    with pytest.raises(ConfigError) as err:
        Config(**{name: bad})
    message = str(err.value)
    assert err.value.field == name and message.startswith(f"{name}: expected a finite number ≥ ")
    assert "\n" not in message and " and ≤ " in message


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf"])
def test_non_finite_text_from_the_command_line_is_refused_by_name(raw):
    for name in ("eps", "k"):
        with pytest.raises(ConfigError) as err:
            Config().with_overrides([f"{name}={raw}"])
        assert err.value.field == name and "≥" in str(err.value) and "≤" in str(err.value)


def test_unknown_field_and_override_parsing():
    with pytest.raises(ConfigError, match="unknown field"):
        Config.from_dict({"kk": 3})
    cfg = Config().with_overrides(["eps=0.1", "steps=50", "threat_model=linf"])
    assert (cfg.eps, cfg.steps, cfg.threat_model) == (0.1, 50, "linf")
    with pytest.raises(ConfigError, match="expected a number"):
        Config().with_overrides(["eps=abc"])
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        Config().with_overrides(["eps"])


def test_config_round_trips_through_a_dict():
    cfg = PRESETS["classroom"].config()
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_memory_budget_is_enforced_before_work():
    import torch

    cfg = Config(n_train=1_000_000, n_test=10, P=100, d=100)
    need = estimate_memory(cfg)
    assert need > 1_000_000 * 100 * 100 * 4  # at least the training data
    with pytest.raises(ConfigError) as err:
        check_memory(cfg, torch.device("cpu"), budget=need // 2)
    assert err.value.field == "n_train" and "GiB" in str(err.value) and "shrink" in str(err.value)


def test_a_tiny_run_with_a_huge_d_is_refused_for_its_pgd_start_pool():
    """Ten examples of two patches at d = 1e6 are 160 MB of data, but PGD's start pool (evaluation always
    attacks) is 4096 rows of d: ~49 GB to draw. The estimate said 0.7 GiB before it counted the pool."""
    import torch

    cfg = Config(k=2, P=2, s=1, d=1_000_000, m=1, n_train=10, n_test=10)
    assert estimate_memory(cfg) > 4096 * 1_000_000 * 12
    with pytest.raises(ConfigError, match="GiB") as err:
        check_memory(cfg, torch.device("cpu"), budget=8 * 2**30)
    assert err.value.field == "d" and "start pool" in str(err.value)  # the knob that is too big, not n_test


def test_every_preset_is_valid_and_described():
    assert {"classroom", "figure3", "paper-scale", "dense-loses", "eps-too-small"} <= set(PRESETS)
    for preset in PRESETS.values():
        preset.config()
        assert preset.description
    big = PRESETS["paper-scale"].config()
    assert big.d >= 1000 and big.n_train >= 2000


def test_every_larger_preset_trains_with_multi_step_pgd():
    """At figure3 and paper-scale the paper's one-step attack leaves PGD accuracy near 0 (docs/engine.md):
    a preset that a class or a paper reads as "adversarial training improves robustness" trains with PGD."""
    for name in ("classroom", "figure3", "paper-scale"):
        cfg = PRESETS[name].config()
        assert (cfg.train_attack, cfg.train_attack_steps) == ("pgd", 3), name


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--set", "s=500"],
        ["run", "--set", "bogus=1"],
        ["run", "--preset", "nope"],
        ["run", "--set", "eps=-1"],
        ["run", "--set", "eps=inf"],
        ["run", "--set", "d=5"],
    ],
)
def test_cli_refuses_bad_input_with_exit_2_and_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
