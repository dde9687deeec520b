"""Admission by a budget of compute: what a request costs, and whether the server takes it.

Every run and sweep is admitted against its estimate before anything is queued or written: one
request above ``request_s``, or a person whose queued and running work would pass ``person_s``
(or ``person_jobs`` jobs), or a server whose queue would pass ``server_s``, is refused with one line
naming the estimate and the cap. Memory is admitted the same way: a request that would not fit the
workers' memory even alone is refused, and the scheduler (core/runs/jobs.py) starts a run only when
it fits beside the runs already running. The operator sets the caps (environment variables or
.streamlit/secrets.toml, read by ``Caps.from_settings``); the admin token lifts them for that browser.

A cost is work in seconds on one job worker's share of the cores, as core/engine/measure/estimate.py times
it: the Lab's own estimate of the run. Real-image runs have no timed estimate yet; their cost is a
count of image passes scaled to the quick digits run (36 s on one thread, docs/real-images.md).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..engine.measure.estimate import format_seconds

# Defaults for a 2-core class server: a classroom pair is ~6 s of work, figure3's ~60 s, a Lesson chapter
# on 5 seeds ~60 s, the quick digits run ~40 s; a page link with steps=10^6 is hours.
DEFAULT_REQUEST_MIN = 5.0
DEFAULT_PERSON_MIN = 10.0
DEFAULT_PERSON_JOBS = 40  # a Lesson chapter on 5 seeds is 20 runs; the Lab's 5 seeds are 10
DEFAULT_SERVER_MIN = 240.0
# (environment variable, secrets.toml key, default) of each cap
SETTINGS = {
    "request_s": ("RFL_CAP_REQUEST_MIN", "cap_request_min", DEFAULT_REQUEST_MIN),
    "person_s": ("RFL_CAP_PERSON_MIN", "cap_person_min", DEFAULT_PERSON_MIN),
    "server_s": ("RFL_CAP_SERVER_MIN", "cap_server_min", DEFAULT_SERVER_MIN),
}
PERSON_JOBS = ("RFL_CAP_PERSON_JOBS", "cap_person_jobs", DEFAULT_PERSON_JOBS)
MEMORY = ("RFL_JOBS_MEMORY_MB", "jobs_memory_mb")  # default: half the machine's memory at start


class Refused(RuntimeError):
    """A request over a cap; the message is one line naming the estimate and the cap."""


@dataclass(frozen=True)
class Cost:
    seconds: float  # work on one worker's share of the cores
    memory: int  # peak bytes while it runs


@dataclass(frozen=True)
class Caps:
    request_s: float = DEFAULT_REQUEST_MIN * 60
    person_s: float = DEFAULT_PERSON_MIN * 60
    person_jobs: int = DEFAULT_PERSON_JOBS
    server_s: float = DEFAULT_SERVER_MIN * 60

    @classmethod
    def from_settings(cls, secrets: Mapping | None = None) -> Caps:
        """The environment's caps, else secrets.toml's, else the defaults; a value that is not a positive
        number is ignored (the default stays)."""
        secrets = secrets or {}

        def number(env: str, key: str, default: float) -> float:
            for raw in (os.environ.get(env), secrets.get(key)):
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value) and value > 0:
                    return value
            return default

        minutes = {name: number(*setting) * 60 for name, setting in SETTINGS.items()}
        return cls(person_jobs=int(number(*PERSON_JOBS)), **minutes)

    def check(self, cost: Cost, mine_s: float, mine_jobs: int, jobs: int, queued_s: float) -> None:
        """Refuse (Refused, one line) a request of ``jobs`` jobs costing ``cost`` from a person who holds
        ``mine_s`` seconds in ``mine_jobs`` jobs, on a server holding ``queued_s`` seconds in all."""
        ask = format_seconds(cost.seconds)
        if cost.seconds > self.request_s:
            raise Refused(f"refused: this is about {ask} of computing, over this server's limit of "
                          f"{format_seconds(self.request_s)} per request; make it smaller (fewer steps, "
                          f"seeds or points) or ask the teacher")
        if mine_s + cost.seconds > self.person_s:
            raise Refused(f"refused: you have {format_seconds(mine_s)} of computing queued or running and this "
                          f"asks about {ask} more; each person's share on this server is "
                          f"{format_seconds(self.person_s)}: wait for your runs to end or stop some")
        if mine_jobs + jobs > self.person_jobs:
            raise Refused(f"refused: you have {mine_jobs} runs queued or running and this asks {jobs} more; each "
                          f"person may hold {self.person_jobs}: wait for your runs to end or stop some")
        if queued_s + cost.seconds > self.server_s:
            raise Refused(f"refused: the server has {format_seconds(queued_s)} of computing waiting and this asks "
                          f"about {ask} more, over its limit of {format_seconds(self.server_s)}: try again later")


def memory_budget(secrets: Mapping | None = None) -> int:
    """Bytes the job workers' runs may hold together: RFL_JOBS_MEMORY_MB, else secrets.toml's
    jobs_memory_mb, else half of the memory available now."""
    env, key = MEMORY
    for raw in (os.environ.get(env), (secrets or {}).get(key)):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value > 0:
            return int(value * 2**20)
    import psutil

    return psutil.virtual_memory().available // 2


def check_memory(cost: Cost, budget: int) -> None:
    if cost.memory > budget:
        raise Refused(f"refused: this needs about {cost.memory / 2**20:,.0f} MiB of memory and the runs on this "
                      f"server may hold {budget / 2**20:,.0f} MiB together; make it smaller")


# ---- the costs ------------------------------------------------------------------------------------
def run_cost(cfg, mode: str, threads: int) -> Cost:
    """One engine run on ``threads`` threads (a config's own count, at most the machine's cores): the
    Lab's estimate of it (a timed step of its shape, cached a minute) and its memory."""
    from ..engine.measure.estimate import run_seconds, timed_scale
    from ..engine.resources import cpu_count, estimate_memory, resolve_device

    threads = min(cfg.threads, cpu_count()) if cfg.threads else threads
    device = resolve_device(cfg.device)
    scale = timed_scale(cfg, mode, threads) if device.type == "cpu" else None
    return Cost(run_seconds(cfg, mode, threads, scale), estimate_memory(cfg, device))


# The quick digits run: 5.5e5 image passes (counted below) in 36 s on one thread; a pass of the small CNN
# (width 32) over an 8x8 image is the unit, and bigger images and models cost their pixels times the
# model's factor (a guess from their multiply-adds, not timed).
PASS_S = 36.0 / 5.5e5
MODEL_FACTOR = {"small_cnn": 1.0, "resnet18": 60.0, "wrn34_10": 600.0}
DATASET_SIZES = {"digits": (1437, 360, 64), "mnist": (60_000, 10_000, 784), "cifar10": (50_000, 10_000, 3072),
                 "svhn": (73_257, 26_032, 3072)}  # (train, test, pixels)


def real_cost(cfg) -> Cost:
    """A real-image experiment (core.real): its passes over images, roughly; good to a few times, which
    is what a cap needs."""
    train_all, test_all, pixels = DATASET_SIZES[cfg.dataset]
    n_train = min(cfg.n_train or train_all, train_all)
    n_test = min(cfg.n_test or test_all, test_all)
    n_rep, n_attack = cfg.n_rep or n_test, cfg.n_attack or n_test
    n_pgd = cfg.n_eval_pgd or n_test
    training = 2 * (cfg.reference_epochs + cfg.epochs) * n_train * (cfg.pgd_steps + 2)  # std and adv, ref and fresh
    evaluation = 2 * cfg.epochs * (n_test + n_pgd * (cfg.eval_pgd_steps + 1))
    inversion = 2 * n_rep * 2 * cfg.inversion_steps  # a forward and a backward per step, both datasets
    attacks = 2 * n_attack * 2 * cfg.attack_steps
    passes = training + evaluation + inversion + attacks
    width = ((cfg.width or 32) / 32) ** 2 if cfg.model_name == "small_cnn" else 1.0
    scale = MODEL_FACTOR.get(cfg.model_name, 100.0) * width * pixels / 64
    images = 4 * (n_train + n_test) * pixels * 4  # float32 images, the datasets built from them
    gpu = cfg.device == "cuda" or (cfg.device == "auto" and _cuda())
    return Cost(passes * PASS_S * scale / (GPU_SPEEDUP if gpu else 1), 256 * 2**20 + images)


GPU_SPEEDUP = 50  # as a sweep's estimate takes a GPU (core/runs/sweep_spec.py GPU_CORES): a guess, not timed


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sweep_cost(spec, threads: int, cluster_threads: int | None = None) -> Cost:
    """A sweep run by one job worker, one task after the other (or on a Dask cluster of that many threads):
    the Sweep page's estimate; its memory is a batch of its biggest run."""
    from ..engine.resources import estimate_memory
    from .sweep_plan import MAX_BATCH
    from .sweep_spec import estimate_seconds

    seconds = estimate_seconds(spec, cluster_threads=cluster_threads or threads)
    # memory grows with every swept size knob: the grid's corners hold its biggest run
    corners = itertools.product(*((min(values), max(values)) for _, values in spec.grid))
    biggest = max(estimate_memory(spec.base.replace(**dict(zip(spec.fields, corner, strict=True))))
                  for corner in corners)
    return Cost(seconds, biggest * min(MAX_BATCH["cpu"], len(spec)))
