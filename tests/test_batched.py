"""Batched training equals one-by-one training, run by run."""

import pytest
import torch

from core.engine.batched import batch_key, train_batch, train_many
from core.engine.data import PatchData, make_datasets
from core.engine.metrics import EvalSet
from core.engine.network import init_weights
from core.engine.presets import get_preset
from core.engine.train import train

BASE = get_preset("classroom-one-step").config(steps=30, n_train=40, n_test=30, eval_every=10, threads=1, device="cpu")
# different seeds, radii, strengths, densities and rates: everything that may differ inside a batch
CONFIGS = [BASE.replace(seed=0, eps=0.3), BASE.replace(seed=1, eps=0.2, beta=0.25),
           BASE.replace(seed=2, eps=0.35, s=2, eta=0.7, eta_a=2.0)]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference(cfg, mode, dtype):
    """core.engine.train.train on the same data and init, converted to dtype."""
    train_set, test_set = make_datasets(cfg)

    def convert(d):
        return PatchData(d.X.to(dtype), d.y, d.robust, d.coef.to(dtype), d.k)

    W0 = init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1)).to(dtype)
    return train(cfg, mode, train_set=convert(train_set), eval_set=EvalSet.build(convert(test_set), cfg.seed), W0=W0)


def assert_same(batched, single, rel):
    assert batched.status == single.status and batched.reason == single.reason
    scale = single.weights.abs().max()
    assert (batched.weights.double() - single.weights.double()).abs().max() <= rel * scale
    assert [row["step"] for row in batched.history] == [row["step"] for row in single.history]
    for got, want in zip(batched.history, single.history, strict=True):
        assert list(got) == list(want)  # same metrics, same order
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=rel, abs=rel), name
    assert batched.phase_transition_step == single.phase_transition_step


@pytest.mark.parametrize("mode", ["std", "adv"])
def test_batched_equals_one_by_one_in_float64(mode):
    batched = train_batch(CONFIGS, mode, dtype=torch.float64)
    for cfg, result in zip(CONFIGS, batched, strict=True):
        assert_same(result, reference(cfg, mode, torch.float64), rel=1e-9)


def test_batched_equals_one_by_one_in_float32():
    batched = train_batch(CONFIGS, "adv")
    for cfg, result in zip(CONFIGS, batched, strict=True):
        single = train(cfg, "adv")
        scale = single.weights.abs().max()
        assert (result.weights - single.weights).abs().max() <= 1e-4 * scale
        for got, want in zip(result.history, single.history, strict=True):
            for name in ("corr_robust", "corr_nonrobust", "lambda_robust", "gamma_nonrobust", "loss"):
                assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-6), name


def test_a_run_does_not_depend_on_its_batch():
    """Same numbers alone or among others: a sweep's table does not depend on how it was split."""
    together = train_batch(CONFIGS, "adv")
    alone = train_batch(CONFIGS[1:2], "adv")[0]
    assert torch.equal(together[1].weights, alone.weights)
    assert together[1].history == alone.history


def test_a_diverging_run_stops_alone(monkeypatch):
    """A NaN in one run's data (this model hardly diverges by itself) stops that run only."""
    import core.engine.train

    def poisoned(cfg):
        train_set, test_set = make_datasets(cfg)
        if cfg.seed == 1:
            train_set.X[3, 0, 0] = float("nan")
        return train_set, test_set

    monkeypatch.setattr(core.engine.train, "make_datasets", poisoned)
    batched = train_batch(CONFIGS, "std")
    train_set, test_set = poisoned(CONFIGS[1])
    single = train(CONFIGS[1], "std", train_set=train_set, eval_set=EvalSet.build(test_set, 1))
    assert batched[1].status == "diverged" and batched[1].reason == single.reason
    assert torch.equal(batched[1].weights, single.weights) and batched[1].history == []
    assert [r.status for r in batched] == ["finished", "diverged", "finished"]
    assert batched[2].history == train_batch(CONFIGS[2:], "std")[0].history


def test_should_stop_cancels_every_run():
    calls = iter(range(100))
    results = train_batch(CONFIGS, "std", should_stop=lambda: next(calls) >= 12)
    assert {r.status for r in results} == {"cancelled"}
    assert [row["step"] for row in results[0].history] == [0, 10]


def test_batch_keys():
    assert len({batch_key(cfg, "adv") for cfg in CONFIGS}) == 1
    assert batch_key(CONFIGS[0], "std") != batch_key(CONFIGS[0], "adv")
    assert batch_key(BASE.replace(P=40), "std") != batch_key(BASE, "std")
    other_attack = "one_step" if BASE.train_attack == "pgd" else "pgd"  # whichever the preset does not use
    assert batch_key(BASE.replace(train_attack=other_attack), "adv") != batch_key(BASE, "adv")
    assert batch_key(BASE.replace(batch_size=10), "std") != batch_key(BASE, "std")


@pytest.mark.parametrize("changes", [dict(train_attack="pgd", train_attack_steps=2), dict(batch_size=16)])
def test_pgd_and_mini_batch_training_batch_too(changes):
    """Each run draws its PGD starts and batch order from its own generator: equal to one by one."""
    cfgs = [cfg.replace(steps=12, **changes) for cfg in CONFIGS]
    for cfg, result in zip(cfgs, train_batch(cfgs, "adv", dtype=torch.float64), strict=True):
        assert_same(result, reference(cfg, "adv", torch.float64), rel=1e-9)


def test_train_many_groups_by_shape_and_keeps_the_order():
    pgd = BASE.replace(train_attack="pgd", train_attack_steps=2, steps=10)
    other_shape = BASE.replace(P=40, steps=10)
    items = [(CONFIGS[0], "std"), (pgd, "adv"), (other_shape, "std"), (CONFIGS[1], "std")]
    results = train_many(items)
    assert [r.mode for r in results] == ["std", "adv", "std", "std"]
    assert torch.equal(results[1].weights, train(pgd, "adv").weights)  # a batch of one is the one-run loop
    assert results[3].history == train_batch(CONFIGS[1:2], "std")[0].history
