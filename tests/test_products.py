"""The product recorder: it sees the products torch.matmul and friends dispatch, changes nothing,
and its replay runs the same products again; the bench's limit is built on it."""

import time

import pytest
import torch

from core.engine.config import Config
from core.engine.data import make_datasets
from core.engine.measure.products import ProductRecorder, ProductTimer, record, replay, total_flops
from core.engine.measure.step_speed import dense_step_products, matmuls_per_step, run_bench
from core.engine.network import Arch, init_weights
from core.engine.seeds import init_generator, training_generator
from core.engine.train import gradient_step

TINY = Config(k=3, P=8, s=1, d=8, m=2, n_train=20, n_test=1, steps=2, threads=1)


def randn(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def layouts(call):
    return {name: (spec.shape, spec.stride) for name, spec in call.tensors.items()}


def test_matmul_on_2d_inputs_is_one_mm_with_the_transposed_operands_strides():
    X, W = randn(40, 8), randn(6, 8)
    (call,) = record(lambda: torch.matmul(X, W.t()))
    assert call.name == "aten.mm.default"
    assert layouts(call) == {"self": ((40, 8), (8, 1)), "mat2": ((8, 6), (1, 8))}
    assert call.result.shape == (40, 6) and call.result.dtype == torch.float32
    assert call.flops == 2 * 40 * 8 * 6


def test_matmul_on_a_batch_with_a_1_k_d_weight_is_one_bmm():
    X, W = randn(1, 40, 8), randn(1, 6, 8)
    (call,) = record(lambda: torch.matmul(X, W.transpose(-1, -2)))
    assert call.name == "aten.bmm.default"
    assert layouts(call)["self"] == ((1, 40, 8), (320, 8, 1))
    assert layouts(call)["mat2"][0] == (1, 8, 6) and layouts(call)["mat2"][1][1:] == (1, 8)  # transposed
    assert call.flops == 2 * 40 * 8 * 6


def test_bmm_counts_its_batch():
    A, B = randn(5, 4, 3), randn(5, 3, 7)
    (call,) = record(lambda: torch.bmm(A, B))
    assert call.kind == "bmm" and call.flops == 5 * 2 * 4 * 3 * 7


def test_in_place_products_keep_their_scalars_and_their_results():
    G, A, B = randn(6, 8), randn(40, 6), randn(40, 8)
    H, C, D = randn(2, 6, 8), randn(2, 40, 6), randn(2, 40, 8)
    expected = (G.clone().addmm_(A.t(), B, alpha=0.5), H.clone().baddbmm_(C.transpose(1, 2), D, beta=2.0, alpha=0.25))
    inside = (G.clone(), H.clone())
    with ProductRecorder() as recorder:
        inside[0].addmm_(A.t(), B, alpha=0.5)
        inside[1].baddbmm_(C.transpose(1, 2), D, beta=2.0, alpha=0.25)
    addmm, baddbmm = recorder.calls
    assert (addmm.name, addmm.scalars) == ("aten.addmm_.default", {"beta": 1, "alpha": 0.5})
    assert (baddbmm.name, baddbmm.scalars) == ("aten.baddbmm_.default", {"beta": 2.0, "alpha": 0.25})
    assert layouts(addmm)["mat1"] == ((6, 40), (1, 6))
    assert (addmm.flops, baddbmm.flops) == (2 * 6 * 40 * 8, 2 * 2 * 6 * 40 * 8)
    assert all(torch.equal(a, b) for a, b in zip(inside, expected, strict=True))


def test_results_pass_through_unchanged_and_other_ops_are_not_products():
    X, W = randn(3, 10, 8), randn(6, 8)

    def work():
        Z = torch.matmul(X, W.t()).clamp(0).add_(1.0)
        return Z, torch.matmul(Z, W), torch.bmm(X, X.transpose(1, 2)), Z.sum(1).softmax(1)

    expected = work()
    with ProductRecorder() as recorder:
        inside = work()
    assert all(torch.equal(a, b) for a, b in zip(inside, expected, strict=True))
    assert [call.kind for call in recorder.calls] == ["mm", "mm", "bmm"]
    assert record(lambda: X.clamp(0).mul(2).sum().item()) == ()


def test_replay_runs_the_same_products_into_preallocated_buffers():
    X, W, G = randn(1, 40, 8), randn(1, 6, 8), randn(1, 6, 8)
    out = torch.empty(40, 6)

    def work():
        Z = torch.matmul(X, W.transpose(-1, -2))
        torch.matmul(Z[0], W[0], out=torch.empty(40, 8))  # an .out of a size the op resizes
        torch.mm(X[0], W[0].t(), out=out)
        torch.bmm(X.expand(3, 40, 8), W.expand(3, 6, 8).transpose(1, 2))  # zero strides
        G.baddbmm_(Z.transpose(1, 2), X, alpha=0.1)
        torch.mv(W[0], X[0, 0])

    calls = record(work)
    again = record(replay(calls))
    assert len(again) == len(calls) == 6
    assert all(a.same_product(b) for a, b in zip(calls, again, strict=True))
    assert total_flops(again) == total_flops(calls)
    # nothing new is made while replaying: every product writes into a buffer it was given
    assert all(call.name.endswith(".out") or call.op._schema.is_mutable for call in again)


def tiny_step_products():
    train_set, _ = make_datasets(TINY)
    W = init_weights(TINY, init_generator(TINY.seed))[None]
    return record(lambda: gradient_step(W, train_set.X[None], train_set.y[None], Arch.from_config(TINY), None,
                                        [training_generator(TINY.seed)]))


def test_a_standard_step_is_two_full_size_products():
    calls = tiny_step_products()
    full = 2 * TINY.n_train * TINY.P * TINY.d * TINY.k * TINY.m
    assert len(calls) == 2 and total_flops(calls) == 2 * full


def test_the_dense_limit_runs_the_textbook_products():
    cfg = TINY.replace(train_attack="pgd", train_attack_steps=2)
    calls = record(dense_step_products(cfg, "adv", torch.device("cpu")))
    full = 2 * cfg.n_train * cfg.P * cfg.d * cfg.k * cfg.m
    assert total_flops(calls) == matmuls_per_step(cfg, "adv") * full


def test_the_product_timer_times_the_products_alone_and_changes_nothing():
    ticks = iter(range(1000))
    X, W = randn(40, 8), randn(6, 8)

    def work():
        Z = torch.matmul(X, W.t()).relu_()  # one product, then elementwise work
        return torch.bmm(Z[None], W[None]).sum(), Z.exp().mean()  # a second product

    with ProductTimer(clock=lambda: next(ticks)) as timer:  # one tick per reading: 1 "second" per product
        timed = work()
    assert timer.seconds == 2
    assert all(torch.equal(a, b) for a, b in zip(timed, work(), strict=True))


def test_bench_limit_is_the_recorded_products(monkeypatch):
    # the 2048^3 products take seconds
    monkeypatch.setattr("core.engine.measure.step_speed.matmul_gflops", lambda device: 1.0)
    report = run_bench(TINY, "std", steps=2, rounds=3, clock=time.thread_time)
    assert report["limit_steps_per_s"] > 0 and report["dense_limit_steps_per_s"] > 0
    rounds = report["limit_fraction_rounds"]
    assert len(rounds) == 3 and min(rounds) <= report["limit_fraction"] <= max(rounds)
    peer_rounds = report["speedup_vs_peer_rounds"]  # the peer timed in each round, beside ours
    assert len(peer_rounds) == 3 and min(peer_rounds) <= report["speedup_vs_peer"] <= max(peer_rounds)
    assert report["speedup_vs_peer"] == pytest.approx(report["steps_per_s"] / report["peer_steps_per_s"])
    in_step = report["limit_in_step_steps_per_s"]
    assert in_step > 0 and report["limit_in_step_fraction"] == pytest.approx(report["steps_per_s"] / in_step)
    assert report["limit_fraction"] == pytest.approx(report["steps_per_s"] / report["limit_steps_per_s"])
    assert report["dense_limit_fraction"] == pytest.approx(report["steps_per_s"] / report["dense_limit_steps_per_s"])
    assert report["products_per_step"] == 2
    assert report["step_gflop"] == pytest.approx(2 * 2 * TINY.n_train * TINY.P * TINY.d * TINY.k * TINY.m / 1e9)
    assert report["gflops"] == pytest.approx(report["step_gflop"] * report["steps_per_s"])
