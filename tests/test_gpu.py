"""The device-agnostic code paths on CUDA agree with the CPU (skipped without a GPU).

Run on a GPU machine with ``python -m pytest -q -m gpu`` or ``bench/gpu_check.sh``. The
random draws happen on the CPU in both cases (generators are CPU generators), so the
two devices see the same data, init and starts; only the arithmetic order differs.
"""

import pytest
import torch

from core.engine.attacks import OneStepAttack, PGDAttack
from core.engine.batched import train_batch
from core.engine.data import make_datasets
from core.engine.fast import input_grad
from core.engine.network import Arch, init_weights
from core.engine.presets import get_preset
from core.engine.random_starts import pooled_starts
from core.engine.resources import resolve_device
from core.engine.seeds import init_generator
from core.engine.threats import THREAT_MODELS
from core.engine.train import gradient_step, train, training_attack

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CUDA = torch.device("cuda")
BASE = get_preset("classroom").config(steps=20, n_train=60, n_test=40, eval_every=10, n_eval_pgd=20)
# k = 10: the attacks run on the pre-activations (fast/pair_attacks.py)
PAIRS = get_preset("figure3").config(steps=20, n_train=40, n_test=30, eval_every=10, n_eval_pgd=20, P=30, d=40)


def problem(cfg, dtype=torch.float64):
    train_set, _ = make_datasets(cfg)
    W = init_weights(cfg, init_generator(cfg.seed)).to(dtype)
    return W, train_set.X.to(dtype), train_set.y, Arch.from_config(cfg)


def test_auto_device_takes_the_gpu():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("threat", list(THREAT_MODELS))
def test_input_gradient_and_one_step_attack_agree(threat):
    W, X, y, arch = problem(BASE)
    attack = OneStepAttack(THREAT_MODELS[threat], 0.3, 3.0)
    cpu = attack.attacked(W, X, y, arch)[0]
    gpu = attack.attacked(W.to(CUDA), X.to(CUDA), y.to(CUDA), arch)[0].cpu()
    assert torch.allclose(cpu, gpu, atol=1e-10)
    grad_cpu = input_grad(W, X, y, arch, "margin")[0]
    grad_gpu = input_grad(W.to(CUDA), X.to(CUDA), y.to(CUDA), arch, "margin")[0].cpu()
    assert torch.allclose(grad_cpu, grad_gpu, atol=1e-10)


def test_pooled_starts_on_the_gpu_are_the_cpu_ones():
    """Drawn and rooted on the CPU, the rest (exact arithmetic) once for the batch on the GPU."""
    eps = torch.tensor([0.3, 0.5, 0.1]).view(-1, 1, 1, 1)
    shape, seeds = (3, 60, 50, 40), (1, 2, 3)
    cpu = pooled_starts(shape, eps, [torch.Generator().manual_seed(s) for s in seeds], "cpu")
    gpu = pooled_starts(shape, eps, [torch.Generator().manual_seed(s) for s in seeds], CUDA)
    assert gpu.index.is_cuda and torch.equal(cpu.index, gpu.index.cpu()) and torch.equal(cpu.scale, gpu.scale.cpu())


def steps_on_both_devices(cfg, mode):
    """One training step of cfg on the CPU and on CUDA from the same weights and PGD starts."""
    W, X, y, arch = problem(cfg)
    out = {}
    for device in ("cpu", "cuda"):
        step_attack = training_attack(cfg, mode)
        generator = torch.Generator().manual_seed(5)  # the same PGD starts on both devices
        out[device] = gradient_step(W.to(device), X.to(device), y.to(device), arch, step_attack, generator)
    return out["cpu"], out["cuda"]


@pytest.mark.parametrize("mode,attack", [("std", "one_step"), ("adv", "one_step"), ("adv", "pgd")])
def test_training_step_agrees(mode, attack):
    cpu, cuda = steps_on_both_devices(BASE.replace(train_attack=attack), mode)
    assert torch.allclose(cpu[0], cuda[0].cpu(), atol=1e-10)
    assert cpu[1] == pytest.approx(cuda[1], rel=1e-9)


def test_pgd_agrees_from_the_same_start():
    W, X, y, arch = problem(BASE)
    attack = PGDAttack.standard(THREAT_MODELS["patch_l2"], 0.3, 10)
    cpu, _ = attack.perturb(W, X, y, arch, torch.Generator().manual_seed(1))
    gpu, _ = attack.perturb(W.to(CUDA), X.to(CUDA), y.to(CUDA), arch, torch.Generator().manual_seed(1))
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-8)


@pytest.mark.parametrize("which", ["plain", "pairs"])
def test_a_run_on_the_gpu_matches_the_cpu_run(which):
    """classroom (k = 5) takes the plain attack loop; PAIRS (k = 10) fast/pair_attacks.py."""
    cfg = BASE if which == "plain" else PAIRS
    cpu = train(cfg.replace(device="cpu"), "adv")
    gpu = train(cfg.replace(device="cuda"), "adv")
    assert gpu.status == "finished"
    assert torch.allclose(cpu.weights, gpu.weights, rtol=1e-3, atol=1e-4)
    for got, want in zip(gpu.history, cpu.history, strict=True):
        for name in ("corr_robust", "corr_nonrobust", "loss"):
            assert got[name] == pytest.approx(want[name], rel=1e-3, abs=1e-4), name
        assert got["acc_pgd"] == pytest.approx(want["acc_pgd"], abs=0.05)


def test_batched_on_the_gpu_matches_one_by_one_on_the_cpu():
    cfgs = [BASE.replace(seed=s, eps=e, device="cuda") for s, e in ((0, 0.3), (1, 0.2), (2, 0.35))]
    batched = train_batch(cfgs, "adv", dtype=torch.float64)
    for cfg, result in zip(cfgs, batched, strict=True):
        single = train(cfg.replace(device="cpu"), "adv", W0=init_weights(cfg, init_generator(cfg.seed)).double())
        assert result.status == single.status
        assert torch.allclose(result.weights.float(), single.weights.float(), rtol=1e-3, atol=1e-4)



@pytest.mark.parametrize("attack", ["one_step", "pgd"])
def test_the_pair_attacks_on_the_gpu_agree_with_the_cpu_kernels(attack):
    """k = 10 takes fast/pair_attacks.py: its torch code on CUDA, the numba kernels (or torch) on the CPU."""
    cfg = PAIRS.replace(train_attack=attack)
    W, _, _, arch = problem(cfg)
    assert training_attack(cfg, "adv").prepare(W, arch) is not None  # the pair path
    cpu, cuda = steps_on_both_devices(cfg, "adv")
    assert torch.allclose(cpu[0], cuda[0].cpu(), atol=1e-10)
