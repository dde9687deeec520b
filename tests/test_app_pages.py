"""Every page under streamlit's AppTest: renders, controls change the config, bad input is refused.

The Lab exposes what it built in session state (lab_config, lab_error) for these tests.
"""

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages._common import parse_config_upload

TIMEOUT = 60
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def app(**params) -> AppTest:
    """The Lab, opened from a link with these query parameters (the first screen is the app's default page)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at.switch_page("pages/lab.py").run()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_every_page_renders(app_env):
    at = app()
    no_exceptions(at)
    assert at.title[0].value.endswith("The Lab")
    assert at.session_state["lab_config"]["k"] == 5  # the classroom preset by default
    for page, title in (("pages/theory.py", "Theory"), ("pages/runs.py", "Runs"), ("pages/about.py", "About")):
        at.switch_page(page).run()
        no_exceptions(at)
        assert at.title[0].value.endswith(title)


def test_every_rerun_goes_through_the_frame(app_env):
    """A pages/ folder makes streamlit run a page alone until st.navigation was seen (a deep link after a
    server start; AppTest on every rerun): pages hand such runs back to app.py (leave_pages_v1)."""
    at = app()
    at.switch_page("pages/theory.py").run()
    no_exceptions(at)
    assert at.toggle(key="frame_presentation") is not None  # the sidebar of app.py is there
    assert at.query_params["preset"] == "classroom"  # and so is its URL sync


def test_changing_a_control_changes_the_config_and_the_url(app_env):
    at = app()
    at.number_input(key="lab_f_eps").set_value(0.2).run()
    no_exceptions(at)
    assert at.session_state["lab_config"]["eps"] == 0.2
    assert at.query_params["eps"] == "0.2" and at.query_params["preset"] == "classroom"
    at.selectbox(key="lab_f_threat_model").set_value("linf").run()
    assert at.session_state["lab_config"]["threat_model"] == "linf"


def test_invalid_input_shows_the_message_by_its_field_and_disables_run(app_env):
    at = app()
    assert not at.button(key="lab_run").disabled
    at.number_input(key="lab_f_d").set_value(5).run()
    no_exceptions(at)
    assert at.session_state["lab_config"] is None
    assert at.session_state["lab_error"][0] == "d"
    assert any("d: 5 is too small" in e.value for e in at.error)
    assert at.button(key="lab_run").disabled
    at.number_input(key="lab_f_d").set_value(40).run()
    assert not at.button(key="lab_run").disabled and at.session_state["lab_config"]["d"] == 40


def test_preset_picker_loads_the_preset(app_env):
    at = app()
    at.number_input(key="lab_f_eps").set_value(0.2).run()
    at.selectbox(key="lab_preset_pick").set_value("figure3").run()
    no_exceptions(at)
    cfg = at.session_state["lab_config"]
    assert (cfg["k"], cfg["train_attack"], cfg["eps"]) == (10, "pgd", 0.3)  # the edit is replaced by the preset
    assert at.number_input(key="lab_f_k").value == 10


def test_a_shared_link_restores_the_setup(app_env):
    at = app(preset="dense-loses", eps="0.25", steps="120", threat_model="l2")
    no_exceptions(at)
    cfg = at.session_state["lab_config"]
    assert (cfg["s"], cfg["eps"], cfg["steps"], cfg["threat_model"]) == (4, 0.25, 120, "l2")
    assert at.selectbox(key="lab_preset_pick").value == "dense-loses"


def test_a_bad_link_value_is_reported_not_applied(app_env):
    at = app(preset="nosuch", eps="abc")
    no_exceptions(at)
    notes = " ".join(w.value for w in at.warning)
    assert "unknown preset" in notes and "eps" in notes
    assert at.session_state["lab_config"]["eps"] == 0.3


def test_the_lab_says_how_long_the_pair_will_take_before_it_starts(app_env):
    at = app()
    no_exceptions(at)
    estimate = [c for c in at.caption if c.value.startswith(":material/timer: About")]
    assert len(estimate) == 1
    # on a GPU server the runs share no cores, and the CPU's figure is said to be an upper bound
    on_gpu = torch.cuda.is_available()
    assert ("(each alone:" if on_gpu else "for both runs side by side (each alone on") in estimate[0].value
    assert ("a GPU is faster" in estimate[0].value) == on_gpu
    assert "standard" in estimate[0].value and "MiB of memory per run" in estimate[0].value
    assert "side by side" in estimate[0].help  # how the pair's time is counted, one hover away


def test_presentation_mode_hides_advanced_controls(app_env):
    at = app()
    assert at.number_input(key="lab_f_k") is not None
    at.toggle(key="frame_presentation").set_value(True).run()
    no_exceptions(at)
    keys = {w.key for w in at.number_input}
    assert "lab_f_eps" in keys and "lab_f_k" not in keys
    assert at.query_params["present"] == "1"
    assert at.session_state["lab_config"]["k"] == 5  # hidden knobs keep their values


def test_the_lab_shows_a_finished_pair_from_the_link(app_finished_pair):
    at = app(preset="classroom", pair=app_finished_pair["pair"])
    no_exceptions(at)
    assert at.session_state["lab_runs"]["std"] == app_finished_pair["std"]
    texts = " ".join(m.value for m in at.markdown)
    assert "learned the" in " ".join(s.value for s in at.success)
    assert "Test example 0 is of class" in texts  # the adversarial-patch view
    assert len(at.get("plotly_chart")) >= 4  # correlations, accuracies, patches, decomposition
    at.toggle(key="lab_theory").set_value(True).run()
    at.toggle(key="lab_raw").set_value(True).run()
    no_exceptions(at)


class FakeManager:
    """Stands in for core.runs.jobs.JobManager: queues runs in the store, never trains."""

    def __init__(self, store):
        self.store = store
        self.cancelled = []

    def submit_twins(self, cfg, *, client_id, preset=None, fresh=False):
        from core.runs.store import new_id

        pair = new_id()
        return {mode: self.store.create_run(cfg, mode, pair_id=pair, preset=preset, client_id=client_id)
                for mode in ("std", "adv")}

    def queue_position(self, run_id):
        return 1

    def cancel(self, run_id, **_):
        self.cancelled.append(run_id)
        return self.store.finish_run(run_id, "cancelled", "cancelled by the user")

    def release(self, run_id, requester):  # the only watcher: its Stop cancels the run
        return self.cancel(run_id)

    def status(self, run_id):
        return (self.store.get_run(run_id) or {}).get("status")


def test_run_submits_twins_then_stop_cancels_them(app_env, monkeypatch):
    import pages._common as common
    import pages._live as live
    import pages._owner as owner

    at = app()
    fake = FakeManager(common.run_store())
    for module in (common, live, owner):  # the Lab's Run button and the live panel's Stop button
        monkeypatch.setattr(module, "job_manager", lambda: fake)
    at.button(key="lab_run").click().run()
    no_exceptions(at)
    runs = at.session_state["lab_runs"]
    assert {"std", "adv", "pair"} <= set(runs) and at.query_params["pair"] == runs["pair"]
    assert at.button(key="lab_run").disabled  # one pair at a time
    assert any("queued" in p.proto.text for p in at.get("progress"))
    at.button(key="lab_stop").click().run()
    no_exceptions(at)
    assert sorted(fake.cancelled) == sorted([runs["std"], runs["adv"]])


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"k": 4, "d": 12, "s": 1, "P": 20}', None),
        (b'{"config": {"eps": 0.2}, "preset": "classroom"}', None),
        (b'{"k": 4, "d": 5}', "d: 5 is too small"),
        (b'{"k": "__import__(\'os\')"}', "k: expected an integer"),
        (b'{"nope": 1}', "nope: unknown field"),
        (b"[1, 2]", "expected a JSON object"),
        (b"not json", "not valid JSON"),
        (b"[" * 100_000, "is at most"),
    ],
)
def test_config_import_is_validated_never_executed(content, expected):
    cfg, preset, error = parse_config_upload(content)
    if expected is None:
        assert cfg is not None and error is None
    else:
        assert cfg is None and expected in error


def test_runs_page_imports_a_config_into_the_lab(app_finished_pair):
    at = app()
    at.switch_page("pages/runs.py").run()
    no_exceptions(at)
    assert len(at.dataframe) == 1
    upload = json.dumps({"config": {**app_finished_pair["config"].to_dict(), "eps": 0.21}}).encode()
    at.file_uploader(key="runs_upload").upload("config.json", upload, "application/json").run()
    no_exceptions(at)
    at.button(key="runs_load").click().run()
    no_exceptions(at)
    assert at.session_state["lab_config"]["eps"] == 0.21  # switched to the Lab with the imported setup


def test_every_config_field_has_a_knob():
    from dataclasses import fields

    from core.engine.config import Config
    from pages._fields import FIELDS, GROUPS

    assert sorted(f.name for f in FIELDS) == sorted(f.name for f in fields(Config))
    assert all(f.group in GROUPS and f.help for f in FIELDS)


def test_link_text_is_shown_escaped_never_as_markup(app_env):
    at = app(eps="![x](http://example.invalid/t.png)")
    no_exceptions(at)
    shown = " ".join(w.value for w in at.warning)
    assert "\\!\\[x\\]\\(http" in shown  # escaped: renders as literal text, not as an image


def test_the_servers_refresh_budget_is_shared_by_the_sessions_polling():
    """Every refresh of every open live panel costs the one server process: one session polls every second,
    fifteen share the budget (5 s each), a crowd is capped so a status line stays live."""
    from pages._polling import MAX_POLL_S, MIN_POLL_S, REFRESHES_PER_S, share_s

    assert share_s(1) == MIN_POLL_S and share_s(int(REFRESHES_PER_S)) == MIN_POLL_S
    assert share_s(15) == 15 / REFRESHES_PER_S == 5.0
    assert share_s(10_000) == MAX_POLL_S
    assert all(share_s(n) <= share_s(n + 1) for n in range(100))
