"""The kernels' chunk size follows the machine's last-level cache, read from sysfs."""

import pytest

from core.engine.fast import chunk_sizes
from core.engine.fast.cpu_cache import last_level_bytes, parse_size


def fake_sysfs(root, caches):
    for i, (level, kind, size) in enumerate(caches):
        index = root / f"index{i}"
        index.mkdir(parents=True)
        (index / "level").write_text(f"{level}\n")
        (index / "type").write_text(f"{kind}\n")
        (index / "size").write_text(f"{size}\n")
    return root


@pytest.mark.parametrize("text, expected", [("32768K", 32 * 2**20), ("1M", 2**20), ("512", 512), ("2G", 2**31),
                                            ("", None), ("lots", None), ("12.5M", None)])
def test_sizes_read_as_sysfs_writes_them(text, expected):
    assert parse_size(text) == expected


def test_the_last_level_is_the_highest_data_or_unified_cache(tmp_path):
    root = fake_sysfs(tmp_path, [(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "512K"),
                                 (3, "Unified", "32768K")])
    assert last_level_bytes(root) == 32 * 2**20
    only_l2 = fake_sysfs(tmp_path / "l2", [(1, "Data", "48K"), (2, "Unified", "2048K"), (3, "Instruction", "9M")])
    assert last_level_bytes(only_l2) == 2 * 2**20  # an instruction cache holds no data


def test_no_sysfs_or_a_broken_entry_is_no_answer(tmp_path):
    assert last_level_bytes(tmp_path / "missing") is None
    broken = fake_sysfs(tmp_path / "broken", [(2, "Unified", "1M")])
    (broken / "index0" / "level").write_text("two\n")
    assert last_level_bytes(broken) is None


@pytest.mark.parametrize("cache_mb, budget_log2", [(None, 21), (4, 18), (16, 19), (32, 20), (54, 20), (64, 21),
                                                   (1024, 21)])
def test_the_kernel_budget_keeps_a_chunk_in_half_the_cache(cache_mb, budget_log2):
    budget = chunk_sizes.kernel_budget(None if cache_mb is None else cache_mb * 2**20)
    assert budget == 2**budget_log2
    if cache_mb is not None and chunk_sizes.CPU_BUDGET < budget < chunk_sizes.CPU_KERNEL_BUDGET_MAX:
        assert 4 * 4 * budget <= cache_mb * 2**20 / 2 < 4 * 4 * 2 * budget  # the largest that fits


def test_chunks_follow_the_budget(monkeypatch):
    monkeypatch.setattr(chunk_sizes.kernels, "available", lambda: True)
    monkeypatch.setattr(chunk_sizes, "CPU_KERNEL_BUDGET", 2**20)
    assert chunk_sizes.chunk_rows(300, 100, 100, "cpu") == 104  # figure3: 2^20 floats / (100 x 100)
    monkeypatch.setattr(chunk_sizes, "CPU_KERNEL_BUDGET", 2**21)
    assert chunk_sizes.chunk_rows(300, 100, 100, "cpu") == 209
