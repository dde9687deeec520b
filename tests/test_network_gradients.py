"""The hand-fused forward and backward against autograd through paper.py's network, in float64:
network.py's torch code and the engine's fast paths (fast/: kernels, the margin's pair product) alike."""

import pytest
import torch

from core.engine import fast, network
from core.engine.attacks import OneStepAttack
from core.engine.fast import PAIR_MIN_CLASSES
from core.engine.network import Arch, class_sum, preact, smoothed_relu, smoothed_relu_slope
from core.engine.paper import sigma as where_relu
from core.engine.threats import THREAT_MODELS
from core.engine.train import gradient_step

PATHS = pytest.mark.parametrize("path", [network, fast], ids=["torch", "fast"])


pytestmark = pytest.mark.usefixtures("float64_default")  # agreement to rounding, not to float32's


def autograd_logits(W, X, arch):
    Z = torch.einsum("npd,kd->npk", X, W)
    return where_relu(Z, arch.q, arch.rho).sum(1).view(X.shape[0], arch.k, arch.m).sum(2)


def problem(seed=0, n=7, P=5, d=8, k=3, m=2, q=3, rho=0.7):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, P, d, generator=g, dtype=torch.float64)
    W = torch.randn(k * m, d, generator=g, dtype=torch.float64) * 0.8
    y = torch.randint(0, k, (n,), generator=g)
    return W, X, y, Arch(k, m, q, rho)


@PATHS
@pytest.mark.parametrize("q", [2, 3, 4])
def test_fused_activation_matches_reference_and_autograd(q, path):
    z = torch.linspace(-2, 3, 1001, dtype=torch.float64).view(1, -1, 1).requires_grad_(True)
    arch = Arch(1, 1, q, 0.9)
    S, slope = path.activate(z.detach(), arch, want_slope=True)
    reference = where_relu(z, q, 0.9)
    assert torch.allclose(S, reference.sum(1))
    (grad,) = torch.autograd.grad(reference.sum(), z)
    assert torch.allclose(slope, grad)


@pytest.mark.parametrize("q", [2, 3, 5])
def test_smoothed_relu_is_c1_at_zero_and_rho(q):
    rho, h = 0.5, 1e-7
    for point in (0.0, rho):
        left, right = torch.tensor([point - h, point + h], dtype=torch.float64)
        assert abs(smoothed_relu(left, q, rho) - smoothed_relu(right, q, rho)) < 1e-6
        assert abs(smoothed_relu_slope(left, q, rho) - smoothed_relu_slope(right, q, rho)) < 1e-5
    assert smoothed_relu_slope(torch.tensor(0.0), q, rho) == 0
    assert smoothed_relu_slope(torch.tensor(rho), q, rho) == pytest.approx(1.0)
    assert smoothed_relu(torch.tensor(rho), q, rho) == pytest.approx(rho / q)
    assert smoothed_relu(torch.tensor(-1.0), q, rho) == 0


@PATHS
def test_logits_match_autograd_model(path):
    W, X, y, arch = problem()
    S, _ = path.activate(preact(W, X), arch, want_slope=False)
    assert torch.allclose(class_sum(S, arch), autograd_logits(W, X, arch))


@PATHS
@pytest.mark.parametrize("k", [2, 3, PAIR_MIN_CLASSES])  # from PAIR_MIN_CLASSES on, the fast margin gradient
# comes from its two classes' neurons alone
@pytest.mark.parametrize("objective", ["margin", "ce"])
def test_input_gradient_matches_autograd(objective, k, path):
    W, X, y, arch = problem(seed=1, k=k)
    grad, F, value = path.input_grad(W, X, y, arch, objective)
    Xr = X.clone().requires_grad_(True)
    Fa = autograd_logits(W, Xr, arch)
    if objective == "ce":
        target = torch.nn.functional.cross_entropy(Fa, y, reduction="sum")
    else:
        others = Fa.clone()
        others[torch.arange(len(y)), y] = float("-inf")
        target = (others.max(1).values - Fa[torch.arange(len(y)), y]).sum()
    (expected,) = torch.autograd.grad(target, Xr)
    assert torch.allclose(grad, expected, atol=1e-10)
    assert torch.allclose(F, Fa.detach())


@PATHS
def test_margin_input_gradient_of_a_batch_matches_each_run(path):
    """A batch of runs gathers each example's two classes from its own run's weights."""
    runs = [problem(seed=seed, k=PAIR_MIN_CLASSES) for seed in (4, 5, 6)]
    arch = runs[0][3]
    W, X, y = (torch.stack([run[i] for run in runs]) for i in range(3))
    grad, F, value = path.input_grad(W, X, y, arch, "margin")
    for r, (W_r, X_r, y_r, _) in enumerate(runs):
        grad_r, F_r, value_r = path.input_grad(W_r, X_r, y_r, arch, "margin")
        assert torch.allclose(grad[r], grad_r, atol=1e-12)
        assert torch.allclose(value.view(3, -1)[r], value_r)


@PATHS
def test_weight_gradient_matches_autograd(path):
    W, X, y, arch = problem(seed=2)
    grad = torch.zeros_like(W)
    path.weight_grad_into(grad, W, X, y, arch, 1.0 / len(y))
    Wr = W.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(autograd_logits(Wr, X, arch), y)
    (expected,) = torch.autograd.grad(loss, Wr)
    assert torch.allclose(grad, expected, atol=1e-10)


@pytest.mark.parametrize("threat", list(THREAT_MODELS))
def test_adversarial_step_matches_autograd(threat):
    """The whole adversarial training gradient (attack, clip, CE at X_adv) against autograd."""
    W, X, y, arch = problem(seed=3, n=40)
    attack = OneStepAttack(THREAT_MODELS[threat], eps=0.3, eta_a=5.0, objective="margin")
    grad, loss, _ = gradient_step(W, X, y, arch, attack, None)

    Xr = X.clone().requires_grad_(True)
    Fa = autograd_logits(W, Xr, arch)
    others = Fa.clone()
    others[torch.arange(len(y)), y] = float("-inf")
    (gx,) = torch.autograd.grad((others.max(1).values - Fa[torch.arange(len(y)), y]).sum(), Xr)
    X_adv = X + THREAT_MODELS[threat].project(5.0 * gx, 0.3)
    Wr = W.clone().requires_grad_(True)
    expected_loss = torch.nn.functional.cross_entropy(autograd_logits(Wr, X_adv, arch), y)
    (expected,) = torch.autograd.grad(expected_loss, Wr)
    assert torch.allclose(grad, expected, atol=1e-10)
    assert loss == pytest.approx(expected_loss.item())
