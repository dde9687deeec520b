"""PGD stays in the threat model's ball and the pixel box; inversion and feature PGD reduce
the representation distance they minimise."""

import pytest
import torch

from core.real.models import SmallCNN
from core.real.real_attacks import feature_pgd, invert, perturbation_norm, pgd


@pytest.fixture(scope="module")
def model():
    with torch.random.fork_rng(devices=[]):  # a seeded init that leaves the global generator as it was
        torch.manual_seed(0)
        return SmallCNN(1, 3, width=4).eval()


@pytest.mark.parametrize("threat,eps", [("linf", 0.1), ("l2", 0.5)])
def test_pgd_stays_within_eps_and_pixel_range(model, threat, eps):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (8,), generator=g)
    adv = pgd(model, x, y, eps, steps=5, step_size=2.5 * eps / 5, threat=threat, generator=torch.Generator())
    assert (perturbation_norm(adv - x, threat) <= eps + 1e-5).all()
    assert adv.min() >= 0 and adv.max() <= 1
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert loss(model(adv), y) > loss(model(x), y)  # ascent worked
    assert not any(p.requires_grad is False for p in model.parameters())  # gradients restored


def rep_distance(model, a, b):
    with torch.no_grad():
        return (model.features(a) - model.features(b)).norm(dim=1).mean().item()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_inversion_lowers_representation_distance(model, norm):
    g = torch.Generator().manual_seed(1)
    target, start = torch.rand(6, 1, 8, 8, generator=g), torch.rand(6, 1, 8, 8, generator=g)
    step = 0.05 if norm == "l2" else 0.01
    z = invert(model, target, start, steps=40, step_size=step, norm=norm)
    assert rep_distance(model, z, target) < 0.5 * rep_distance(model, start, target)
    assert z.min() >= 0 and z.max() <= 1


def test_feature_pgd_stays_within_eps_and_moves_toward_target(model):
    g = torch.Generator().manual_seed(2)
    source, target = torch.rand(6, 1, 8, 8, generator=g), torch.rand(6, 1, 8, 8, generator=g)
    adv = feature_pgd(model, source, target, eps=0.1, steps=20, step_size=0.0125)
    assert (perturbation_norm(adv - source, "linf") <= 0.1 + 1e-6).all()
    assert rep_distance(model, adv, target) < rep_distance(model, source, target)


def test_training_mode_is_restored(model):
    model.train()
    pgd(model, torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([0, 1]), 0.1, 1, 0.1)
    assert model.training
    model.eval()
