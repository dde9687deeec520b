"""The whole real-image pipeline on a tiny synthetic image set: every stage reports,
feature learning accuracy is recorded per epoch, rates lie in [0, 1], stop works."""

import pytest
import torch

from core.real import STAGES, run_real
from core.real.datasets import ImageData
from core.real.real_config import RealConfig


def synthetic(n_train=48, n_test=24, k=3, seed=0) -> ImageData:
    """k classes of 8x8 images, each a bright 3x3 block at a class-specific place plus noise."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % k
        x = 0.2 * torch.rand(n, 1, 8, 8, generator=g)
        for i, label in enumerate(y.tolist()):
            x[i, 0, 2 * label : 2 * label + 3, 2 * label : 2 * label + 3] += 0.7
        return x.clamp(0, 1), y

    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    return ImageData("synthetic", xtr, ytr, xte, yte, tuple("abc"[:k]))


MICRO = dict(width=4, epochs=2, batch_size=16, lr=0.05, eps=0.1, pgd_steps=2, eval_pgd_steps=2,
             inversion_steps=4, attack_steps=3, n_rep=12, n_attack=12, device="cpu")


@pytest.fixture(scope="module")
def micro_run():
    events = []
    result = run_real(RealConfig(**MICRO), callback=events.append, data=synthetic())
    return result, events


def test_runs_record_feature_learning_accuracy_every_epoch(micro_run):
    result, _ = micro_run
    assert result.status == "finished"
    for mode in ("std", "adv"):
        run = result.runs[mode]
        assert [row["epoch"] for row in run["history"]] == [0, 1, 2]
        for row in run["history"]:
            for key in ("acc_clean", "acc_pgd", "feat_acc_nonrobust", "feat_acc_robust"):
                assert 0 <= row[key] <= 1
        assert run["feat_acc_robust"] == run["history"][-1]["feat_acc_robust"]
        assert {"loss", "acc_train", "seconds"} <= set(run["history"][1])


def test_attack_success_rates_are_rates(micro_run):
    result, _ = micro_run
    for name in ("nrf_pgd", "rf_pgd"):
        attack = result.attacks[name]
        assert attack["n"] == 12 and attack["threat"] == "linf"
        assert all(0 <= attack[v] <= 1 for v in ("std", "adv", "reference"))


def test_representatives_move_toward_their_targets(micro_run):
    result, _ = micro_run
    for kind in ("nonrobust", "robust"):
        rep = result.representatives[kind]
        assert rep["n"] == 12 and rep["rep_distance_end"] < rep["rep_distance_start"]
        assert result.samples[kind].shape == (12, 1, 8, 8)


def test_progress_covers_every_stage_in_order_and_reaches_one(micro_run):
    _, events = micro_run
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    seen = list(dict.fromkeys(e.stage for e in events))
    assert seen == list(STAGES)
    assert any(e.metrics and "feat_acc_robust" in e.metrics for e in events if e.stage == "train_adv")


def test_json_contract_keys(micro_run):
    result, _ = micro_run
    data = result.to_json()
    assert data["config"]["width"] == 4 and set(data["runs"]) == {"std", "adv"}
    assert {"nrf_pgd", "rf_pgd"} <= set(data["attacks"])
    assert "samples" not in data  # tensors stay out of the JSON


def test_should_stop_cancels_with_a_status():
    calls = []

    def stop_soon():
        calls.append(1)
        return len(calls) > 3

    result = run_real(RealConfig(**MICRO), should_stop=stop_soon, data=synthetic())
    assert result.status == "cancelled" and "stopped" in result.reason
    assert result.runs == {}


def test_seeded_runs_repeat():
    cfg = RealConfig(**{**MICRO, "epochs": 1, "inversion_steps": 2, "attack_steps": 1})
    a, b = (run_real(cfg, data=synthetic()).to_json() for _ in range(2))
    assert a["runs"]["std"]["history"][-1]["acc_clean"] == b["runs"]["std"]["history"][-1]["acc_clean"]
    assert a["attacks"]["nrf_pgd"] == b["attacks"]["nrf_pgd"]


@pytest.mark.parametrize("model", ["resnet18", "wrn34_10"])
def test_paper_models_run_through_the_pipeline(model):
    cfg = RealConfig(**{**MICRO, "model": model, "width": 1 if model == "wrn34_10" else 2, "epochs": 1,
                        "inversion_steps": 1, "attack_steps": 1})
    result = run_real(cfg, data=synthetic(n_train=32, n_test=12))
    assert result.status == "finished" and 0 <= result.runs["adv"]["feat_acc_robust"] <= 1
