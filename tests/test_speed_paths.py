"""The fused fast paths give what the plain composition gives.

PGD's attacked point fuses its last projection with the add of X; the random start draws its
directions with index_select and scales them in one pass; evaluation reads acc_clean off the
one-step attack's forward pass. Each is checked here against the composition it replaced.
"""

import time

import pytest
import torch

from core.engine.attacks import OneStepAttack, PGDAttack
from core.engine.config import Config
from core.engine.data import make_patch_data
from core.engine.fast import advance
from core.engine.measure.step_speed import run_bench
from core.engine.metrics import EvalSet, clean_variant_and_one_step_counts, correct_counts
from core.engine.network import Arch, init_weights, input_grad
from core.engine.random_starts import POOL_ROWS, direction_pool, pooled_starts
from core.engine.threats import THREAT_MODELS, get_threat_model

CFG = Config(k=4, P=12, s=2, d=10, m=3, n_train=30, n_test=5, eps=0.3)


def setup(seed=0):
    data = make_patch_data(CFG, 30, torch.Generator().manual_seed(seed))
    W = init_weights(CFG, torch.Generator().manual_seed(seed)).mul_(20.0)  # large enough to move the attack
    return W, data.X, data.y, Arch.from_config(CFG)


def plain_pgd(attack: PGDAttack, W, X, y, arch, start):
    """PGD as first written: X + delta, step, project; no fusion, no zero-start shortcut."""
    delta = torch.zeros_like(X) if start is None else start.clone()
    for _ in range(attack.steps):
        grad, _, _ = input_grad(W, X + delta, y, arch, attack.objective)
        delta = attack.threat.project(attack.threat.step(grad, attack.step_size) + delta, attack.eps)
    return delta


@pytest.mark.parametrize("name", list(THREAT_MODELS))
@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_attacked_point_is_x_plus_the_plain_delta(name, steps, random_start):
    W, X, y, arch = setup()
    threat = get_threat_model(name)
    eps = 0.1 if name == "linf" else 0.3
    attack = PGDAttack(threat, eps, steps, eps * 2.5 / max(1, steps), random_start=random_start)
    draws = attack.start_draws(X, torch.Generator().manual_seed(7))  # pooled starts (patch_l2), else None
    start, _ = attack._start(X, torch.Generator().manual_seed(7), None, draws)
    expected = plain_pgd(attack, W, X, y, arch, start)
    X_adv, _ = attack.attacked(W, X, y, arch, torch.Generator().manual_seed(7))
    delta, _ = attack.perturb(W, X, y, arch, torch.Generator().manual_seed(7))
    assert torch.allclose(delta, expected, atol=1e-6)
    assert torch.allclose(X_adv, X + expected, atol=1e-6)
    if steps and random_start:  # the attack moved the points, so the check above is not vacuous
        assert (X_adv - X).abs().max() > 1e-3


@pytest.mark.parametrize("name", list(THREAT_MODELS))
def test_a_pgd_step_is_x_plus_the_projection_of_the_step(name):
    threat = get_threat_model(name)
    g = torch.Generator().manual_seed(2)
    X, delta = torch.randn(6, 5, 4, generator=g), torch.randn(6, 5, 4, generator=g)
    for keep in (True, False):  # the last step writes X + the projection in one pass
        grad = torch.randn(6, 5, 4, generator=g)
        new, point = advance(threat, X, delta.clone(), grad.clone(), 0.1, 0.3, keep_delta=keep)
        expected = threat.project(threat.step(grad, 0.1) + delta, 0.3)
        assert torch.allclose(point, X + expected, atol=1e-6)
        assert (new is None) == (not keep) and (new is None or torch.allclose(new, expected, atol=1e-6))


def test_pooled_starts_are_a_pool_row_with_a_sign_and_a_radius_within_eps():
    starts = pooled_starts((1, 30, 10, 8), 0.3, [torch.Generator().manual_seed(3)], torch.device("cpu"))
    delta = starts.delta(8, torch.float32, (30, 10, 8))
    pool = direction_pool(8, torch.device("cpu"), torch.float32)
    assert torch.equal(delta.view(-1, 8), pool[starts.index.reshape(-1)] * starts.scale.reshape(-1, 1))
    radius = delta.norm(dim=-1)
    assert (radius <= 0.3 * (1 + 1e-5)).all() and (radius > 0).all()
    assert (starts.scale < 0).any() and (starts.scale > 0).any()  # both signs
    assert starts.index.max() < POOL_ROWS


def test_pooled_starts_of_a_batch_are_each_runs_own_and_chunks_slice_them():
    eps = torch.tensor([0.3, 0.5]).view(-1, 1, 1, 1)
    both = pooled_starts((2, 12, 5, 4), eps, [torch.Generator().manual_seed(s) for s in (1, 2)], "cpu")
    for r, seed in enumerate((1, 2)):
        alone = pooled_starts((1, 12, 5, 4), float(eps[r]), [torch.Generator().manual_seed(seed)], "cpu")
        assert torch.equal(both.index[r], alone.index[0]) and torch.equal(both.scale[r], alone.scale[0])
    part = both.part(slice(3, 7))
    assert torch.equal(part.index, both.index[:, 3:7]) and torch.equal(part.scale, both.scale[:, 3:7])


def test_pooled_starts_for_another_device_are_made_there_and_need_a_generator_per_run():
    """The batch's exact elementwise half runs on the run's device (meta here: where, shapes, dtypes;
    test_gpu.py checks the numbers on CUDA against the CPU's)."""
    eps = torch.tensor([0.3, 0.5]).view(-1, 1, 1, 1)
    cpu = pooled_starts((2, 12, 5, 4), eps, [torch.Generator().manual_seed(s) for s in (1, 2)], "cpu")
    meta = pooled_starts((2, 12, 5, 4), eps, [torch.Generator().manual_seed(s) for s in (1, 2)], "meta")
    for got, want in ((meta.index, cpu.index), (meta.scale, cpu.scale)):
        assert got.device.type == "meta" and got.shape == want.shape and got.dtype == want.dtype
    with pytest.raises(ValueError, match="2 runs needs 2 generators"):
        pooled_starts((2, 12, 5, 4), eps, [torch.Generator()], "cpu")


@pytest.mark.parametrize("k", [CFG.k, 6])  # counting takes the pair path at any k; training from k = 6
@pytest.mark.parametrize("runs", [1, 2])
def test_counts_from_one_forward_pass_match_each_metric_on_its_own_inputs(runs, k):
    """evaluate_runs counts clean, the three feature variants and the one-step attack from one
    forward product per chunk: the same counts as a pass over each variant's own inputs."""
    cfg = CFG.replace(k=k, d=max(CFG.d, 2 * k))
    sets = [EvalSet.build(make_patch_data(cfg, 30, torch.Generator().manual_seed(seed)), seed) for seed in range(runs)]
    Ws = [init_weights(cfg, torch.Generator().manual_seed(seed)).mul_(20.0) for seed in range(runs)]
    if runs == 1:
        ev, W, eps, eta_a = sets[0], Ws[0], 0.3, 3.0
    else:
        ev, W = EvalSet.stack(sets), torch.stack(Ws)
        eps, eta_a = torch.tensor([0.3, 0.5]).view(-1, 1, 1, 1), torch.tensor([3.0, 1.0]).view(-1, 1, 1, 1)
    arch = Arch.from_config(cfg)
    one_step = OneStepAttack(get_threat_model("patch_l2"), eps, eta_a)
    counts = clean_variant_and_one_step_counts(W, ev, arch, one_step)
    X, y = ev.test.X, ev.test.y
    assert torch.equal(counts["acc_clean"], correct_counts(W, X, y, arch))
    assert torch.equal(counts["acc_onestep"], correct_counts(W, X, y, arch, one_step))
    for name, inputs in (("acc_swap", ev.X_swap), ("acc_robust_feature", ev.X_robust_only),
                         ("acc_nonrobust_feature", ev.X_nonrobust_only)):
        assert torch.equal(counts[name], correct_counts(W, inputs, y, arch)), name
    assert (counts["acc_onestep"] < counts["acc_clean"]).any()  # the attack bites
    variants = ("acc_swap", "acc_robust_feature", "acc_nonrobust_feature")
    assert any((counts[name] != counts["acc_clean"]).any() for name in variants)  # not the clean inputs again


def test_bench_in_thread_time_reports_the_ratios(monkeypatch):
    # the 2048^3 products take seconds
    monkeypatch.setattr("core.engine.measure.step_speed.matmul_gflops", lambda device: 1.0)
    cfg = Config(k=3, P=8, s=1, d=8, m=2, n_train=20, n_test=1, steps=2, threads=1,  # thread time: the CPU's
                 train_attack="pgd", train_attack_steps=2, device="cpu")
    report = run_bench(cfg, "adv", steps=2, rounds=1, clock=time.thread_time)
    for key in ("steps_per_s", "limit_steps_per_s", "peer_steps_per_s"):
        assert report[key] > 0
    assert report["limit_fraction"] == pytest.approx(report["steps_per_s"] / report["limit_steps_per_s"])
    cpu = report["cpu"]  # which machine the figures are of: the same model name came with AVX2 and with AVX-512
    assert cpu["model"] and cpu["capability"] in ("DEFAULT", "AVX2", "AVX512", "NEON", "SVE256", "ZVECTOR", "VSX")
    assert cpu["cores"] >= 1


@pytest.mark.parametrize("q", [2, 3, 4])
@pytest.mark.parametrize("rho", [1.0, 0.9])
def test_activation_that_consumes_its_input_gives_the_same_bits(q, rho):
    from core.engine.network import activate

    Z = torch.linspace(-2, 3, 6 * 50 * 4).view(6, 50, 4)
    arch = Arch(2, 2, q, rho)
    S, slope = activate(Z, arch, want_slope=True)
    kept = Z.clone()
    S2, slope2 = activate(Z.clone(), arch, want_slope=True, consume=True)
    assert torch.equal(Z, kept)  # the default leaves its input alone
    assert torch.equal(S, S2) and torch.equal(slope, slope2)


def _float64_run(cfg, mode):
    from core.engine.data import make_datasets
    from core.engine.train import train

    train_set, test_set = make_datasets(cfg)
    for data in (train_set, test_set):
        data.X, data.coef = data.X.double(), data.coef.double()
    W0 = init_weights(cfg, torch.Generator().manual_seed(cfg.seed + 1)).double()
    return train(cfg, mode, train_set=train_set, eval_set=EvalSet.build(test_set, cfg.seed), W0=W0)


def _same_run(a, b, rel=1e-9):
    assert a.status == b.status == "finished"
    assert torch.allclose(a.weights, b.weights, rtol=rel, atol=rel)
    assert [list(row) for row in a.history] == [list(row) for row in b.history]
    for got, want in zip(a.history, b.history, strict=True):
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=rel, abs=rel), name


WHOLE = Config(k=4, P=10, s=1, d=12, m=3, n_train=40, n_test=30, steps=12, eval_every=4, eps=0.3, eta=1.0,
               eta_a=3.0, pgd_steps=3, n_eval_pgd=20, sigma_0=0.3, threads=1, device="cpu")


@pytest.mark.parametrize("cfg", [WHOLE, WHOLE.replace(k=6, d=16)], ids=["plain loop", "pair path"])
@pytest.mark.parametrize("attack", ["one_step", "pgd"])
def test_a_whole_run_on_the_kernels_is_the_torch_run_to_rounding(monkeypatch, cfg, attack):
    """Every path of the engine at once: the run with the fused kernels and with the torch code alone."""
    from core.engine.fast import kernels

    if not kernels.available():
        pytest.skip("numba is not installed")
    cfg = cfg.replace(train_attack=attack, train_attack_steps=2)
    fused = _float64_run(cfg, "adv")
    monkeypatch.setattr(kernels, "_kernels", False)
    _same_run(fused, _float64_run(cfg, "adv"))


@pytest.mark.parametrize("mode", ["std", "adv"])
def test_a_runs_numbers_do_not_depend_on_how_its_examples_are_chunked(monkeypatch, mode):
    """Random starts are drawn before the chunk loop: a chunk of a few examples gives the same run."""
    from core.engine.fast import chunk_sizes

    cfg = WHOLE.replace(k=6, d=16, train_attack="pgd", train_attack_steps=2)
    whole = _float64_run(cfg, mode)
    monkeypatch.setattr(chunk_sizes, "_budget", lambda device: 7 * cfg.P * max(cfg.k * cfg.m, cfg.d))  # 7 a chunk
    _same_run(whole, _float64_run(cfg, mode))
