"""Threat models keep their bounds; the swap has the theorem's size; PGD finds worse inputs."""

import math

import pytest
import torch

from core.engine.attacks import OneStepAttack, PGDAttack, swap_perturbation
from core.engine.config import Config
from core.engine.data import make_patch_data
from core.engine.network import Arch, init_weights, logits, margin_and_grad
from core.engine.threats import THREAT_MODELS, get_threat_model

EPS = 0.3


@pytest.mark.parametrize("name", list(THREAT_MODELS))
def test_projection_keeps_the_norm_bound(name):
    threat = get_threat_model(name)
    delta = torch.randn(16, 7, 5, generator=torch.Generator().manual_seed(0)) * 3
    projected = threat.project(delta, EPS)
    assert projected.shape == delta.shape
    assert (threat.norm(projected) <= EPS * (1 + 1e-5)).all()
    # already inside: unchanged
    small = threat.project(delta * 1e-3, EPS)
    assert torch.allclose(small, delta * 1e-3)
    # projection is idempotent
    assert torch.allclose(threat.project(projected, EPS), projected, atol=1e-6)


@pytest.mark.parametrize("name", list(THREAT_MODELS))
def test_random_start_and_step_sizes(name):
    threat = get_threat_model(name)
    g = torch.Generator().manual_seed(1)
    start = threat.random_start((16, 7, 5), EPS, g, torch.device("cpu"))
    assert start.shape == (16, 7, 5)
    assert (threat.norm(start) <= EPS * (1 + 1e-5)).all()
    assert (threat.norm(start) > 0).all()
    step = threat.step(torch.randn(16, 7, 5, generator=g), 0.1)
    assert torch.allclose(threat.norm(step), torch.full((16,), 0.1), atol=1e-5)


def test_patch_l2_bounds_each_patch_not_the_whole_input():
    threat = get_threat_model("patch_l2")
    delta = threat.project(torch.ones(2, 9, 4), EPS)
    assert torch.allclose(delta.norm(dim=-1), torch.full((2, 9), EPS))


def test_swap_has_per_patch_norm_sqrt2_beta_on_nonrobust_patches():
    cfg = Config(k=4, P=12, s=3, d=10, beta=0.3, jitter=0.1, n_train=50, n_test=5)
    data = make_patch_data(cfg, 50, torch.Generator().manual_seed(2))
    delta = swap_perturbation(data, torch.Generator().manual_seed(3))
    norms = delta.norm(dim=-1)
    assert torch.allclose(norms[~data.robust], math.sqrt(2) * data.coef[~data.robust], atol=1e-6)
    assert (norms[data.robust] == 0).all()
    swapped = data.X + delta
    # the own non-robust feature is gone, another class's is in its place
    own = swapped[torch.arange(50), :, 4 + data.y]
    noise = (data.X - data.feature_term())[torch.arange(50), :, 4 + data.y]
    assert torch.allclose(own[~data.robust], noise[~data.robust], atol=1e-6)


def trained_like_weights(cfg):
    """Weights aligned with the non-robust features, as standard training leaves them."""
    W = init_weights(cfg, torch.Generator().manual_seed(0)).view(cfg.k, cfg.m, cfg.d)
    W[torch.arange(cfg.k), :, cfg.k + torch.arange(cfg.k)] += 2.0
    return W.view(cfg.k * cfg.m, cfg.d)


@pytest.mark.parametrize("name", list(THREAT_MODELS))
def test_pgd_lowers_the_classification_margin(name):
    cfg = Config(k=4, P=12, s=2, d=10, n_train=40, n_test=5, eps=0.3 if name != "linf" else 0.1)
    data = make_patch_data(cfg, 40, torch.Generator().manual_seed(4))
    W, arch = trained_like_weights(cfg), Arch.from_config(cfg)
    threat = get_threat_model(name)
    attack = PGDAttack.standard(threat, cfg.eps, 10)
    delta, _ = attack.perturb(W, data.X, data.y, arch, torch.Generator().manual_seed(5))
    assert (threat.norm(delta) <= cfg.eps * (1 + 1e-5)).all()
    before, _ = margin_and_grad(logits(W, data.X, arch), data.y)
    after, _ = margin_and_grad(logits(W, data.X + delta, arch), data.y)
    # the attacker's objective (max other - own) goes up for every example
    assert (after > before).all()
    one_step, _ = OneStepAttack(threat, cfg.eps, 10.0).perturb(W, data.X, data.y, arch)
    assert (threat.norm(one_step) <= cfg.eps * (1 + 1e-5)).all()


def test_start_pools_kept_in_a_process_are_bounded_and_redraw_the_same(monkeypatch):
    """A server asked for one d after another keeps pools up to POOLS_KEPT_BYTES, oldest dropped first,
    the newest always; a pool drawn again after it was dropped is the same pool (runs stay reproducible)."""
    from collections import OrderedDict

    from core.engine import random_starts as threats

    monkeypatch.setattr(threats, "_pools", OrderedDict())
    one = 4096 * 50 * 4  # a float32 pool at d = 50
    monkeypatch.setattr(threats, "POOLS_KEPT_BYTES", int(2.5 * one))
    first = threats.direction_pool(50, "cpu", torch.float32).clone()
    for d in (51, 52, 53):
        threats.direction_pool(d, "cpu", torch.float32)
    assert [key[0] for key in threats._pools] == [52, 53]  # 50 and 51 dropped, oldest first
    big = threats.direction_pool(400, "cpu", torch.float32)  # bigger than the bound: kept alone
    assert list(threats._pools) == [(400, "cpu", torch.float32)] and threats.direction_pool(400, "cpu",
                                                                                           torch.float32) is big
    assert torch.equal(threats.direction_pool(50, "cpu", torch.float32), first)
    assert torch.allclose(first.norm(dim=1), torch.ones(4096))
