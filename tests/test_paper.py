"""The engine computes what paper.py, the paper in plain autograd, computes.

paper.py is the reference a newcomer reads; the engine (network.py's hand-written backward pass, the
attacks, the training loop, the metrics and the fast paths under fast/) must agree with it. In float64
the two differ by rounding only: the same data, the same training trajectories of standard, one-step
and PGD training (given the engine's random starts), the same attack points and the same metrics.
"""

import pytest
import torch

from core.engine import paper
from core.engine.attacks import OneStepAttack, PGDAttack
from core.engine.config import Config
from core.engine.data import make_patch_data
from core.engine.metrics import EvalSet, evaluate, feature_alignment
from core.engine.network import Arch, init_weights
from core.engine.random_starts import pooled_starts
from core.engine.seeds import eval_pgd_generator, init_generator, swap_generator, training_generator
from core.engine.threats import get_threat_model
from core.engine.train import gradient_step, train, training_attack

THREAT = get_threat_model("patch_l2")
# classroom-like and figure3-like shapes, small: k = 5 takes the plain attack loop, k = 6 the pair path
SMALL = Config(k=5, P=12, s=1, d=16, m=3, n_train=24, n_test=20, steps=12, eval_every=4, eta=1.0, eta_a=3.0,
               eps=0.3, pgd_steps=3, sigma_0=0.3, seed=3, device="cpu", threads=1)
SHAPES = [SMALL, SMALL.replace(k=6, d=18, seed=4)]


pytestmark = pytest.mark.usefixtures("float64_default")  # agreement to rounding, not to float32's


def data(cfg, n, seed):
    return make_patch_data(cfg, n, torch.Generator().manual_seed(seed))


def close(a, b, tol=1e-9):
    return torch.allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_the_data_is_the_papers_draw(jitter):
    cfg = SMALL.replace(jitter=jitter)
    ours = data(cfg, 30, 7)
    X, y, robust, coef = paper.make_data(cfg, 30, torch.Generator().manual_seed(7))
    assert torch.equal(ours.X, X) and torch.equal(ours.y, y) and torch.equal(ours.robust, robust)
    assert torch.equal(ours.coef, coef)
    for sigma_0 in (0.0, 0.3):  # 0: the paper's Xavier 1 / sqrt(d)
        cfg = cfg.replace(sigma_0=sigma_0)
        assert torch.equal(init_weights(cfg, init_generator(5)), paper.init_weights(cfg, init_generator(5)))


def starts_like_the_engine(cfg, n, eps=None):
    """A function giving PGD training's random start at each step, drawn as train() draws it: from the
    run's training generator, after the mini-batch order's first permutation."""
    generator = training_generator(cfg.seed)
    torch.randperm(n, generator=generator)

    def start(step, X):
        shape = (1, *X.shape)
        return pooled_starts(shape, cfg.eps if eps is None else eps, [generator], "cpu").delta(X.shape[-1], X.dtype,
                                                                                               X.shape)

    return start


@pytest.mark.parametrize("cfg", SHAPES, ids=["k5", "k6"])
@pytest.mark.parametrize("mode,attack", [("std", "one_step"), ("adv", "one_step"), ("adv", "pgd")],
                         ids=["standard", "one-step", "pgd"])
def test_training_follows_the_papers_trajectory(cfg, mode, attack):
    """Whole runs: the engine's weights after every step are the paper's, in float64."""
    cfg = cfg.replace(train_attack=attack, train_attack_steps=2)
    train_set, test_set = data(cfg, cfg.n_train, 1), data(cfg, cfg.n_test, 2)
    W0 = init_weights(cfg, init_generator(cfg.seed)).double()
    ours = train(cfg, mode, train_set=train_set, eval_set=EvalSet.build(test_set, cfg.seed), W0=W0)
    starts = starts_like_the_engine(cfg, cfg.n_train) if attack == "pgd" and mode == "adv" else None
    W = paper.train(cfg, mode, train_set.X, train_set.y, W0, starts)
    assert ours.status == "finished"
    assert close(ours.weights, W)
    for name, value in paper.correlations(W, cfg).items():
        assert ours.final[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("cfg", SHAPES, ids=["k5", "k6"])
@pytest.mark.parametrize("mode,attack", [("std", "one_step"), ("adv", "one_step"), ("adv", "pgd")],
                         ids=["standard", "one-step", "pgd"])
def test_a_training_step_is_the_papers(cfg, mode, attack):
    """One step's gradient, through the engine's attack and its hand-written backward pass."""
    cfg = cfg.replace(train_attack=attack, train_attack_steps=3)
    train_set = data(cfg, cfg.n_train, 5)
    W = init_weights(cfg, init_generator(1)).double() * 4  # large enough that the attacks move the logits
    arch = Arch.from_config(cfg)
    attack_ = training_attack(cfg, mode)
    generator = torch.Generator().manual_seed(9)
    grad, loss, _ = gradient_step(W, train_set.X, train_set.y, arch, attack_, generator)
    start = None
    if isinstance(attack_, PGDAttack):
        start = attack_.start_draws(train_set.X, torch.Generator().manual_seed(9)).delta(cfg.d, W.dtype,
                                                                                        train_set.X.shape)
    expected = paper.training_step(W, train_set.X, train_set.y, cfg, mode, start)
    assert close(W - cfg.eta * grad, expected)


@pytest.mark.parametrize("k", [5, 6])
def test_the_attack_points_are_the_papers(k):
    cfg = SMALL.replace(k=k, d=2 * k + 4)
    arch = Arch.from_config(cfg)
    test_set = data(cfg, cfg.n_test, 6)
    W = init_weights(cfg, init_generator(2)).double() * 4
    X, y = test_set.X, test_set.y
    X_one, _ = OneStepAttack(THREAT, cfg.eps, cfg.eta_a).attacked(W, X, y, arch)
    assert close(X_one, paper.one_step_attack(W, X, y, cfg))
    start = paper.random_start(X, cfg.eps, torch.Generator().manual_seed(4))
    pgd = PGDAttack.standard(THREAT, cfg.eps, 5)
    X_pgd, _ = pgd.attacked(W, X, y, arch, start=start)
    assert close(X_pgd, paper.pgd_attack(W, X, y, cfg, 5, start))
    assert not close(X_pgd, X + start, 1e-3)  # the attack moved the points


@pytest.mark.parametrize("k", [5, 6])
def test_every_metric_is_the_papers(k):
    """A logged step's metrics: correlations, and the accuracies at the clean, swapped, feature-removed,
    one-step-attacked and PGD-attacked test points (PGD from the engine's evaluation starts)."""
    cfg = SMALL.replace(k=k, d=2 * k + 4, n_eval_pgd=15)
    test_set = data(cfg, cfg.n_test, 8)
    W = init_weights(cfg, init_generator(3)).double()
    for j in range(k):  # a network that has learnt something: each class's neurons on its two features
        W[j * cfg.m:(j + 1) * cfg.m, j] += 1.5
        W[j * cfg.m:(j + 1) * cfg.m, k + j] += 1.0
    step = 40
    ours = evaluate(W, EvalSet.build(test_set, cfg.seed), cfg, step)
    X, y, n = test_set.X, test_set.y, cfg.n_pgd
    y_other = paper.swap_classes(y, k, swap_generator(cfg.seed))
    start = pooled_starts((1, *X[:n].shape), cfg.eps, [eval_pgd_generator(cfg.seed, step)], "cpu").delta(
        cfg.d, X.dtype, X[:n].shape)
    expected = paper.evaluate(W, X, y, test_set.robust, test_set.coef, y_other, cfg, start, n)
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert ours["acc_pgd"] < ours["acc_clean"]  # the attack bites, so the check above is not vacuous
    assert feature_alignment(W, k, cfg.m) == pytest.approx(paper.correlations(W, cfg))
