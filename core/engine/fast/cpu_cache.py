"""The size of this machine's last-level CPU cache, read from Linux's sysfs (None elsewhere), and
a short description of the CPU for the bench's report.

The chunk size of the CPU kernels depends on it (chunk_sizes.kernel_budget): a chunk whose tensors
no longer fit in the last-level cache streams from memory on every pass.
"""

from __future__ import annotations

import platform
from pathlib import Path

SYSFS_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int | None:
    """sysfs's '32768K', '1M' or '512' (bytes) in bytes; None when unreadable."""
    text = text.strip().upper()
    scale = _UNITS.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in _UNITS else text
    return int(digits) * scale if digits.isdigit() else None


def last_level_bytes(root: Path = SYSFS_CACHES) -> int | None:
    """Bytes of the highest-level data or unified cache that cpu0 sees; None without sysfs.
    (Read once, when chunk_sizes.py sets its chunk budget.)"""
    best: tuple[int, int] | None = None  # (level, bytes)
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Unified", "Data") and size and (best is None or level > best[0]):
            best = (level, size)
    return None if best is None else best[1]


def model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from Linux's /proc/cpuinfo, else what the platform module says."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """What a speed figure depends on: the model, the vector instructions torch's kernels use
    ("AVX512", "AVX2", ...) and the last-level cache. Two machines of one name can differ (the same
    "AMD EPYC" VM came as an AVX2 and as an AVX-512 part), so the bench reports all three."""
    import torch

    return {"model": model_name(), "capability": torch.backends.cpu.get_cpu_capability(),
            "last_level_cache_bytes": last_level_bytes()}
