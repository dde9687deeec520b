"""The margin attacks on the pre-activations give the plain loop's points, with kernels and without.

fast/pair_attacks.py never forms a forward product or delta during an attack: it tracks delta W^T and
the norms through the Gram matrix. Each test compares it with the plain loop of attacks.py (input
gradient, step, projection in input space) in float64, where the two differ by rounding only,
for one run and for a batch of runs with their own eps, on the CPU kernels and on the torch code
that a GPU runs.
"""

import pytest
import torch

from core.engine.attacks import OneStepAttack, PGDAttack
from core.engine.config import Config
from core.engine.data import make_patch_data
from core.engine.fast import PAIR_MIN_CLASSES, ascend, kernels
from core.engine.fast.pair_attacks import PairGeometry, _delta_terms, one_step_point, pgd_point
from core.engine.network import Arch, init_weights, input_grad, logits, preact
from core.engine.threats import get_threat_model

CFG = Config(k=PAIR_MIN_CLASSES, P=9, s=2, d=14, m=3, n_train=12, n_test=5, eps=0.3)
THREAT = get_threat_model("patch_l2")


@pytest.fixture(params=["kernels", "torch"])
def path(request, monkeypatch):
    """Run each test on the CPU kernels (where numba is installed) and on the torch code."""
    if request.param == "torch":
        monkeypatch.setattr(kernels, "_kernels", False)
    elif not kernels._load():
        pytest.skip("numba is not installed")
    return request.param


pytestmark = pytest.mark.usefixtures("float64_default")  # agreement to rounding, not to float32's


def run(seed=0, scale=6.0):
    """One run's weights, inputs and labels: weights large enough that attacks move the logits."""
    data = make_patch_data(CFG, 12, torch.Generator().manual_seed(seed))
    W = init_weights(CFG, torch.Generator().manual_seed(seed)).double().mul_(scale)
    return W, data.X.double(), data.y


def batch():
    """Two runs stacked, each with its own eps and eta_a."""
    runs = [run(seed) for seed in (1, 2)]
    W, X, y = (torch.stack([r[i] for r in runs]) for i in range(3))
    eps = torch.tensor([0.3, 0.45]).view(-1, 1, 1, 1)
    eta_a = torch.tensor([3.0, 0.5]).view(-1, 1, 1, 1)
    return W, X, y, eps, eta_a


ARCH = Arch.from_config(CFG)


def plain_one_step(W, X, y, eps, eta_a):
    grad, F, _ = input_grad(W, X, y, ARCH, "margin")
    return ascend(THREAT, X, grad, eta_a, eps), F


@pytest.mark.parametrize("runs", [1, 2])
def test_one_step_point_is_the_plain_attack_point(path, runs):
    W, X, y, eps, eta_a = (*run(), 0.3, 3.0) if runs == 1 else batch()
    point = one_step_point(PairGeometry.of(W, ARCH), X, y, eps, eta_a)
    X_adv, F_clean = plain_one_step(W, X, y, eps, eta_a)
    assert torch.allclose(point.X, X_adv, atol=1e-10)
    assert torch.allclose(point.F_clean, F_clean, atol=1e-10)
    assert torch.allclose(point.Z, preact(W, X_adv), atol=1e-10)  # the pre-activations of the point
    assert (point.X - X).abs().max() > 1e-2  # the attack moved the inputs


@pytest.mark.parametrize("runs", [1, 2])
@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("start", ["random", "zero", "given"])
def test_pgd_point_is_the_plain_loops_point(path, runs, steps, start):
    W, X, y, eps, _ = (*run(), 0.3, None) if runs == 1 else batch()
    attack = PGDAttack(THREAT, eps, steps, eps * 2.5 / max(1, steps), random_start=start != "zero")
    generator = torch.Generator().manual_seed(5) if runs == 1 else [torch.Generator().manual_seed(s) for s in (5, 6)]
    starts = attack.start_draws(X, generator)
    given = None
    if start == "given":
        given, starts = starts.delta(X.shape[-1], X.dtype, X.shape), None
    plain = attack._plain_point(W, X, y, ARCH, None, given, starts)
    point = pgd_point(PairGeometry.of(W, ARCH), X, y, eps, steps, attack.step_size,
                      ("given", given) if start == "given" else starts)
    assert torch.allclose(point.X, plain, atol=1e-9)
    assert torch.allclose(point.Z, preact(W, plain), atol=1e-9)
    delta = (point.X - X).norm(dim=-1)
    assert (delta <= (eps.view(-1, 1, 1) if runs == 2 else eps) * (1 + 1e-9)).all()  # inside each run's ball
    if steps:
        assert not torch.allclose(logits(W, point.X, ARCH), logits(W, X, ARCH), atol=1e-3)


def test_the_attacks_take_the_pair_path_from_pair_min_classes_on():
    """Training from PAIR_MIN_CLASSES on; an evaluation, which only counts, at any k. The margin in
    the patch-wise l2 ball only, whoever asks."""
    W, X, y = run()
    attack = PGDAttack.standard(THREAT, 0.3, 2)
    few = Arch(PAIR_MIN_CLASSES - 1, 3, 3, 1.0)
    assert attack.prepare(W, ARCH) is not None
    assert attack.prepare(W, few) is None
    assert attack.prepare(W[: few.k * few.m], few, counting=True) is not None
    assert attack.prepare(W[:6], Arch(2, 3, 3, 1.0), counting=True) is not None
    others = (PGDAttack.standard(THREAT, 0.3, 2, objective="ce"), PGDAttack.standard(get_threat_model("l2"), 0.3, 2),
              OneStepAttack(get_threat_model("linf"), 0.3, 3.0))
    for other in others:
        assert other.prepare(W, ARCH) is None and other.prepare(W[: few.k * few.m], few, counting=True) is None


@pytest.mark.parametrize("k", [2, 3, PAIR_MIN_CLASSES - 1])
def test_an_evaluation_below_pair_min_classes_counts_what_the_plain_loop_counts(path, k):
    """Below PAIR_MIN_CLASSES an evaluation takes the pair path (it never forms the attacked
    inputs) and training the plain loop: both give the plain loop's points, so the counts agree."""
    from core.engine.metrics import correct_counts

    cfg = CFG.replace(k=k)
    arch = Arch.from_config(cfg)
    data = make_patch_data(cfg, 40, torch.Generator().manual_seed(k))
    W = init_weights(cfg, torch.Generator().manual_seed(k)).double()
    for j in range(k):  # each class's neurons on its non-robust feature: a net that classifies, which eps breaks
        W[j * cfg.m:(j + 1) * cfg.m, k + j] += 2.0
    X, y = data.X.double(), data.y
    for attack in (PGDAttack.standard(THREAT, 0.3, 4), OneStepAttack(THREAT, 0.3, 3.0)):
        starts = attack.start_draws(X, torch.Generator().manual_seed(1))
        geometry = attack.prepare(W, arch, counting=True)
        assert geometry is not None and attack.prepare(W, arch) is None
        counted = correct_counts(W, X, y, arch, attack, torch.Generator().manual_seed(1))
        plain = attack.point(W, X, y, arch, starts=starts)  # no geometry: the training choice, plain
        paired = attack.point(W, X, y, arch, geometry=geometry, starts=starts)
        assert plain.Z is None and paired.Z is not None
        assert torch.allclose(paired.Z, preact(W, plain.X), atol=1e-9)
        plain_correct = (logits(W, plain.X, arch).argmax(1) == y).sum()
        assert counted == plain_correct
        assert plain_correct < (logits(W, X, arch).argmax(1) == y).sum()  # the attack bites


def test_delta_terms_fold_steps_whose_pair_did_not_change():
    """Steps where an example keeps the first step's pair add onto its weights; only examples that
    changed pair bring rows of their own. The sum is the same either way."""
    W, X, y = run()
    geo = PairGeometry.of(W, ARCH)
    N, P, m = X.shape[0], X.shape[1], ARCH.m
    g = torch.Generator().manual_seed(0)
    first = torch.stack([torch.arange(N) % ARCH.k, ARCH.k + (torch.arange(N) + 1) % ARCH.k], 1)
    changed = first.clone()
    changed[3, 0] = (first[3, 0] + 2) % ARCH.k  # example 3 has another runner-up at the second step
    steps = [(torch.randn(N, P, 2 * m, generator=g), pair) for pair in (first, changed)]
    sigma = torch.rand(N, P, 1, generator=g)
    base, weights, rows = _delta_terms(geo, X, None, steps, sigma)
    assert weights.shape[-1] == 4 * m  # one extra block: some example changed pair
    expected = X.clone()
    for w, pair in steps:
        R = geo.signed_W.index_select(0, pair.view(-1)).view(N, 2 * m, -1)
        expected += torch.bmm(w * sigma, R)
    assert torch.allclose(torch.baddbmm(base, weights, rows), expected, atol=1e-12)
    same = _delta_terms(geo, X, None, [steps[0], (steps[1][0], first)], sigma)
    assert same[1].shape[-1] == 2 * m  # nobody changed: one block of rows


def test_batched_weight_gradient_matches_each_run_on_pairs(path):
    """A training step of a batch on the pair path is each run's own step."""
    from dataclasses import replace

    from core.engine.train import gradient_step

    W, X, y, eps, eta_a = batch()
    for attack in (OneStepAttack(THREAT, eps, eta_a), PGDAttack.standard(THREAT, eps, 3)):
        generators = [torch.Generator().manual_seed(s) for s in (3, 4)]
        grad, loss, _ = gradient_step(W, X, y, ARCH, attack, generators)
        for r in range(2):
            own = {"eps": eps[r:r + 1]}
            own.update({"eta_a": eta_a[r:r + 1]} if isinstance(attack, OneStepAttack) else
                       {"step_size": attack.step_size[r:r + 1]})
            grad_r, loss_r, _ = gradient_step(W[r:r + 1], X[r:r + 1], y[r:r + 1], ARCH, replace(attack, **own),
                                              [torch.Generator().manual_seed(3 + r)])
            assert torch.allclose(grad[r], grad_r[0], atol=1e-10)
            assert loss[r].item() == pytest.approx(loss_r, rel=1e-10)


def test_more_patches_than_neurons(path):
    """The kernels' per-patch scratch must not be the per-neuron one: P = 25 > K = 18."""
    cfg = CFG.replace(P=25)
    data = make_patch_data(cfg, 6, torch.Generator().manual_seed(9))
    W = init_weights(cfg, torch.Generator().manual_seed(9)).double().mul_(6.0)
    X, y = data.X.double(), data.y
    attack = PGDAttack.standard(THREAT, 0.3, 3)
    starts = attack.start_draws(X, torch.Generator().manual_seed(2))
    plain = attack._plain_point(W, X, y, ARCH, None, None, starts)
    point = pgd_point(PairGeometry.of(W, ARCH), X, y, 0.3, 3, attack.step_size, starts)
    assert torch.allclose(point.X, plain, atol=1e-9)
