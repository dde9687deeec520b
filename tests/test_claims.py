"""The paper's qualitative claims on the small presets, seeds 0, 1 and 2."""

import pytest

from core.engine.claims import check_claims
from core.engine.presets import get_preset
from core.engine.train import run_twins


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classroom_shows_theorems_4_3_and_4_4(seed):
    results = run_twins(get_preset("classroom").config(seed=seed, device="cpu"))
    failed = [f"{c.mode}: {c.text} (got {c.value:.3f})" for c in check_claims(results) if not c.passed]
    assert not failed, failed


def test_dense_loses_standard_training_learns_robust_features():
    results = run_twins(get_preset("dense-loses").config(steps=200), modes=("std",))
    final = results["std"].final
    assert final["corr_robust"] > final["corr_nonrobust"]
    assert final["acc_swap"] > 0.9


def test_eps_too_small_leaves_the_standard_model_unbroken():
    results = run_twins(get_preset("eps-too-small").config(steps=200), modes=("std",))
    final = results["std"].final
    assert final["corr_nonrobust"] > final["corr_robust"]
    assert final["acc_pgd"] > 0.5
