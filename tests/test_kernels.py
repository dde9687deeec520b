"""Each fused CPU kernel (fast/kernels.py, numba) gives what the torch code it replaces gives.

The torch code stays the reference and the GPU path; these tests run both on the same inputs,
in float64 (agreement to rounding) and float32 (the dtype runs use), and check that NaN and Inf
go through as they do in torch, so that a blown-up run is still caught by its loss.
"""

import pytest
import torch

from core.engine.fast import activate, advance, ascend, kernels, start_and_point, weight_grad_into
from core.engine.network import Arch
from core.engine.random_starts import PooledStarts, pooled_starts
from core.engine.threats import get_threat_model

pytestmark = pytest.mark.skipif(not kernels._load(), reason="numba is not installed")

THREAT = get_threat_model("patch_l2")
TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def torch_only(fn, monkeypatch):
    """fn() with the kernels switched off: the torch reference."""
    with monkeypatch.context() as patch:
        patch.setattr(kernels, "_kernels", False)
        return fn()


def close(a, b, dtype):
    return torch.allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype], equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("q,rho", [(3, 1.0), (2, 0.7), (4, 1.3)])
def test_activation_matches_torch(monkeypatch, dtype, q, rho):
    Z = torch.randn(7, 11, 12, generator=torch.Generator().manual_seed(q), dtype=dtype) * 2
    arch = Arch(3, 4, q, rho)
    for want_slope in (True, False):
        S, slope = activate(Z.clone(), arch, want_slope, consume=True)
        S_ref, slope_ref = torch_only(lambda ws=want_slope: activate(Z.clone(), arch, ws, consume=True), monkeypatch)
        assert close(S, S_ref, dtype)
        assert (slope is None) == (slope_ref is None)
        if slope is not None:
            assert close(slope, slope_ref, dtype)
    kept = Z.clone()
    activate(Z, arch, want_slope=True, consume=False)
    assert torch.equal(Z, kept)  # consume=False leaves its input alone on the kernel path too


def test_activation_lets_nan_and_inf_through(monkeypatch):
    Z = torch.zeros(2, 3, 4)
    Z[0, 1, 2], Z[1, 0, 0], Z[1, 2, 3] = float("nan"), float("inf"), float("-inf")
    arch = Arch(2, 2, 3, 1.0)
    S, slope = activate(Z.clone(), arch, True, consume=True)
    S_ref, slope_ref = torch_only(lambda: activate(Z.clone(), arch, True, consume=True), monkeypatch)
    assert torch.equal(S.isnan(), S_ref.isnan()) and torch.equal(S.isinf(), S_ref.isinf())
    assert torch.equal(slope.isnan(), slope_ref.isnan())
    assert S[0, 2].isnan() and S[1, 0].isinf()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cross_entropy_backward_matches_torch(monkeypatch, dtype):
    g = torch.Generator().manual_seed(1)
    arch = Arch(4, 3, 3, 1.0)
    W, X, y = torch.randn(2, 12, 6, generator=g, dtype=dtype), torch.randn(2, 9, 5, 6, generator=g, dtype=dtype), \
        torch.randint(0, 4, (2, 9), generator=g)

    def step():
        grad = torch.zeros_like(W)
        F, loss = weight_grad_into(grad, W, X, y, arch, 0.5)
        return grad, F, loss

    ours, ref = step(), torch_only(step, monkeypatch)
    for a, b in zip(ours, ref, strict=True):
        assert close(a, b, dtype)
    W[1, 0, 0] = float("nan")  # a blown-up run: its loss says so, the other run's does not
    _, _, loss = step()
    assert loss.view(2, -1)[1].isnan().all() and loss.view(2, -1)[0].isfinite().all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("has_delta,keep_delta", [(False, True), (True, True), (True, False), (False, False)])
def test_patch_advance_matches_step_and_projection(monkeypatch, dtype, has_delta, keep_delta):
    g = torch.Generator().manual_seed(2)
    X, grad = torch.randn(2, 6, 5, 4, generator=g, dtype=dtype), torch.randn(2, 6, 5, 4, generator=g, dtype=dtype)
    delta = THREAT.project(torch.randn(2, 6, 5, 4, generator=g, dtype=dtype), 0.3) if has_delta else None
    grad[0, 0, 0] = 0.0  # a zero gradient on one patch: the step leaves it alone
    eps = torch.tensor([0.3, 0.2], dtype=dtype).view(-1, 1, 1, 1)

    def step():
        return advance(THREAT, X, None if delta is None else delta.clone(), grad.clone(), eps * 0.8, eps, keep_delta)

    (new, point), (new_ref, point_ref) = step(), torch_only(step, monkeypatch)
    assert close(point, point_ref, dtype)
    assert (new is None) == (new_ref is None) == (not keep_delta)
    if keep_delta:
        assert close(new, new_ref, dtype)
        assert (THREAT.norm(new) <= eps.view(-1, 1) * (1 + 1e-6)).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_step_ascent_and_pooled_starts_match_torch(monkeypatch, dtype):
    g = torch.Generator().manual_seed(3)
    X, grad = torch.randn(8, 5, 6, generator=g, dtype=dtype), torch.randn(8, 5, 6, generator=g, dtype=dtype)
    ours = ascend(THREAT, X, grad.clone(), 3.0, 0.3)
    ref = torch_only(lambda: ascend(THREAT, X, grad.clone(), 3.0, 0.3), monkeypatch)
    assert close(ours, ref, dtype)
    starts = pooled_starts((1, 8, 5, 6), 0.3, [torch.Generator().manual_seed(4)], "cpu")
    delta, point = start_and_point(starts, X)
    delta_ref, point_ref = torch_only(lambda: start_and_point(starts, X), monkeypatch)
    assert close(delta, delta_ref, dtype) and close(point, point_ref, dtype)
    assert isinstance(starts, PooledStarts)


def test_kernels_stay_off_where_they_cannot_take_the_tensors():
    assert kernels.usable(torch.zeros(2, 3))
    assert not kernels.usable(torch.zeros(2, 3, dtype=torch.float16))
    assert not kernels.usable(torch.zeros(3, 2).t())  # not contiguous
    assert not kernels.usable(torch.zeros(2, 3, requires_grad=True))
    assert not kernels.usable(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float64))


def test_a_one_thread_run_keeps_one_thread_once_the_kernels_start():
    """numba starting its OpenMP threads resets the count torch reads: apply_threads starts them first."""
    import subprocess
    import sys

    code = ("import torch\nfrom core.engine.config import Config\nfrom core.engine.resources import apply_threads\n"
            "from core.engine.fast import kernels\napply_threads(Config(threads=1))\n"
            "kernels.activate(torch.randn(3, 4, 5), 3, 1.0, None)\nprint(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "1"


def test_kernels_called_from_several_threads_at_once_give_each_its_own_answer():
    """The app's server runs the engine from a thread per session; every kernel call is serialized."""
    from concurrent.futures import ThreadPoolExecutor

    arch = Arch(3, 4, 3, 1.0)
    inputs = [torch.randn(6, 9, 12, generator=torch.Generator().manual_seed(s)) for s in range(8)]
    expected = [activate(Z.clone(), arch, True, consume=True) for Z in inputs]

    def work(index):
        return [activate(inputs[index].clone(), arch, True, consume=True) for _ in range(20)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    for (S, slope), runs in zip(expected, results, strict=True):
        assert all(torch.equal(S, got_S) and torch.equal(slope, got_slope) for got_S, got_slope in runs)
