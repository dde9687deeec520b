"""Real-image runs (core.real) in the run store: what a job worker records and what the dashboard reads.

A real run is one ``runs`` row with mode ``real``, its RealConfig as config_json, and
``step``/``steps`` = percent done / 100. Per epoch of the fresh networks it logs one metrics row
at step = epoch, each name prefixed by its network: ``std_acc_clean``, ``adv_feat_acc_robust``, ...
(so epoch e of both networks is one row of ``metrics_frame``). Artifacts hold the rest as JSON:
``progress`` (stage, fraction, message: for the progress bar), ``result`` (RealResult.to_json())
and ``samples`` (the 16 images per set of result.samples as uint8 0..255 nested lists).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np

MODE = "real"
PERCENT = 100  # runs.steps of a real run: runs.step is the percent done
TRAIN_STAGES = {"train_std": "std", "train_adv": "adv"}
SAMPLE_KINDS = ("target", "start", "nonrobust", "robust")


class RealRecorder:
    """The run_real callback: epoch rows, percent and stage into the store, batched like RunRecorder."""

    def __init__(self, store, run_id: str, *, flush_s: float = 0.5):
        self.store, self.run_id, self.flush_s = store, run_id, flush_s
        self.rows: list[dict] = []
        self.percent = 0
        self.progress: dict = {}
        self.flushed: tuple | None = None
        self.next_flush = 0.0
        self.gone = False  # the run was deleted from the store while it ran

    def __call__(self, event) -> None:
        prefix = TRAIN_STAGES.get(event.stage)
        metrics = event.metrics or {}
        if prefix and "epoch" in metrics:
            self.rows.append({"step": int(metrics["epoch"]),
                              **{f"{prefix}_{k}": v for k, v in metrics.items() if k != "epoch" and _number(v)}})
        if event.stage == "done" and metrics.get("status") != "finished":
            return  # a stopped run reports 'done' at 100 %: keep how far it really got
        self.percent = min(PERCENT, int(math.floor(event.fraction * PERCENT)))
        stage_changed = event.stage != self.progress.get("stage")
        self.progress = {"stage": event.stage, "fraction": event.fraction, "stage_fraction": event.stage_fraction,
                         "message": event.message}
        if self.rows or stage_changed or time.monotonic() >= self.next_flush:
            self.flush()

    def flush(self) -> None:
        state = (self.percent, self.progress.get("stage"))
        if self.gone or not (self.rows or state != self.flushed):
            return
        rows, self.rows = self.rows, []
        self.gone = not self.store.log_batch(self.run_id, rows=rows, step=self.percent,
                                             artifacts={"progress": json.dumps(self.progress)})
        self.flushed = state
        self.next_flush = time.monotonic() + self.flush_s


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def samples_json(samples: dict) -> dict:
    """result.samples (CPU tensors in [0, 1], (N, C, H, W)) as plain lists: uint8 images and int labels."""
    out: dict = {"images": {}, "labels": []}
    for kind in SAMPLE_KINDS:
        if kind in samples:
            array = np.asarray(samples[kind].detach().cpu().float().numpy())
            out["images"][kind] = np.rint(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8).tolist()
    if "labels" in samples:
        out["labels"] = [int(v) for v in samples["labels"].tolist()]
    return out


def save_result(store, run_id: str, result) -> bool:
    """The result (JSON) and its sample images as artifacts of the run."""
    return store.log_batch(run_id, artifacts={"result": json.dumps(result.to_json()),
                                              "samples": json.dumps(samples_json(result.samples))})


def record_real(store, run_id: str, cfg, *, should_stop=None, flush_s: float = 0.5, data=None,
                recorder: RealRecorder | None = None):
    """Run run_real for a queued run of the store, recording as it goes; the caller sets the final status.

    Returns the RealResult; ConfigError (a missing data file, ...) propagates before any training.
    """
    from ..engine.resources import resolve_device
    from ..real import run_real

    recorder = recorder or RealRecorder(store, run_id, flush_s=flush_s)
    store.start_run(run_id, str(resolve_device(cfg.device)))
    result = run_real(cfg, callback=recorder, should_stop=should_stop, data=data)
    recorder.flush()
    if not recorder.gone:
        save_result(store, run_id, result)
    return result


def load_result(store, run_id: str) -> dict | None:
    text = store.get_artifact(run_id, "result")
    return json.loads(text) if text else None


def load_progress(store, run_id: str) -> dict:
    text = store.get_artifact(run_id, "progress")
    return json.loads(text) if text else {}


def load_samples(store, run_id: str) -> dict | None:
    """{"images": {kind: uint8 array (N, C, H, W)}, "labels": [...]}, or None before the run made any."""
    text = store.get_artifact(run_id, "samples")
    if not text:
        return None
    data = json.loads(text)
    images = {kind: np.asarray(v, dtype=np.uint8) for kind, v in data.get("images", {}).items()}
    return {"images": images, "labels": [int(v) for v in data.get("labels", [])]}
