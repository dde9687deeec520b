"""Propositions 3.1/3.2 and the reduced dynamics of Section 5, plus the assumption checks."""

from core.engine.assumptions import assumption_checks, density_ratio
from core.engine.config import Config
from core.engine.presets import PRESETS
from core.engine.theory import constructed_weights, evaluate_constructed, reduced_dynamics

SMALL = Config(k=4, P=30, s=1, d=16, m=2, n_train=10, n_test=200, beta=0.3, eps=0.24, steps=300, eval_every=50)


def test_constructed_weights_point_at_one_feature():
    W = constructed_weights(SMALL, "robust", 2.0).view(4, 2, 16)
    assert W[1, 0, 1] == 2.0 and W[1, 1, 1] == 2.0 and W.abs().sum() == 2.0 * 8
    W = constructed_weights(SMALL, "nonrobust", 2.0).view(4, 2, 16)
    assert W[3, 1, 4 + 3] == 2.0


def test_both_minima_fit_but_only_the_robust_one_survives_the_swap():
    rows = {(r["minimum"], r["scale"]): r for r in evaluate_constructed(SMALL, [1.0, 5.0])}
    for kind in ("robust", "nonrobust"):
        assert rows[(kind, 5.0)]["acc_clean"] == 1.0
        assert rows[(kind, 5.0)]["loss"] < rows[(kind, 1.0)]["loss"]
    assert rows[("robust", 5.0)]["acc_swap"] == 1.0
    assert rows[("nonrobust", 5.0)]["acc_swap"] < 0.05


def test_reduced_dynamics_standard_learns_gamma_adversarial_learns_lambda():
    cfg = PRESETS["classroom"].config()
    std = reduced_dynamics(cfg, "std")
    adv = reduced_dynamics(cfg, "adv")
    assert std[0]["step"] == 0 and std[-1]["step"] == cfg.steps
    assert std[-1]["gamma_nonrobust"] > 1.5 * std[-1]["lambda_robust"]
    assert adv[-1]["lambda_robust"] > 5 * adv[-1]["gamma_nonrobust"]


def test_reduced_dynamics_dense_robust_features_win_even_in_standard_training():
    std = reduced_dynamics(PRESETS["dense-loses"].config(), "std")
    assert std[-1]["lambda_robust"] > std[-1]["gamma_nonrobust"]


def test_checks_flag_the_counter_examples():
    def status(cfg, name):
        return next(c.status for c in assumption_checks(cfg) if c.name == name)

    assert density_ratio(PRESETS["classroom"].config()) > 1
    assert status(PRESETS["classroom"].config(), "density") == "green"
    assert status(PRESETS["dense-loses"].config(), "density") == "red"
    assert status(Config(alpha=0.2, beta=0.3), "strength") == "red"
    assert status(Config(beta=0.1, eps=0.2), "radius") == "green"
