"""The paper's qualitative claims on the small presets, seeds 0, 1 and 2."""

import pytest
from lesson_shared import twins

from core.engine.claims import check_claims, claims_by_seed

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def classroom():
    return {seed: twins("classroom", seed) for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_classroom_shows_theorems_4_3_and_4_4(classroom, seed):
    failed = [f"{c.mode}: {c.text} (got {c.value:.3f})" for c in check_claims(classroom[seed]) if not c.passed]
    assert not failed, failed


@pytest.mark.parametrize("seed", SEEDS)
def test_classroom_adversarial_run_ends_far_more_robust(classroom, seed):
    """The default demo must not contradict the paper's title at its final PGD accuracy."""
    std, adv = classroom[seed]["std"].final["acc_pgd"], classroom[seed]["adv"].final["acc_pgd"]
    assert adv - std >= 0.3, (adv, std)


def test_claims_by_seed_tallies_every_claim_over_the_seeds(classroom):
    tallies = claims_by_seed([classroom[seed] for seed in SEEDS])
    assert [(t.mode, t.text) for t in tallies] == [(c.mode, c.text) for c in check_claims(classroom[0])]
    assert all(t.total == 3 and t.held == 3 and t.holds and len(t.values) == 3 for t in tallies)
    only_std = claims_by_seed([{"std": classroom[0]["std"]}, classroom[1]])
    by_text = {(t.mode, t.text): t for t in only_std}
    assert by_text[("std", "acc_clean >= 0.99")].total == 2
    assert by_text[("adv", "acc_swap >= 0.9")].total == 1


def test_dense_loses_standard_training_learns_robust_features():
    final = twins("dense-loses", 0, ("std",))["std"].final
    assert final["corr_robust"] > final["corr_nonrobust"]
    assert final["acc_swap"] > 0.9


def test_eps_too_small_leaves_the_standard_model_unbroken():
    final = twins("eps-too-small", 0, ("std",))["std"].final
    assert final["corr_nonrobust"] > final["corr_robust"]
    assert final["acc_pgd"] > 0.5


def test_pgd_decays_compares_the_final_pgd_accuracy_with_its_peak():
    from core.engine.claims import pgd_decays

    rows = [{"acc_pgd": a} for a in (0.0, 0.22, 0.05)]
    assert pgd_decays(rows) and not pgd_decays(rows, drop=0.2) and not pgd_decays(rows[:2]) and not pgd_decays([])
