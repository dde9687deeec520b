"""The real-image experiment of the paper's Section 6.2 and Appendix A, end to end.

Stages (each reported through the callback):
1. ``reference_std`` / ``reference_adv``: train a standard and a PGD-adversarial reference
   network on the original training data.
2. ``invert_nonrobust`` / ``invert_robust``: build the representative datasets (Ilyas et
   al. 2019): for each target test image x, start from a random test image of another
   class and solve min_z ||g(z) - g(x)||_2 with g the representation layer of the standard
   (non-robust dataset) or adversarial (robust dataset) reference; z keeps x's label.
3. ``train_std`` / ``train_adv``: train FRESH networks on the original data, recording per
   epoch clean and PGD test accuracy and the feature learning accuracy (Definition 4.1):
   accuracy on the robust and on the non-robust representative dataset.
4. ``attacks``: targeted NRF-PGD / RF-PGD (Appendix A.2): within the eps-ball, match the
   standard / adversarial reference's representation of a random target-class image;
   success = the fresh standard / adversarial network predicts the target class.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable

import torch

from ..engine.config import ConfigError
from ..engine.resources import resolve_device
from .datasets import ImageData, load_dataset
from .features import attack_success, build_representatives, pick_of_class, pick_other_class, rep_distance
from .models import build_model
from .real_config import RealConfig
from .real_training import Cancelled, accuracy, predict, robust_accuracy, train_network
from .result import RUN_METRICS, RealProgress, RealResult, Reporter, clip_count, stage_costs


def _new_model(cfg: RealConfig, data: ImageData, seed: int, device):
    """A model initialised from its own seed without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(cfg.model_name, data.shape[0], data.n_classes, cfg.width)
    return model.to(device)


def run_real(
    cfg: RealConfig,
    callback: Callable[[RealProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data: ImageData | None = None,
) -> RealResult:
    """Run the whole experiment; cancellation and divergence end it early with a status, not an exception.

    ``data`` may be passed in (tests, a dashboard that already loaded it); otherwise it is
    loaded from the config. Bad input raises ConfigError before any training.
    """
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    result = RealResult(cfg, device=str(device))
    clock = time.perf_counter()
    if data is None:
        data = load_dataset(cfg.dataset, cfg.data_dir, download=cfg.download, seed=cfg.seed,
                            n_train=cfg.n_train, n_test=cfg.n_test)
    if cfg.batch_size > len(data.y_train):
        raise ConfigError("batch_size", f"{cfg.batch_size} exceeds the {len(data.y_train)} training images")
    report = Reporter(stage_costs(cfg, len(data.y_train), len(data.y_test)), callback)
    report("data", 1.0, {"n_train": len(data.y_train), "n_test": len(data.y_test), "shape": list(data.shape)})
    result.seconds["data"] = time.perf_counter() - clock
    try:
        _run_stages(cfg, data, device, result, report, should_stop)
    except Cancelled as stop:
        result.status, result.reason = "cancelled", f"stopped by the user ({stop})"
    except FloatingPointError as err:
        result.status, result.reason = "diverged", str(err)
    report("done", 1.0, {"status": result.status})
    return result


@contextlib.contextmanager
def _stopwatch(result: RealResult, stage: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        result.seconds[stage] = time.perf_counter() - started


def _run_stages(cfg: RealConfig, data: ImageData, device, result: RealResult, report, should_stop) -> None:
    gen = torch.Generator().manual_seed(cfg.seed)  # every random choice of images below
    train = data.x_train.to(device), data.y_train.to(device)
    test = data.x_test.to(device), data.y_test.to(device)
    pgd_idx = torch.randperm(len(test[1]), generator=gen)[: clip_count(cfg.n_eval_pgd, len(test[1]))].to(device)
    pgd_set = test[0][pgd_idx], test[1][pgd_idx]

    def robust(model):
        # the same PGD starts at every evaluation, so curves move with the model, not the dice
        return robust_accuracy(model, *pgd_set, cfg, torch.Generator().manual_seed(cfg.seed + 10))

    def clean_and_robust(model):
        return {"acc_clean": accuracy(model, *test), "acc_pgd": robust(model)}

    refs = _train_references(cfg, data, device, train, clean_and_robust, result, report, should_stop)
    reps, y_rep = _representative_datasets(cfg, refs, test, gen, result, report, should_stop)

    def evaluate(model):
        return {"acc_clean": accuracy(model, *test), "acc_pgd": robust(model),
                "feat_acc_nonrobust": accuracy(model, reps["nonrobust"], y_rep),
                "feat_acc_robust": accuracy(model, reps["robust"], y_rep)}

    fresh = {}
    for mode in ("std", "adv"):
        stage = f"train_{mode}"
        model = _new_model(cfg, data, cfg.seed * 1000 + 3, device)  # twins: the same initial weights
        with _stopwatch(result, stage):
            history = train_network(model, *train, cfg, mode == "adv", cfg.epochs,
                                    torch.Generator().manual_seed(cfg.seed + 3), evaluate=evaluate,
                                    should_stop=should_stop, progress=functools.partial(report, stage))
        fresh[mode] = model
        result.runs[mode] = {**{k: history[-1][k] for k in RUN_METRICS}, "history": history}
    with _stopwatch(result, "attacks"):
        _feature_attacks(cfg, data, refs, fresh, test, gen, result, report, should_stop)


def _train_references(cfg, data, device, train, evaluate, result, report, should_stop) -> dict:
    """Stage 1: the standard and robust feature extractors g (their own seeds, not the fresh nets')."""
    refs = {}
    for mode, offset in (("std", 1), ("adv", 2)):
        stage = f"reference_{mode}"
        refs[mode] = _new_model(cfg, data, cfg.seed * 1000 + offset, device)
        with _stopwatch(result, stage):
            train_network(refs[mode], *train, cfg, mode == "adv", cfg.reference_epochs,
                          torch.Generator().manual_seed(cfg.seed + offset), should_stop=should_stop,
                          progress=functools.partial(report, stage))
        result.reference[mode] = evaluate(refs[mode])
        report(stage, 1.0, result.reference[mode])
    return refs


def _representative_datasets(cfg, refs, test, gen, result, report, should_stop):
    """Stage 2: the same targets and starts for both datasets, so they differ only in g."""
    x_test, y_test = test
    n = len(y_test)
    targets = torch.randperm(n, generator=gen)[: clip_count(cfg.n_rep, n)]
    starts = pick_other_class(y_test.cpu()[targets], y_test.cpu(), gen)
    targets, starts = targets.to(x_test.device), starts.to(x_test.device)
    x_target, y_rep, x_start = x_test[targets], y_test[targets], x_test[starts]
    reps = {}
    for kind, mode in (("nonrobust", "std"), ("robust", "adv")):
        stage = f"invert_{kind}"
        with _stopwatch(result, stage):
            reps[kind] = build_representatives(refs[mode], x_target, x_start, cfg, should_stop,
                                               functools.partial(report, stage))
        result.representatives[kind] = {
            "n": len(targets), "reference": mode,
            "rep_distance_start": rep_distance(refs[mode], x_start, x_target),
            "rep_distance_end": rep_distance(refs[mode], reps[kind], x_target),
            "l2_from_start": (reps[kind] - x_start).flatten(1).norm(dim=1).mean().item(),
            "reference_accuracy": accuracy(refs[mode], reps[kind], y_rep),
        }
        result.samples[kind] = reps[kind][:16].cpu()
        report(stage, 1.0, result.representatives[kind])
    result.samples.update(target=x_target[:16].cpu(), start=x_start[:16].cpu(), labels=y_rep[:16].cpu())
    return reps, y_rep


def _feature_attacks(cfg, data, refs, fresh, test, gen, result, report, should_stop) -> None:
    """Stage 4: each source test image gets a random other class and a random test image of it."""
    x_test, y_test = test
    n = len(y_test)
    sources = torch.randperm(n, generator=gen)[: clip_count(cfg.n_attack, n)]
    y_src = y_test.cpu()[sources]
    y_tgt = (y_src + torch.randint(1, data.n_classes, (len(sources),), generator=gen)) % data.n_classes
    tgt_images = pick_of_class(y_tgt, y_test.cpu(), gen)
    device = x_test.device
    x_src, x_tgt, y_tgt = x_test[sources.to(device)], x_test[tgt_images.to(device)], y_tgt.to(device)
    for i, (name, mode) in enumerate((("nrf_pgd", "std"), ("rf_pgd", "adv"))):
        victims = {"std": fresh["std"], "adv": fresh["adv"], "reference": refs[mode]}
        result.attacks[name] = attack_success(refs[mode], victims, x_src, x_tgt, y_tgt, cfg, should_stop)
        report("attacks", (i + 1) / 2, {name: result.attacks[name]})
    result.attacks["clean_baseline"] = {  # how often the untouched source is already called the target
        mode: (predict(net, x_src) == y_tgt).float().mean().item() for mode, net in fresh.items()}
