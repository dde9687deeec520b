"""The Real images page under AppTest: it renders, a bad data folder is refused, a finished run shows Table 1."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.real import RealConfig
from core.runs.real_runs import MODE, PERCENT, record_real
from core.runs.store import RunStore

TIMEOUT = 60
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def real_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/real.py").run()
    no_exceptions(at)
    return at


@pytest.fixture
def finished_real_run(app_env):
    """A micro real run recorded in the app_env store the way a job worker records it."""
    cfg = RealConfig.for_dataset("digits", quick=True, seed=0, n_train=200, n_test=60, epochs=2, ref_epochs=1,
                                 width=8, pgd_steps=1, eval_pgd_steps=2, inversion_steps=3, attack_steps=2, n_rep=20,
                                 n_attack=20, threads=1, device="cpu")
    store = RunStore(app_env)
    run_id = store.create_run(cfg, MODE, preset="digits-quick", client_id="test", steps=PERCENT)
    before = torch.get_num_threads()
    try:
        result = record_real(store, run_id, cfg, flush_s=0.0)
    finally:
        torch.set_num_threads(before)
    store.finish_run(run_id, result.status, result.reason)
    store.close()
    return run_id


def test_the_page_renders_with_digits_ready_to_run(app_env):
    at = real_page()
    assert at.title[0].value.endswith("which features does a network learn?")
    assert at.selectbox(key="real_dataset").value == "digits"
    assert not at.button(key="real_run_button").disabled
    assert not at.error


def test_a_missing_data_folder_is_a_clear_error_and_disables_run(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("RFL_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data" / "empty").mkdir(parents=True)
    at = real_page()
    at.selectbox(key="real_dataset").set_value("mnist").run()
    at.text_input(key="real_dir_mnist").set_value("no_mnist_here").run()
    no_exceptions(at)
    message = at.error[0].value
    assert "data\\_dir" in message and "does not exist" in message and "train\\-images\\-idx3\\-ubyte" in message
    assert str(tmp_path) not in message.replace("\\", "")  # the server's own paths stay unsaid
    assert at.button(key="real_run_button").disabled
    at.text_input(key="real_dir_mnist").set_value("empty").run()
    assert "missing train\\-images\\-idx3\\-ubyte" in at.error[0].value
    at.selectbox(key="real_dataset").set_value("digits").run()
    assert not at.error and not at.button(key="real_run_button").disabled


@pytest.mark.parametrize("typed", ["/etc", "../../etc", "..", "/", "/root/.ssh", "mnist/../../..", "link_out"])
def test_the_data_folder_stays_inside_the_data_directory(app_env, tmp_path, monkeypatch, typed):
    """Nothing outside the operator's data directory is looked at: absolute paths, .., a link out."""
    monkeypatch.setenv("RFL_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "link_out").symlink_to("/etc")
    looked = []
    monkeypatch.setattr("core.real.datasets.check_data_dir", lambda *a: looked.append(a))
    at = real_page()
    at.selectbox(key="real_dataset").set_value("mnist").run()
    at.text_input(key="real_dir_mnist").set_value(typed).run()
    no_exceptions(at)
    assert [e.value.count("inside the server's data directory") for e in at.error] == [1]
    root = str((tmp_path / "data").resolve())
    assert all(folder == "" or folder.startswith(root + "/") for _, folder in looked), looked  # never probed
    assert at.button(key="real_run_button").disabled


def test_a_finished_run_from_the_url_shows_table_1_claims_and_images(finished_real_run):
    at = real_page(real=finished_real_run)
    assert at.session_state["real_run"] == finished_real_run
    assert at.query_params["real"] == finished_real_run  # the frame keeps it in the URL
    assert "100%" in at.get("progress")[0].proto.text
    table1 = at.dataframe[0].value
    assert list(table1["training"]) == ["standard", "adversarial"]
    for name in ("clean", "PGD", "non-robust feat.", "robust feat."):
        assert f"{name} · ours" in table1 and f"{name} · paper" in table1
    assert table1["non-robust feat. · paper"].tolist() == [0.8811, 0.3949]  # MNIST row beside digits
    table2 = at.dataframe[1].value
    assert list(table2["attack"].str[:6]) == ["NRF-PG", "RF-PGD"]
    claims = [m.value for m in at.markdown if m.value.startswith((":material/check_circle:", ":material/cancel:"))]
    assert len(claims) == 5
    images = at.get("image")
    assert len(images) == 4 and all(len(i.value) == 16 for i in images)  # targets, starts, both datasets
    assert images[0].captions[0].isdigit()  # the targets carry their labels


def test_only_the_session_that_started_a_real_run_may_stop_it(app_env):
    """A shared ?real= link shows a running run read-only: no Stop, one line saying why."""
    store = RunStore(app_env)
    cfg = RealConfig.for_dataset("digits", quick=True, seed=0)
    run_id = store.create_run(cfg, MODE, preset="digits-quick", client_id="alice", steps=PERCENT, status="running")
    store.close()

    def visit(client: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["client_id"] = client
        at.query_params["real"] = run_id
        at.run()
        at.switch_page("pages/real.py").run()
        no_exceptions(at)
        return at

    bob = visit("bob")
    assert "real_stop" not in [b.key for b in bob.button]
    assert any("only it or the server's admin can stop it" in c.value for c in bob.caption)
    alice = visit("alice")
    assert "real_stop" in [b.key for b in alice.button]


@pytest.mark.parametrize("link", ["runs={0},{0}", "seedruns={0},{0},{0},{0}&nseeds=2", "pair=abc&runs={0},abc"])
def test_a_lab_link_naming_a_real_run_gets_one_line(app_env, link):
    """A real-image run's id in a Lab link: a note naming the page that shows it, not the Lab's charts."""
    store = RunStore(app_env)
    cfg = RealConfig.for_dataset("digits", quick=True, seed=0)
    run_id = store.create_run(cfg, MODE, preset="digits-quick", client_id="alice", steps=PERCENT, status="finished")
    store.log_batch(run_id, rows=[{"step": 0, "std_acc_clean": 0.5}], step=PERCENT)
    store.close()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for pair in link.format(run_id).split("&"):
        key, value = pair.split("=")
        at.query_params[key] = value
    at.run()
    no_exceptions(at)
    notes = [w.value for w in at.warning if "real run" in w.value]
    assert len(notes) == 1 and "Real images page" in notes[0] and "\n" not in notes[0]
