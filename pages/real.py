"""Real images (paper Section 6.2): feature learning accuracy of standard vs adversarial training, as a job.

Thin page: widgets -> RealConfig -> JobManager.submit_real (a worker process runs core.real.run_real and
writes to the store) -> this page reads the store: progress, per-epoch curves, then Tables 1 and 2, the
claim checks and example images. The run id sits in the URL (real=<id>), so a refresh reattaches. An
identical run already queued or running (another browser's, a Lesson chapter's) is attached to, not trained
again. The data folder is a folder inside the operator's data directory (RFL_DATA_DIR, default data/): the
page never looks anywhere else on the server.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.engine.config import ConfigError
from core.figures.charts import RUN_LABEL, real_figures
from core.real import DATASETS, RealConfig, real_claims
from core.real.datasets import LAYOUT, check_data_dir
from core.runs.jobs import JobRefused
from core.runs.real_runs import load_progress, load_result, load_samples
from pages import _keys as keys
from pages._common import ACTIVE, client_id, job_manager, leave_pages_v1, md_escape, run_store, server_settings
from pages._errors import one_line
from pages._owner import READ_ONLY_STOP, can_change, stop_runs
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
STAGE_TEXT = {
    "data": "loading the data",
    "reference_std": "training the standard reference network (g_std)",
    "reference_adv": "training the adversarial reference network (g_adv)",
    "invert_nonrobust": "building the non-robust dataset (inverting g_std)",
    "invert_robust": "building the robust dataset (inverting g_adv)",
    "train_std": "training a fresh standard network",
    "train_adv": "training a fresh adversarial network",
    "attacks": "targeted NRF-PGD / RF-PGD attacks",
    "done": "done",
}
DATASET_TEXT = {"digits": "digits (8x8, built in)", "mnist": "MNIST", "cifar10": "CIFAR10", "svhn": "SVHN"}
TABLE1 = {"acc_clean": "clean", "acc_pgd": "PGD", "feat_acc_nonrobust": "non-robust feat.",
          "feat_acc_robust": "robust feat."}
# The paper's Table 1 (clean, PGD, non-robust feature, robust feature accuracy); digits compares with MNIST.
PAPER_TABLE1 = {
    "mnist": ("MNIST, ResNet18, l_inf 0.3", {"std": (0.9956, 0.0004, 0.8811, 0.4461),
                                             "adv": (0.9941, 0.9443, 0.3949, 0.6919)}),
    "cifar10": ("CIFAR10, WRN-34-10, l_inf 8/255", {"std": (0.9574, 0.0000, 0.9179, 0.6126),
                                                    "adv": (0.8628, 0.4513, 0.1088, 0.6788)}),
    "svhn": ("SVHN, WRN-34-10, l_inf 8/255", {"std": (0.9684, 0.0016, 0.7391, 0.6538),
                                              "adv": (0.9199, 0.5855, 0.3550, 0.7704)}),
}
PAPER_ROW = {"digits": "mnist", "mnist": "mnist", "cifar10": "cifar10", "svhn": "svhn"}
# The paper's Table 2: success on the CIFAR10 standard network, cat->dog, dog->cat, car->plane, plane->car.
PAPER_TABLE2 = {"nrf_pgd": "71.4 / 80.4 / 54.1 / 76.7 %", "rf_pgd": "9.6 / 15.2 / 0.3 / 0.4 %"}
SAMPLE_ROWS = {"target": "targets x (their labels below)", "start": "starts z₀ (a test image of another class)",
               "nonrobust": "non-robust dataset: z matched to g_std(x), labelled y",
               "robust": "robust dataset: z matched to g_adv(x), labelled y"}
IMAGE_PX = 56


DATA_ENV = "RFL_DATA_DIR"


def data_root() -> Path:
    """The operator's data directory: RFL_DATA_DIR, else data_dir in .streamlit/secrets.toml, else data/."""
    return Path(os.environ.get(DATA_ENV) or server_settings().get("data_dir") or "data").expanduser().resolve()


def data_folder(typed: str) -> str:
    """The typed folder inside the data directory, resolved; ConfigError for anything that leaves it (an
    absolute path elsewhere, .., a link out) without looking at what is there."""
    root = data_root()
    folder = (root / typed.strip()).resolve()
    if not folder.is_relative_to(root):
        raise ConfigError("data_dir", "the folder must be inside the server's data directory (set by its operator "
                                      f"as {DATA_ENV}); type a folder name in it, such as mnist")
    return str(folder)


def build_config(dataset: str, data_dir: str, quick: bool, seed: int) -> tuple[RealConfig | None, ConfigError | None]:
    """The preset with the form's values; for a file dataset, also that its files are there (nothing is read)."""
    try:
        folder = data_folder(data_dir or dataset) if dataset != "digits" else ""
        cfg = RealConfig.for_dataset(dataset, quick=quick, seed=int(seed), data_dir=folder)
        check_data_dir(cfg.dataset, cfg.data_dir)
        return cfg, None
    except ConfigError as err:
        return None, ConfigError(err.field, _inside(str(err).split(": ", 1)[-1]))
    except (OSError, RuntimeError, ValueError) as err:  # too long, a NUL byte: not a path
        return None, ConfigError("data_dir", f"not a usable folder name ({' '.join(str(err).split())[:120]}); "
                                             f"type a folder holding {LAYOUT.get(dataset, 'the files')}")


def _inside(message: str) -> str:
    """A message about a folder, naming it from the data directory on: the server's own paths stay unsaid."""
    root = str(data_root())
    return message.replace(root + os.sep, "").replace(root, "the data directory")


def describe(cfg: RealConfig) -> str:
    data = "all images" if not cfg.n_train else f"{cfg.n_train} train / {cfg.n_test or 'all'} test images"
    guess = "about half a minute on 2 CPU cores" if cfg.dataset == "digits" and cfg.quick else (
        "minutes on a CPU" if cfg.quick else "long: meant for a GPU")
    return (f"{cfg.model_name} (width {cfg.width or 'default'}), {cfg.threat} eps {cfg.eps:.3g}, {cfg.epochs} epochs, "
            f"PGD-{cfg.pgd_steps} training, {data}. Expected time: {guess}.")


@one_line
def submit(cfg: RealConfig) -> None:
    try:
        ss.real_run = job_manager().submit_real(cfg, client_id=client_id())
        ss.real_polling = True
    except JobRefused as err:
        ss.real_refused = str(err)


def curves(frame: pd.DataFrame) -> tuple[go.Figure, go.Figure]:
    return real_figures(frame)  # the builders live with the Lab's in core/figures/charts.py


def table1(result: dict, dataset: str) -> tuple[pd.DataFrame, str]:
    label, paper = PAPER_TABLE1[PAPER_ROW[dataset]]
    rows = []
    for mode in ("std", "adv"):
        row = {"training": RUN_LABEL[mode]}
        for (key, name), theirs in zip(TABLE1.items(), paper[mode], strict=True):
            row[f"{name} · ours"] = result["runs"][mode][key]
            row[f"{name} · paper"] = theirs
        rows.append(row)
    return pd.DataFrame(rows), label


def table2(result: dict) -> pd.DataFrame:
    attacks = result["attacks"]
    return pd.DataFrame([{"attack": f"{name} (matches {ref})", "on standard net · ours": attacks[key]["std"],
                          "on adversarial net · ours": attacks[key]["adv"],
                          "on standard net · paper (CIFAR10)": PAPER_TABLE2[key]}
                         for key, name, ref in (("nrf_pgd", "NRF-PGD", "g_std"), ("rf_pgd", "RF-PGD", "g_adv"))])


def picture(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W) or (H, W, 3), enlarged by whole pixels so that 8x8 digits stay crisp."""
    scale = max(1, IMAGE_PX // image.shape[-1])
    image = image.repeat(scale, axis=1).repeat(scale, axis=2)
    image = np.pad(image, ((0, 0), (3, 3), (3, 3)), constant_values=255)  # a white gap between neighbours
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def show_results(run_id: str, run: dict) -> None:
    store = run_store()
    result = load_result(store, run_id)
    if not result or not {"std", "adv"} <= set(result.get("runs", {})):
        return
    dataset = result["config"]["dataset"]
    frame, label = table1(result, dataset)
    st.subheader("Table 1: what each network learned")
    numbers = {c: st.column_config.NumberColumn(format="%.3f") for c in frame.columns if c != "training"}
    st.dataframe(frame, hide_index=True, column_config=numbers)
    cfg = result["config"]
    st.caption(f"Accuracies after the last epoch. Ours: {DATASET_TEXT[dataset]}, {cfg['threat']} eps "
               f"{cfg['eps']:.3g}. Paper: Table 1, {label}. Feature acc = accuracy on the representative "
               f"dataset built from that network's features (Definition 4.1).")
    if result.get("attacks", {}).get("rf_pgd"):
        st.subheader("Table 2: targeted feature attacks")
        frame2 = table2(result)
        st.dataframe(frame2, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in frame2.columns if c.endswith("ours")})
        baseline = result["attacks"].get("clean_baseline", {})
        st.caption(f"Success = the fresh network predicts the random target class. Untouched sources are already "
                   f"called the target {baseline.get('std', float('nan')):.3f} (standard) / "
                   f"{baseline.get('adv', float('nan')):.3f} (adversarial) of the time. Paper: Table 2 "
                   f"(cat→dog, dog→cat, car→plane, plane→car); against the adversarial net both stay low.")
    if result["status"] == "finished" and result.get("attacks", {}).get("rf_pgd"):
        st.subheader("The paper's claims on this run")
        for claim in real_claims(result):
            mark = ":material/check_circle:" if claim.holds else ":material/cancel:"
            st.markdown(f"{mark} {claim.name} — {claim.detail}")
    samples = load_samples(store, run_id)
    if samples and samples["images"]:
        st.subheader("Representative datasets: examples")
        labels = samples["labels"]
        for kind, text in SAMPLE_ROWS.items():
            images = samples["images"].get(kind)
            if images is None:
                continue
            st.caption(text)
            captions = [str(y) for y in labels] if kind == "target" and labels else None
            st.image([picture(im) for im in images], caption=captions)


def live(run_id: str) -> None:
    """Polls while the run is active (every second alone; pages/_polling.py); one full rerun when it ends
    shows the tables."""
    store = run_store()
    run = store.get_run(run_id)
    if run is None:
        st.warning("That run is not in the run store any more.")
        return
    active = run["status"] in ACTIVE
    if not active and ss.get(keys.REAL_POLLING):
        ss.real_polling = False
        st.rerun()
    ss.real_polling = active
    stage = load_progress(store, run_id).get("stage")
    percent = run.get("step") or 0
    if run["status"] == "queued":
        position = job_manager().queue_position(run_id)
        text = f"queued (position {position})" if position else "queued"
    else:
        text = f"{percent}% · {STAGE_TEXT.get(stage, stage or 'starting')}" + (
            "" if active or run["status"] == "finished" else f" · {run['status']}")
    st.progress(min(percent, 100) / 100, text=text)
    if active and can_change([run]):  # only the session that started it, or the admin
        st.button("Stop", key=keys.REAL_STOP, on_click=stop_runs, args=([run_id],))
    elif active:
        st.caption(READ_ONLY_STOP.replace("these runs", "this run").replace("stop them", "stop it"))
    elif run["status"] != "finished":
        st.error(f"The run ended {run['status']}: {md_escape(run.get('error') or 'no reason recorded')}")
    frame = store.metrics_frame(run_id)
    if frame.empty:
        st.caption("Curves appear once the fresh networks train (after the reference networks and the "
                   "representative datasets are built).")
        return
    feat, acc = curves(frame)
    left, right = st.columns(2)
    left.plotly_chart(feat, key=keys.REAL_FEAT_CHART, config={"displaylogo": False})
    right.plotly_chart(acc, key=keys.REAL_ACC_CHART, config={"displaylogo": False})


st.title(":material/image: Real images: which features does a network learn?")
st.caption("The paper's Section 6.2 on real images: reference networks define robust and non-robust "
           "representative datasets; fresh standard and adversarial networks are then scored on each while they "
           "train (feature learning accuracy), and attacked with NRF-PGD / RF-PGD.")

form, out = st.columns([1, 3])
with form:
    dataset = st.selectbox("dataset", DATASETS, format_func=DATASET_TEXT.get, key=keys.REAL_DATASET)
    data_dir = ""
    if dataset != "digits":
        data_dir = st.text_input("data folder", dataset, key=f"real_dir_{dataset}",
                                 help=f"A folder in the server's data directory. Expected: {LAYOUT[dataset]}.")
    quick = st.toggle("quick preset", True, key=keys.REAL_QUICK,
                      help="Small budgets that fit a CPU; off = the full preset (the paper's model, for a GPU).")
    seed = st.number_input("seed", 0, 1_000_000, 0, key=keys.REAL_SEED)
    cfg, error = build_config(dataset, data_dir, quick, seed)
    if error is not None:
        st.error(md_escape(str(error)), icon=":material/error:")  # quotes the typed folder: never markdown
    else:
        st.caption(describe(cfg))
    run_id = ss.get(keys.REAL_RUN)
    current = run_store().get_run(run_id) if run_id else None
    busy = current is not None and current["status"] in ACTIVE
    st.button("Run", type="primary", key=keys.REAL_RUN_BUTTON, disabled=error is not None or busy,
              on_click=submit, args=(cfg,))
    if refused := ss.pop(keys.REAL_REFUSED, None):
        st.error(md_escape(refused))

with out:
    run_id = ss.get(keys.REAL_RUN)
    if not run_id:
        st.info("Pick a dataset and press Run. The quick digits run takes about half a minute; its curves "
                "appear here while it trains, then the paper's Tables 1 and 2 with our numbers beside them.")
    else:
        active = (run_store().run_status(run_id) or "") in ACTIVE
        live_fragment(live, active, run_id)

if run_id and (run := run_store().get_run(run_id)) is not None and run["status"] not in ACTIVE:
    show_results(run_id, run)  # full width, below the form and the curves
