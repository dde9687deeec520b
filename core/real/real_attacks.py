"""Input-space optimisation on images: PGD, representation inversion, feature attacks.

All three are projected steepest descent/ascent on a batch of images in [0, 1]:
- ``pgd``: untargeted PGD on the cross-entropy (Madry et al.) for adversarial training
  and robust accuracy;
- ``invert``: Ilyas et al.'s representation inversion, min_z ||g(z) - g(x)||_2 from a
  start z_0, unconstrained except for the pixel box (it builds the representative datasets);
- ``feature_pgd``: the paper's NRF-PGD / RF-PGD (Appendix A.2), min over ||delta|| <= eps
  of ||g(x + delta) - g(x')||_2 for a target-class image x'.
Models are switched to eval mode for the attack (BatchNorm statistics frozen) and back.
"""

from __future__ import annotations

import contextlib

import torch
from torch.nn import functional as F

_TINY = 1e-12


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(_TINY).view(-1, *([1] * (t.dim() - 1)))


def steepest_step(grad: torch.Tensor, size: float, threat: str) -> torch.Tensor:
    """The steepest-ascent step of length `size` for the norm: sign for l_inf, normalised for l2."""
    return grad.sign() * size if threat == "linf" else grad * (size / _per_image_norm(grad))


def project(delta: torch.Tensor, eps: float, threat: str) -> torch.Tensor:
    """Back into the eps-ball of the threat model."""
    if threat == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_image_norm(delta)).clamp_max(1.0)


def random_start(x: torch.Tensor, eps: float, threat: str, generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
    if threat == "linf":
        return noise * eps
    return project(noise, eps, threat)


def perturbation_norm(delta: torch.Tensor, threat: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if threat == "linf" else flat.norm(dim=1)


@contextlib.contextmanager
def frozen(model):
    """Eval mode and no parameter gradients during an attack; restores both afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)


def pgd(model, x, y, eps: float, steps: int, step_size: float, threat: str = "linf",
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted PGD on the cross-entropy from a random start; returns the adversarial images."""
    with frozen(model):
        delta = random_start(x, eps, threat, generator)
        delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
        for _ in range(steps):
            loss = F.cross_entropy(model(x + delta), y)
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = project(delta + steepest_step(grad, step_size, threat), eps, threat)
                delta = (x + delta).clamp(0, 1) - x  # stay a valid image
            delta.requires_grad_(True)
    return (x + delta).detach()


def _representation_distance(model, z, target_rep):
    return (model.features(z) - target_rep).flatten(1).norm(dim=1)


def invert(model, x_target, x_start, steps: int, step_size: float, norm: str = "l2", should_stop=None) -> torch.Tensor:
    """Representation inversion (Ilyas et al. 2019): steepest descent on ||g(z) - g(x_target)||_2
    from z = x_start, kept in [0, 1], no eps-ball. Ilyas et al. take l2-normalised steps
    for their l2-robust models; ``norm`` lets the steps follow the threat model's geometry
    (sign steps for l_inf), so "robust" and "non-robust" mean the same thing for the
    inversion as for the adversary. steps x step_size bounds how far z can travel."""
    with frozen(model):
        with torch.no_grad():
            target_rep = model.features(x_target)
        z = x_start.clone()
        for _ in range(steps):
            if should_stop is not None and should_stop():
                break
            z.requires_grad_(True)
            loss = _representation_distance(model, z, target_rep).sum()  # per-image, so each has its own step
            (grad,) = torch.autograd.grad(loss, z)
            with torch.no_grad():
                z = (z - steepest_step(grad, step_size, norm)).clamp(0, 1)
    return z.detach()


def feature_pgd(model, x_source, x_target, eps: float, steps: int, step_size: float,
                threat: str = "linf") -> torch.Tensor:
    """NRF-PGD (model = standard-trained extractor) or RF-PGD (adversarially trained):
    PGD inside the eps-ball to make g(x + delta) match g of a target-class image."""
    with frozen(model):
        with torch.no_grad():
            target_rep = model.features(x_target)
        delta = torch.zeros_like(x_source, requires_grad=True)
        for _ in range(steps):
            loss = _representation_distance(model, x_source + delta, target_rep).sum()
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = project(delta - steepest_step(grad, step_size, threat), eps, threat)
                delta = (x_source + delta).clamp(0, 1) - x_source
            delta.requires_grad_(True)
    return (x_source + delta).detach()
