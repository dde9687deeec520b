"""core.engine.fast.philox_starts: counter-based starts, equal in any batch, chunking and device,
and rightly distributed.

The statistical tests draw from fixed seeds, so each one's verdict is the same on every run: they
cannot flake; the thresholds are the tests' 0.1 % critical values, so a wrong distribution fails them.
"""

import itertools
import math
import random

import pytest
import torch
from scipy import stats

from core.engine.fast import philox_starts
from core.engine.fast.philox_starts import (
    POOL_ROWS,
    RADIUS_LEVELS,
    StartSource,
    Stream,
    counter_starts,
    philox4x32,
    philox4x32_reference,
    radius_quantiles,
    radius_table,
    run_keys,
    start_words,
)
from core.engine.random_starts import PooledStarts

# Random123's known answers for philox4x32 with 10 rounds (kat_vectors): counter, key, result
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
KERNEL = philox_starts._cpu_kernel()
ROUTES = [False, None] if KERNEL else [False]  # the torch code, and the compiled kernel where numba is


@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_philox_gives_the_published_known_answers(counter, key, expected):
    assert philox4x32_reference(counter, key) == expected
    words = philox4x32(counter, torch.tensor([key], dtype=torch.int64))
    assert tuple(int(w) for w in words) == expected


@pytest.mark.skipif(not KERNEL, reason="numba is not installed")
@pytest.mark.parametrize("counter,key,expected", KNOWN_ANSWERS)
def test_the_compiled_kernel_gives_the_known_answers(counter, key, expected):
    import numpy as np

    out = torch.empty(1, 4, dtype=torch.int64)
    block, step, call_word = (np.uint64(w) for w in (counter[0] | counter[1] << 32, counter[2], counter[3]))
    KERNEL(np.array([key], dtype=np.uint64), block, step, call_word, out.numpy())
    assert tuple(out[0].tolist()) == expected


def test_the_torch_code_is_the_published_algorithm_on_random_counters_and_keys():
    rng = random.Random(7)
    keys = [(rng.getrandbits(32), rng.getrandbits(32)) for _ in range(4)]
    counters = [[rng.getrandbits(32) for _ in range(6)] for _ in range(4)]
    words = philox4x32([torch.tensor(c) for c in counters], torch.tensor(keys))
    for r, key in enumerate(keys):
        for i in range(6):
            assert tuple(int(w[r, i]) for w in words) == philox4x32_reference([c[i] for c in counters], key)


@pytest.mark.skipif(not KERNEL, reason="numba is not installed")
def test_the_kernel_and_the_torch_code_give_the_same_words():
    keys = run_keys([0, 1, 2**33 + 5, 2**64 - 1])
    for first, count in ((0, 1), (3, 1001), (2**33 - 2, 9)):  # the last crosses into the block's high word
        assert torch.equal(start_words(keys, Stream.TRAINING, 123, first, count, kernel=False),
                           start_words(keys, Stream.TRAINING, 123, first, count))


@pytest.mark.parametrize("kernel", ROUTES)
def test_a_run_starts_the_same_alone_and_anywhere_in_a_batch_of_32(kernel, monkeypatch):
    if kernel is False:
        monkeypatch.setattr(philox_starts, "_kernel", False)
    shape = (1, 30, 7, 20)  # 7 patches: examples straddle the blocks of four words
    seeds = [1000 + r for r in range(32)]
    eps = torch.linspace(0.1, 0.5, 32).view(-1, 1, 1, 1)
    batch = counter_starts((32, *shape[1:]), eps, seeds, Stream.TRAINING, 41, "cpu")
    for position in (0, 17, 31):
        alone = counter_starts(shape, eps[position : position + 1], [seeds[position]], Stream.TRAINING, 41, "cpu")
        assert torch.equal(alone[0][0], batch[0][position]) and torch.equal(alone[1][0], batch[1][position])


@pytest.mark.parametrize("kernel", ROUTES)
def test_the_starts_do_not_depend_on_the_chunking(kernel, monkeypatch):
    if kernel is False:
        monkeypatch.setattr(philox_starts, "_kernel", False)
    n, P, d = 50, 7, 20
    whole = counter_starts((2, n, P, d), 0.3, [3, 4], Stream.EVALUATION, 200, "cpu")
    for cuts in ((0, 1, 50), (0, 13, 14, 37, 50), tuple(range(51))):
        parts = [counter_starts((2, b - a, P, d), 0.3, [3, 4], Stream.EVALUATION, 200, "cpu", first_example=a)
                 for a, b in itertools.pairwise(cuts)]
        assert torch.equal(torch.cat([p[0] for p in parts], 1), whole[0])
        assert torch.equal(torch.cat([p[1] for p in parts], 1), whole[1])


def test_streams_steps_calls_and_seeds_give_different_starts():
    keys = run_keys([5])
    base = start_words(keys, Stream.TRAINING, 10, 0, 64)
    for other in (start_words(keys, Stream.EVALUATION, 10, 0, 64), start_words(keys, Stream.TRAINING, 11, 0, 64),
                  start_words(keys, Stream.TRAINING, 10, 0, 64, call=1), start_words(run_keys([6]), 1, 10, 0, 64)):
        assert (other != base).float().mean() > 0.99


def test_on_the_meta_device_the_pieces_have_the_batch_shape_and_dtype():
    index, scale = counter_starts((3, 11, 5, 40), torch.full((3, 1, 1, 1), 0.3), [0, 1, 2], Stream.TRAINING, 7,
                                  "meta", torch.float64)
    assert index.device.type == scale.device.type == "meta"
    assert index.shape == scale.shape == (3, 11, 5)
    assert index.dtype == torch.int64 and scale.dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_the_gpu_the_starts_are_the_cpu_ones_bit_for_bit():
    shape, seeds = (3, 300, 100, 100), [0, 1, 2**40 + 3]
    eps = torch.tensor([0.3, 0.5, 0.1]).view(-1, 1, 1, 1)
    for dtype in (torch.float32, torch.float64):
        cpu = counter_starts(shape, eps.to(dtype), seeds, Stream.TRAINING, 999, "cpu", dtype)
        gpu = counter_starts(shape, eps.to(dtype).cuda(), seeds, Stream.TRAINING, 999, torch.device("cuda"), dtype)
        assert gpu[0].is_cuda and torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_the_gpu_a_call_queues_without_waiting_for_the_device():
    """Once the runs' keys and the table are on the device, a call copies nothing from the host: a
    training step's starts join the GPU's queue instead of draining it."""
    cuda = torch.device("cuda")
    eps = torch.full((2, 1, 1, 1), 0.3, device=cuda)
    counter_starts((2, 300, 100, 100), eps, [0, 1], Stream.TRAINING, 1, cuda)  # keys, table, constants
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        counter_starts((2, 300, 100, 100), eps, [0, 1], Stream.TRAINING, 2, cuda)
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def test_the_radius_table_is_the_quantiles_of_the_uniform_in_ball_radius():
    J, d = RADIUS_LEVELS, 100
    levels = radius_quantiles(d)
    assert levels.dtype == torch.float64 and levels.shape == (J,)
    assert bool((levels[1:] > levels[:-1]).all()) and 0 < levels[0] and levels[-1] < 1
    # each level is the midpoint quantile: F(r_j) = r_j^d = (j + 0.5) / J, so the KS distance is 1 / (2J)
    cdf = levels.pow(d)
    assert torch.allclose(cdf, (torch.arange(J, dtype=torch.float64) + 0.5) / J, rtol=1e-12, atol=0)
    assert torch.equal(radius_quantiles(d), levels)  # the same on every call
    table = radius_table(d, "cpu", torch.float32)
    assert torch.equal(table[0::2], levels.float()) and torch.equal(table[1::2], -levels.float())


def _draws(n=400, P=100, d=50, eps=0.3):
    return counter_starts((1, n, P, d), eps, [12345], Stream.TRAINING, 3, "cpu", torch.float64)


def test_the_radius_follows_the_uniform_in_ball_law():
    d, eps = 50, 0.3
    _, scale = _draws(d=d, eps=eps)
    radius = (scale.abs() / eps).flatten().numpy()  # 40 000 draws
    result = stats.kstest(radius, lambda r: r**d)
    assert result.pvalue > 1e-3, result
    # and not a near miss: the d-th root of a plain uniform (a radius off by a power) is refused
    assert stats.kstest(radius, lambda r: r ** (d + 5)).pvalue < 1e-6


def test_signs_are_balanced_and_independent_of_the_radius():
    _, scale = _draws()
    positive = (scale > 0).flatten()
    n = positive.numel()
    assert stats.binomtest(int(positive.sum()), n, 0.5).pvalue > 1e-3
    radius = scale.abs().flatten()
    above = radius > radius.median()
    table = [[int((positive & above).sum()), int((positive & ~above).sum())],
             [int((~positive & above).sum()), int((~positive & ~above).sum())]]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_pool_rows_are_uniform_and_so_are_consecutive_pairs():
    index, _ = counter_starts((1, 2048, 100, 40), 0.3, [7], Stream.EVALUATION, 0, "cpu")
    rows = index.flatten()
    counts = torch.bincount(rows, minlength=POOL_ROWS).numpy()  # 50 per row expected
    assert stats.chisquare(counts).pvalue > 1e-3
    pairs = (rows[0::2] // 64) * 64 + rows[1::2] // 64  # neighbours (patches of one example, words of one block)
    assert stats.chisquare(torch.bincount(pairs, minlength=4096).numpy()).pvalue > 1e-3


def test_the_starts_from_the_pool_are_inside_the_patch_ball_at_the_drawn_radius():
    index, scale = counter_starts((2, 20, 10, 30), torch.tensor([0.2, 0.4]).view(-1, 1, 1, 1), [0, 1],
                                  Stream.TRAINING, 5, "cpu")
    delta = PooledStarts(index, scale).delta(30, torch.float32, (2, 20, 10, 30))
    norms = delta.norm(dim=-1)
    assert torch.allclose(norms, scale.abs(), rtol=1e-5)
    assert float(norms[0].max()) <= 0.2 * (1 + 1e-6) and float(norms[1].max()) <= 0.4 * (1 + 1e-6)


def test_out_of_range_inputs_are_refused():
    keys = run_keys([0])
    with pytest.raises(ValueError, match="step"):
        start_words(keys, Stream.TRAINING, 2**32, 0, 4)
    with pytest.raises(ValueError, match="call"):
        start_words(keys, Stream.TRAINING, 0, 0, 4, call=2**24)
    with pytest.raises(ValueError, match="seed"):
        run_keys([-1])
    with pytest.raises(ValueError, match="2 seeds"):
        counter_starts((2, 3, 4, 5), 0.3, [0], Stream.TRAINING, 0, "cpu")
    assert start_words(keys, Stream.TRAINING, 0, 5, 0).shape == (1, 0)
    assert math.isfinite(float(radius_table(1, "cpu", torch.float32).abs().max()))


def test_a_start_source_is_a_value_whose_runs_are_its_seeds_starts():
    source = StartSource((4, 9, 2**63), Stream.TRAINING, 12)
    shape = (3, 6, 5, 10)
    index, scale = source.pieces(shape, 0.3, "cpu")
    again = source.pieces(shape, 0.3, "cpu")
    assert torch.equal(index, again[0]) and torch.equal(scale, again[1])
    last_two = source.runs(slice(1, 3)).pieces((2, 6, 5, 10), 0.3, "cpu")
    assert torch.equal(last_two[0], index[1:]) and torch.equal(last_two[1], scale[1:])
    first, second = source.generators(), source.generators()
    assert [g.initial_seed() for g in first] == [g.initial_seed() for g in second]
    assert len({g.initial_seed() for g in first}) == 3
    assert source.runs(slice(2, 3)).generators()[0].initial_seed() == first[2].initial_seed()
    with pytest.raises(ValueError, match="step"):
        StartSource((0,), Stream.TRAINING, -1)


def test_threads_drawing_at_once_get_what_each_gets_alone():
    """The app's server draws from one thread per browser session: no shared state may mix them."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [((1, 40, 9, 30 + i % 3), [i], Stream.EVALUATION, i) for i in range(16)]
    alone = [counter_starts(shape, 0.3, seeds, stream, step, "cpu") for shape, seeds, stream, step in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: counter_starts(job[0], 0.3, job[1], job[2], job[3], "cpu"), jobs))
    for (i1, s1), (i2, s2) in zip(alone, together, strict=True):
        assert torch.equal(i1, i2) and torch.equal(s1, s2)


def test_tables_made_inside_transient_tables_are_dropped_and_older_ones_kept():
    from core.engine.fast.philox_starts import _tables, table_bytes, transient_tables

    radius_table(77, "cpu", torch.float32)
    with transient_tables():
        radius_table(78, "cpu", torch.float32)
        assert (78, "cpu", torch.float32) in _tables
    assert (78, "cpu", torch.float32) not in _tables and (77, "cpu", torch.float32) in _tables
    assert table_bytes(4) == radius_table(77, "cpu", torch.float32).numel() * 4
