"""Where a run goes and whether it fits: device choice, threads, memory estimate."""

from __future__ import annotations

import os

import torch

from .config import Config, ConfigError
from .fast import chunk_rows, set_kernel_threads
from .random_starts import pool_bytes

BYTES = 4  # float32 throughout


def resolve_device(name: str) -> torch.device:
    """'auto' takes CUDA when torch sees it, else the CPU; 'cuda' without one is refused."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda was asked for but torch sees no CUDA device; use cpu or auto")
    return torch.device(name)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock reading covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_threads(cfg: Config, offered: int | None = None) -> int:
    """A run's thread count, decided here and nowhere else: the config's own when it sets one, else
    what its caller offers (a job worker's share of the cores), else the process's current count; never
    more than the machine's cores (a link's threads=1024 gets the cores)."""
    return min(cfg.threads or offered or torch.get_num_threads(), cpu_count())


def apply_threads(cfg: Config, offered: int | None = None) -> None:
    """The process settings a run needs: its thread count (run_threads; the CPU kernels' too) and an
    allocator that keeps memory."""
    set_threads(run_threads(cfg, offered))
    keep_freed_memory()


def set_threads(n: int) -> None:
    """torch's and the CPU kernels' thread count, also between two steps of a run (a job worker given
    idle cores): the engine's numbers do not depend on it (tests/test_shared_cores.py checks)."""
    # The kernels' threads first: numba starting its OpenMP threads resets the count torch reads
    # (a threads=1 run got 2 torch threads when torch was set first).
    set_kernel_threads(n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_kept = False


def keep_freed_memory() -> None:
    """Ask the C library to keep freed memory for the next allocation instead of returning it.

    A step allocates and frees chunk-sized tensors (0.1-2 MiB) dozens of times. With glibc's
    defaults part of that memory went back to the kernel at each free, and the next tensor
    page-faulted on every 4 KiB of it (docs/performance.md). Here tensors under 32 MiB come from
    the heap and up to 256 MiB of free heap stays with the process (that is what a run's working
    set needs, and a run lives in its own process). Once per process; a no-op where the C library
    is not glibc."""
    global _kept
    if _kept:
        return
    _kept = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 * 2**20)
    except (OSError, TypeError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        pass


def estimate_memory(cfg: Config, device: torch.device | None = None) -> int:
    """Peak bytes of a twin run, roughly: data and its variants plus one chunk's work."""
    device = device or torch.device("cpu")
    K = cfg.k * cfg.m
    per_example = cfg.P * cfg.d
    train = cfg.n_train * (per_example * 2 + cfg.P * 2)  # X and the attacked copy
    test = cfg.n_test * (per_example * 6 + cfg.P * 2)  # X, 3 variants, a PGD copy and delta
    rows = chunk_rows(max(cfg.n_train, cfg.n_test), cfg.P, max(K, cfg.d), device)
    work = rows * cfg.P * (4 * K + 4 * cfg.d)  # Z, slope, dZ, temporaries, chunk copies
    weights = K * cfg.d * 4
    # PGD's start directions (evaluation always attacks with PGD): 4096 rows of d, 8 GB at d = 1e5 before
    # it was counted here, which let a tiny run with a huge d through to the OOM killer
    return BYTES * (train + test + work + weights) + pool_bytes(cfg.d, BYTES) + 64 * 2**20  # plus torch's own


def memory_budget(device: torch.device) -> int:
    """Half of what is free now: on the GPU, its free memory; on the CPU, available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    import psutil

    return psutil.virtual_memory().available // 2


def check_memory(cfg: Config, device: torch.device, budget: int | None = None) -> int:
    """Refuse, before any work, a config whose estimate exceeds the budget."""
    need = estimate_memory(cfg, device)
    budget = memory_budget(device) if budget is None else budget
    if need > budget:
        # the knob behind the biggest share: the training or test data (floats per example and patch,
        # as estimate_memory counts them), or d alone for PGD's start pool
        shares = {"n_train": cfg.n_train * 2 * cfg.P * cfg.d, "n_test": cfg.n_test * 6 * cfg.P * cfg.d,
                  "d": pool_bytes(cfg.d, BYTES) / BYTES}
        biggest = max(shares, key=shares.get)
        shrink = "d (PGD's start pool is 4096 rows of d)" if biggest == "d" else f"{biggest}, P or d"
        raise ConfigError(
            biggest,
            f"this run needs about {need / 2**30:.1f} GiB but the budget on {device.type} is "
            f"{budget / 2**30:.1f} GiB (half of free memory); shrink {shrink}",
        )
    return need


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gpu_count() -> int:
    """Visible CUDA devices; torch counts them through NVML, without starting CUDA in this process."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


def cores_per_run(busy: int, threads_per_worker: int, cores: int | None = None) -> int:
    """Threads for each of ``busy`` running runs: the machine's cores shared out, never fewer than a
    worker's own (the job manager's rule, core.runs.jobs; the run-time estimate counts it too)."""
    return max(threads_per_worker, (cores or cpu_count()) // max(1, busy))


def default_workers() -> int:
    """At least two, so twin runs go side by side; one per GPU, or one per two CPU cores."""
    gpus = gpu_count()
    return max(2, gpus) if gpus else max(2, cpu_count() // 2)
