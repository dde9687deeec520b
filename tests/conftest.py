"""Shared fixtures. Each is named for the tests that use it; add new ones under their own names.

Hypothesis profiles (HYPOTHESIS_PROFILE selects; ci is the default): ``ci`` keeps the property suites
(tests/test_fuzz_*.py) within about a minute on 2 cores; ``thorough`` runs ten times the examples, on demand.
The AppTest-based properties take a quarter of the profile's count (each example renders a page).

The lanes: ``python -m pytest -q`` runs everything (CI, the README's command); the quick lane for daily
work, ``python -m pytest -q -m "not browser and not cluster and not training"``, leaves out the tests
that drive Chromium, that start a Dask cluster, and that train for long or start job workers. The
markers are given here, by file and name (LANES), so that a test file needs no decorator of its own.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

# ci: the same examples on every run, so a CI result does not depend on the draw; thorough explores afresh
settings.register_profile("ci", max_examples=120, deadline=None, print_blob=True, derandomize=True)
settings.register_profile("thorough", max_examples=1200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Files whose tests train for long (whole presets, several seeds) or start job-worker processes.
TRAINING_FILES = {"test_claims.py", "test_jobs.py", "test_faults.py", "test_shared_cores.py", "test_real_jobs.py",
                  "test_real_pipeline.py", "test_ownership.py", "test_app_lesson.py", "test_lesson_claims.py"}
LANES = {
    "browser": lambda item: item.path.name.startswith("test_browser_"),
    "cluster": lambda item: item.path.name == "test_dask_cluster.py" or "dask" in item.name,
    "training": lambda item: item.path.name in TRAINING_FILES,
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, belongs in LANES.items():
            if belongs(item):
                item.add_marker(marker)


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """For the dashboard's AppTest tests: an empty run store of their own, no job workers started.

    The store and the job manager are st.cache_resource singletons of this process, so the caches
    are cleared before and after: each test sees its own store.
    """
    import streamlit as st

    store = tmp_path / "runs.sqlite"
    monkeypatch.setenv("RFL_STORE", str(store))
    monkeypatch.setenv("RFL_PREWARM", "0")
    st.cache_resource.clear()
    yield store
    st.cache_resource.clear()


@pytest.fixture
def app_finished_pair(app_env):
    """A finished twin pair of a tiny classroom run in the app_env store, trained the way a job worker does."""
    import torch

    from core.engine.presets import get_preset
    from core.engine.train import train
    from core.runs.recorder import RunRecorder
    from core.runs.store import RunStore, new_id

    cfg = get_preset("classroom").config(steps=20, eval_every=10, n_train=30, n_test=12, device="cpu", threads=1)
    store = RunStore(app_env)
    pair = new_id()
    ids = {}
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for mode in ("std", "adv"):
            run_id = store.create_run(cfg, mode, pair_id=pair, preset="classroom", client_id="test")
            store.start_run(run_id, "cpu")
            recorder = RunRecorder(store, run_id, flush_s=0.0)
            result = train(cfg, mode, callback=recorder)
            recorder.flush()
            store.finish_run(run_id, result.status, result.reason)
            ids[mode] = run_id
    finally:
        torch.set_num_threads(before)
    store.close()
    return {"pair": pair, "config": cfg, **ids}


@pytest.fixture
def float64_default():
    """torch's default dtype float64 for a test that holds two computations equal to rounding, float32 after."""
    import torch

    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module whose tests train in this process (two cores shared by the suite),
    and the count restored afterwards, so that no later module inherits it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
