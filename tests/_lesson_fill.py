"""Stand-in finished runs for every Lesson chapter, written straight into a run store: the browser walk needs
reveals at once, and training eight chapters (real digits included) takes minutes on a busy 2-core machine.

The curves have the shapes the real runs have (standard: v wins; adversarial: a phase transition to u; the
one-step arm: PGD accuracy rises then decays) but they are made up; `python -m core lesson --store PATH` fills
a store with real runs instead.
"""

from __future__ import annotations

import json
import math

import numpy as np


def _ramp(t: float, at: float, width: float = 0.08) -> float:
    return 1 / (1 + math.exp(-(t - at) / width))


def synthetic_rows(cfg, mode: str, arm: str, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed + (7 if mode == "adv" else 0))
    rows = []
    steps = list(range(0, cfg.steps + 1, cfg.eval_every))
    dense_loses = cfg.s > 1  # chapter 5: robust features win even without the attack
    for step in steps:
        t = step / max(1, cfg.steps)
        wiggle = float(rng.normal(0, 0.02))
        if mode == "std" and not dense_loses:
            robust, nonrobust = 0.12 + 0.05 * t, 0.2 + 0.7 * _ramp(t, 0.2)
            row = dict(acc_clean=0.2 + 0.8 * _ramp(t, 0.15), acc_pgd=0.1 * (1 - _ramp(t, 0.2)),
                       acc_swap=0.1 * (1 - _ramp(t, 0.2)), acc_robust_feature=0.25,
                       acc_nonrobust_feature=0.2 + 0.8 * _ramp(t, 0.15))
            if cfg.eps < 0.15:  # chapter 6: too small a radius cannot cancel the non-robust feature
                row["acc_pgd"] = 0.2 + 0.7 * _ramp(t, 0.2)
        else:
            switch = _ramp(t, 0.35)
            robust, nonrobust = 0.15 + 0.75 * switch, 0.45 * (1 - switch) + 0.1
            pgd = 0.1 + 0.6 * switch
            if arm == "one_step":
                pgd = 0.1 + 0.35 * _ramp(t, 0.3) - 0.4 * _ramp(t, 0.7)
            row = dict(acc_clean=0.2 + 0.8 * _ramp(t, 0.15), acc_pgd=max(0.0, pgd), acc_swap=0.2 + 0.8 * switch,
                       acc_robust_feature=0.2 + 0.8 * switch, acc_nonrobust_feature=0.6 * (1 - switch) + 0.1)
        robust, nonrobust = robust + wiggle, nonrobust - wiggle
        rows.append({"step": step, "corr_robust": robust, "corr_nonrobust": nonrobust, "lambda_robust": 3 * robust,
                     "gamma_nonrobust": 3 * nonrobust, "loss": math.exp(-4 * t), **row})
    return rows


def real_result(cfg) -> tuple[list[dict], dict]:
    rows = []
    for epoch in range(1, cfg.epochs + 1):
        t = epoch / cfg.epochs
        rows.append({"step": epoch, "std_acc_clean": 0.8 + 0.18 * t, "std_acc_pgd": 0.1 * (1 - t),
                     "std_feat_acc_nonrobust": 0.3 + 0.5 * t, "std_feat_acc_robust": 0.3 + 0.1 * t,
                     "adv_acc_clean": 0.7 + 0.2 * t, "adv_acc_pgd": 0.2 + 0.5 * t,
                     "adv_feat_acc_nonrobust": 0.3 - 0.1 * t, "adv_feat_acc_robust": 0.3 + 0.4 * t})
    last = rows[-1]
    runs = {mode: {name: last[f"{mode}_{name}"] for name in ("acc_clean", "acc_pgd", "feat_acc_nonrobust",
                                                              "feat_acc_robust")} for mode in ("std", "adv")}
    result = {"config": cfg.to_dict(), "status": "finished", "reason": None, "device": "cpu", "runs": runs,
              "attacks": {"nrf_pgd": {"std": 0.6, "adv": 0.1}, "rf_pgd": {"std": 0.1, "adv": 0.05},
                          "clean_baseline": {"std": 0.1, "adv": 0.1}},
              "reference": {}, "representatives": {}, "seconds": 1.0}
    return rows, result


def fill_store(path, seeds: int = 1) -> int:
    """Finished stand-in runs for every run any chapter needs, on seeds 0..seeds-1; returns how many."""
    import torch

    from core.lesson import CHAPTERS
    from core.runs.store import RunStore

    store = RunStore(path)
    made = 0
    for chapter in CHAPTERS:
        exp = chapter.experiment
        for arm in exp.arms:
            for seed, cfg in zip(exp.seed_list(seeds), exp.configs(arm, seeds), strict=True):
                for mode in arm.modes:
                    if store.find_cached(cfg, mode):
                        continue  # chapters 2-4 and 7 share the classroom twins
                    run_id = store.create_run(cfg, mode, preset=arm.preset, client_id="lesson-fill",
                                              steps=100 if mode == "real" else cfg.steps)
                    store.start_run(run_id, "cpu")
                    if mode == "real":
                        rows, result = real_result(cfg)
                        store.log_batch(run_id, rows=rows, artifacts={"result": json.dumps(result)}, step=100)
                    else:
                        rows = synthetic_rows(cfg, mode, arm.name, seed)
                        weights = torch.randn(cfg.k * cfg.m, cfg.d, generator=torch.Generator().manual_seed(seed))
                        store.log_batch(run_id, rows=rows, snapshots=[(cfg.steps, weights * 0.5)], step=cfg.steps)
                    store.finish_run(run_id, "finished")
                    made += 1
    store.close()
    return made
