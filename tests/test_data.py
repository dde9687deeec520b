"""The patch data generator (Definition 2.2) and its variants."""

import math

import torch

from core.engine.config import Config
from core.engine.data import make_datasets, make_patch_data, representatives


def test_feature_positions_counts_and_noise():
    cfg = Config(k=4, P=20, s=3, d=16, alpha=1.0, beta=0.3, sigma_p=0.1, n_train=2000, n_test=10)
    data = make_patch_data(cfg, 2000, torch.Generator().manual_seed(0))
    assert data.X.shape == (2000, 20, 16)
    assert (data.robust.sum(1) == 3).all()
    # every class appears about equally often
    counts = torch.bincount(data.y, minlength=4).float()
    assert (counts / 2000 - 0.25).abs().max() < 0.04
    # robust position ~ uniform over patches
    freq = data.robust.float().mean(0)
    assert (freq - 3 / 20).abs().max() < 0.04
    # the feature term sits at u_y on J_R and v_y on J_NR, with alpha / beta
    term = data.feature_term()
    n, p = 5, int(data.robust[5].nonzero()[0])
    assert term[n, p, data.y[n]] == 1.0
    q = int((~data.robust[5]).nonzero()[0])
    assert math.isclose(term[n, q, 4 + data.y[n]].item(), 0.3, rel_tol=1e-6)
    assert term.ne(0).sum() == 2000 * 20
    noise = data.X - term
    assert abs(noise.std().item() - 0.1) < 0.002
    assert abs(noise.mean().item()) < 0.002


def test_jitter_bounds_coefficients():
    cfg = Config(k=3, P=10, s=2, d=8, jitter=0.2, n_train=500, n_test=5)
    data = make_patch_data(cfg, 500, torch.Generator().manual_seed(1))
    robust = data.coef[data.robust]
    assert robust.min() >= 0.8 * cfg.alpha - 1e-6 and robust.max() <= 1.2 * cfg.alpha + 1e-6
    assert robust.std() > 0


def test_same_seed_same_data_and_feature_removal():
    cfg = Config(k=3, P=6, s=2, d=8, n_train=10, n_test=10, seed=7)
    (a, _), (b, _) = make_datasets(cfg), make_datasets(cfg)
    assert torch.equal(a.X, b.X)
    only_robust = a.without("nonrobust")
    noise = a.X - a.feature_term()
    # non-robust patches keep only noise; robust patches are untouched
    assert torch.allclose(only_robust[~a.robust], noise[~a.robust])
    assert torch.equal(only_robust[a.robust], a.X[a.robust])


def test_representatives_are_noiseless_prototypes():
    cfg = Config(k=3, P=6, s=2, d=8, alpha=1.0, beta=0.25)
    data = representatives(cfg)
    assert data.X.shape == (3, 6, 6)
    assert torch.equal(data.y, torch.arange(3))
    assert data.X[1, 0, 1] == 1.0 and data.X[1, 5, 3 + 1] == 0.25
    assert data.X.abs().sum() == 3 * (2 * 1.0 + 4 * 0.25)
