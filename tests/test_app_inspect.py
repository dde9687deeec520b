"""The dashboard's computations (core/inspect.py, core/estimate.py) and chart builders (core/charts.py)."""

import numpy as np
import pandas as pd
import pytest
import torch

import core.engine.look_inside as look_inside
import core.engine.measure.estimate as estimate_mod
from core.engine.config import Config
from core.engine.data import make_datasets
from core.engine.look_inside import (
    DECOMPOSITION,
    adversarial_patches,
    decompose,
    downsample,
    feature_labels,
    neuron_labels,
    run_test_set,
    weight_features,
)
from core.engine.measure.estimate import estimate_runtime, run_work, side_by_side_s
from core.engine.metrics import METRICS
from core.engine.network import init_weights
from core.engine.theory import constructed_weights, evaluate_constructed, reduced_dynamics
from core.figures import charts

SMALL = Config(k=3, P=10, s=1, d=9, m=2, n_train=21, n_test=17, steps=20, eval_every=5, eps=0.3)


@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_skipping_the_train_set_gives_the_runs_test_set(monkeypatch, jitter):
    cfg = SMALL.replace(jitter=jitter)  # P*d = 90: not a multiple of torch's 16-number blocks
    monkeypatch.setattr(look_inside, "_MATERIALISE_LIMIT", 0)  # force the chunked skip,
    monkeypatch.setattr(look_inside, "_SKIP_CHUNK_FLOATS", 16 * 90)  # in chunks of 16 rows and a last one of 5
    skipped = run_test_set(cfg)
    expected = make_datasets(cfg)[1]
    assert torch.equal(skipped.X, expected.X) and torch.equal(skipped.y, expected.y)
    assert torch.equal(skipped.robust, expected.robust)


def test_decomposition_shares_add_up_and_find_the_erased_feature():
    delta = torch.zeros(4, 10)
    delta[:, 3 + 1] = -0.3  # -v_y for y = 1, k = 3
    delta[0, 8] = 0.1  # a little noise
    parts = decompose(delta, 1, 3)
    assert list(parts) == list(DECOMPOSITION)
    assert sum(parts.values()) == pytest.approx(1.0)
    assert parts["-v_y"] > 0.9 and parts["noise"] > 0


def test_patch_view_against_the_nonrobust_minimum_is_fooled_by_pgd():
    """PGD attacks the non-robust features: a perturbation on the threat model's bound, mostly along -v_y and
    the other classes' v, that turns the right answer into a wrong one (a zero perturbation fails every check)."""
    cfg = SMALL.replace(n_test=5)
    W = constructed_weights(cfg, "nonrobust", 5.0)
    test = run_test_set(cfg)
    for index in range(cfg.n_test):
        view = adversarial_patches(cfg, W, test, index, 0)
        assert view.clean.shape == view.perturbation.shape == (cfg.P, 2 * cfg.k + 1)
        assert np.allclose(view.clean[:, :-1] + view.perturbation[:, :-1], view.perturbed[:, :-1], atol=1e-5)
        assert 0.9 * cfg.eps <= view.delta_norm <= cfg.eps + 1e-5
        assert np.abs(view.perturbation).max() > 0.01
        assert view.pred_clean == view.y != view.pred_attacked
        parts = view.decomposition
        assert parts["-v_y"] > 0.3 and parts["-v_y"] + parts["other v"] > 0.85


def test_weight_matrix_holds_each_neurons_inner_products_with_the_features():
    W = init_weights(SMALL, torch.Generator().manual_seed(0))
    k, d = SMALL.k, SMALL.d
    features = torch.eye(d)[: 2 * k]  # u_1..u_k, v_1..v_k: axis-aligned (core/engine/data.py)
    matrix = weight_features(W, k)
    assert matrix.shape == (k * SMALL.m, 2 * k + 1)
    inner = W @ features.T
    rest = (W - inner @ features).norm(dim=1)
    assert np.allclose(matrix[:, : 2 * k], inner.numpy(), atol=1e-6)
    assert np.allclose(matrix[:, -1], rest.numpy(), atol=1e-6)
    assert np.abs(matrix).min(axis=1).max() > 0  # a random snapshot, not zeros
    assert len(feature_labels(k)) == 2 * k + 1 and len(neuron_labels(k, SMALL.m)) == k * SMALL.m


def test_downsample_keeps_ends_and_marked_steps():
    frame = pd.DataFrame({"step": range(0, 10_000, 5), "corr_robust": 0.0})
    small = downsample(frame, 100, keep_steps=[1235])
    assert len(small) <= 102 and small["step"].iloc[0] == 0 and small["step"].iloc[-1] == 9995
    assert 1235 in set(small["step"])
    assert downsample(frame.head(10), 100) is not None and len(downsample(frame.head(10), 100)) == 10


def test_estimate_counts_more_work_for_adversarial_and_pgd_training(monkeypatch):
    # the machine's timing fixed (a quiet 2-core reading), so the bounds below are the model's, not the clock's
    monkeypatch.setattr(estimate_mod, "_timings", {})
    monkeypatch.setattr(estimate_mod, "_time_shapes", lambda threads: (0.004, 0.002))
    monkeypatch.setattr(estimate_mod, "_time_own_step", lambda cfg, mode, threads: None)  # no clock: the model
    std, adv = run_work(SMALL, "std"), run_work(SMALL, "adv")
    pgd = run_work(SMALL.replace(train_attack="pgd", train_attack_steps=5), "adv")
    assert std.flops < adv.flops < pgd.flops
    est = estimate_runtime(SMALL, threads=1)
    assert 0 < est.std_s <= est.wall_s <= est.adv_s < 60
    assert estimate_runtime(SMALL.replace(threads=1), threads=1).wall_s == est.adv_s  # pinned: no shared cores


def test_a_pinned_config_is_estimated_at_its_own_thread_count(monkeypatch):
    asked = []
    monkeypatch.setattr(estimate_mod, "_timings", {})
    monkeypatch.setattr(estimate_mod, "_time_shapes", lambda threads: asked.append(threads) or (0.004, 0.002))
    monkeypatch.setattr(estimate_mod, "_time_own_step", lambda cfg, mode, threads: None)
    monkeypatch.setattr(estimate_mod, "worker_threads", lambda: 1)
    monkeypatch.setattr(estimate_mod, "cpu_count", lambda: 4)
    cpu = SMALL.replace(device="cpu")  # a GPU server's estimate shares no cores
    estimate_runtime(cpu)
    estimate_runtime(cpu.replace(threads=3))
    # a worker's share first; then the config's own count only
    assert asked[0] == 1 and asked[-1] == 3
    estimate_runtime(cpu.replace(threads=1024))  # a link's threads: never timed above the machine's cores
    assert max(asked) == 4


def test_the_pair_estimate_counts_the_cores_the_longer_run_is_given():
    # both on their share until the shorter is done, then the rest of the longer at its time alone
    assert side_by_side_s({"std": 1.0, "adv": 4.0}, long_alone_s=4.0) == 4.0  # nothing to share
    assert side_by_side_s({"std": 1.0, "adv": 4.0}, long_alone_s=2.0) == pytest.approx(1.0 + 0.75 * 2.0)
    assert side_by_side_s({"std": 4.0, "adv": 1.0}, 2.0) == side_by_side_s({"std": 1.0, "adv": 4.0}, 2.0)
    assert side_by_side_s({"std": 1.0, "adv": 4.0}, long_alone_s=9.0) == 4.0  # more cores never slow it down


def test_the_longer_run_is_timed_again_on_the_cores_it_is_given_alone(monkeypatch):
    # 2 cores, workers of 1 thread: the adversarial run gets 2 threads once the standard one is done, and
    # gains what its timing there says (a classroom run ~1.4x), not an assumed 1.8x
    timed = {("std", 1): 1.0, ("adv", 1): 3.0, ("adv", 2): 3.0 / 1.4, ("std", 2): 0.7}
    monkeypatch.setattr(estimate_mod, "_cpu_run_seconds", lambda cfg, mode, n: timed[mode, n])
    wall = estimate_mod._pair_on_shared_cores(SMALL, {"std": 1.0, "adv": 3.0}, threads=1, cores=2)
    assert wall == pytest.approx(1.0 + (2 / 3) * 3.0 / 1.4)
    timed["adv", 2] = 0.5  # a disturbed timing cannot promise more than the second core gives
    wall = estimate_mod._pair_on_shared_cores(SMALL, {"std": 1.0, "adv": 3.0}, threads=1, cores=2)
    assert wall == pytest.approx(1.0 + (2 / 3) * 3.0 / 2)
    # 8 cores, workers of 2 threads: 4 threads each while both run, 8 for the longer alone
    timed.update({("std", 4): 0.6, ("adv", 4): 2.0, ("adv", 8): 1.2})
    wall = estimate_mod._pair_on_shared_cores(SMALL, {"std": 1.0, "adv": 3.0}, threads=2, cores=8)
    assert wall == pytest.approx(0.6 + (1 - 0.6 / 2.0) * 1.2)


def _frame(steps=30, robust_wins=True):
    t = np.linspace(0, 1, steps)
    data = {name: np.full(steps, 0.5) for name in METRICS}
    data["corr_robust"] = t if robust_wins else 0.3 * t
    data["corr_nonrobust"] = 0.5 * np.ones(steps)
    data["loss"] = np.exp(-3 * t) + 0.01
    return pd.DataFrame({"step": np.arange(steps) * 10, **data})


def test_every_chart_builds_with_a_title_and_keeps_zoom():
    frames = {"std": _frame(robust_wins=False), "adv": _frame()}
    theory = {mode: reduced_dynamics(SMALL, mode) for mode in ("std", "adv")}
    cfg = SMALL.replace(n_test=4)
    views = {mode: adversarial_patches(cfg, constructed_weights(cfg, kind, 3.0), run_test_set(cfg), 0, 0)
             for mode, kind in (("std", "nonrobust"), ("adv", "robust"))}
    W = init_weights(SMALL, torch.Generator().manual_seed(0))
    figures = [
        charts.correlation_figure(frames, phase_steps={"adv": 150}, theory=theory),
        charts.correlation_figure(frames, raw=True),
        charts.accuracy_figure(frames),
        charts.patches_figure(views, feature_labels(cfg.k)),
        charts.decomposition_figure(views),
        charts.weights_figure({"std": weight_features(W, 3), "adv": weight_features(W, 3)}, feature_labels(3),
                              neuron_labels(3, 2), 20),
        charts.dynamics_figure(theory),
        charts.minima_figure(evaluate_constructed(cfg, [1.0, 3.0]), 3.0),
        charts.overlay_figure({"a": frames["std"], "b": frames["adv"]}, "acc_clean"),
    ]
    for fig in figures:
        assert fig.layout.title.text and fig.layout.uirevision
        assert len(fig.data) > 0
    assert len(figures[0].layout.shapes) == 1  # the phase transition line
