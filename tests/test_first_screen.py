"""The first screen under AppTest: what the root URL opens, the old links that still go elsewhere, and what-ifs
that answer by themselves (a knob moved submits its twins and drops the ones it replaced). A stand-in manager
queues runs in the store and never trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def root(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


class FakeManager:
    """submit_twins into the store (a finished or an active run of the same setup is reused, as the real manager
    does), and release recorded: release(run_id, requester) detaches one watcher."""

    def __init__(self, store):
        self.store = store
        self.released: list[tuple[str, object]] = []

    def submit_twins(self, cfg, *, client_id, preset=None, fresh=False):
        from core.runs.store import new_id

        pair = new_id()
        return {mode: self.store.find_cached(cfg, mode) or self.store.find_latest(cfg, mode, ("queued", "running"))
                or self.store.create_run(cfg, mode, pair_id=pair, preset=preset, client_id=client_id)
                for mode in ("std", "adv")}

    def release(self, run_id, requester):
        self.released.append((run_id, requester))
        return True

    def queue_position(self, run_id):
        return 2


def stand_in(monkeypatch, kind: type) -> FakeManager:
    """The page may start training (as a server with workers does), on a stand-in manager of this kind."""
    import pages._common as common
    import pages._server as server
    import pages._whatif as whatif

    fake = kind(common.run_store())
    for module in (common, whatif):
        monkeypatch.setattr(module, "job_manager", lambda: fake)
    monkeypatch.setattr(server, "workers_allowed", lambda: True)
    monkeypatch.setattr(server, "start", lambda: None)
    return fake


@pytest.fixture
def manager(app_env, monkeypatch):
    return stand_in(monkeypatch, FakeManager)


def test_the_root_url_opens_the_first_screen_with_the_main_knobs(app_env):
    at = root()
    no_exceptions(at)
    text = " ".join(m.value for m in at.markdown)
    assert at.title[0].value == "Robust Feature Lab" and "robust" in text and "adversarial" in text
    assert {s.key for s in at.slider} == {"home_f_alpha", "home_f_beta", "home_f_eps", "home_f_s"}
    assert "preset" not in at.query_params  # a refresh stays here: the URL names no Lab setup


@pytest.mark.parametrize("params, title", [({"chapter": "3"}, "The Lesson"), ({"preset": "dense-loses"}, "The Lab"),
                                           ({"eps": "0.2"}, "The Lab")])
def test_old_links_to_the_root_still_open_their_page(app_env, params, title):
    at = root(**params)
    no_exceptions(at)
    assert at.title[0].value.endswith(title)
    if "chapter" in params:
        assert at.header[0].value.startswith("3.")


def runs_of(at: AppTest) -> str:
    spec = json.loads(at.get("plotly_chart")[-2].proto.spec)  # the correlations
    return spec["layout"]["meta"]["runs"]


def test_a_knob_moved_submits_its_twins_and_releases_the_ones_it_replaced(manager):
    at = root()
    no_exceptions(at)
    first = runs_of(at)
    assert all(first.split(","))  # the classroom twin, without a Run press
    at.slider(key="home_f_eps").set_value(0.2).run()
    no_exceptions(at)
    second = runs_of(at)
    assert second != first
    assert sorted(run_id for run_id, _ in manager.released) == sorted(first.split(","))
    assert all(not who.admin and who.client_id for _, who in manager.released)  # never as the admin
    assert at.session_state["lab_values"]["eps"] == 0.2  # the Lab's link opens the same what-if
    assert "waiting, 2nd in line" in " ".join(c.value for c in at.caption)  # where the request stands
    at.slider(key="home_f_eps").set_value(0.3).run()  # back: the classroom twin, shared, not trained again
    assert runs_of(at) == first


def test_a_lab_link_shows_its_finished_runs_without_a_run_press(app_finished_pair):
    at = root(preset="classroom", steps="20", eval_every="10", n_train="30", n_test="12")
    no_exceptions(at)
    assert at.title[0].value.endswith("The Lab")
    assert at.session_state["lab_runs"]["std"] == app_finished_pair["std"]
    assert "learned the" in " ".join(s.value for s in at.success)


def test_a_lab_link_to_a_new_quick_setup_trains_it_by_itself(manager):
    at = root(preset="classroom", eps="0.2")
    no_exceptions(at)
    runs = at.session_state["lab_runs"]
    assert runs.get("std") and runs.get("adv")  # submitted as a what-if, no Run press
    at.number_input(key="lab_f_eps").set_value(0.25).run()  # a knob changed: the next what-if, the old released
    no_exceptions(at)
    assert at.session_state["lab_runs"]["std"] != runs["std"]
    assert {run_id for run_id, _ in manager.released} == {runs["std"], runs["adv"]}


def test_the_training_attack_cannot_be_unselected(manager):
    at = root()
    at.button_group(key="home_f_train_attack").set_value("one_step").run()
    assert at.session_state["home_values"]["train_attack"] == "one_step"
    at.button_group(key="home_f_train_attack").set_value(None).run()  # the chosen one clicked again
    no_exceptions(at)
    assert not at.error and at.session_state["home_values"]["train_attack"] == "one_step"


def test_the_twin_s_charts_are_built_again_only_when_a_logged_step_arrived(manager, monkeypatch):
    """A what-if polls a few times a second; a refresh without a new step reuses the figures it has."""
    from core.figures import charts
    from core.runs.store import RunStore

    built = []
    real = charts.correlation_figure
    monkeypatch.setattr(charts, "correlation_figure", lambda *a, **kw: built.append(1) or real(*a, **kw))
    at = root()
    no_exceptions(at)
    ids = dict(zip(("std", "adv"), runs_of(at).split(","), strict=True))
    at.run()
    assert len(built) == 1  # the same (empty) runs: not built again
    store = RunStore(manager.store.path)
    for run_id in ids.values():
        store.start_run(run_id, "cpu")
        store.log_batch(run_id, rows=[{"step": 0, "corr_robust": 0.1, "corr_nonrobust": 0.1}], step=0)
    at.run()
    no_exceptions(at)
    assert len(built) == 2  # a step arrived
    at.run()
    assert len(built) == 2
