"""Only the browser that started a run (or watches it), or the admin, may stop or delete it: in the core and on
the pages. A Stop of one of several watchers only detaches that one; the last watcher's Stop ends the run.

One real JobManager (one worker, slowed steps) on a temp store serves every test here; the pages
get it through pages._common.job_manager, which finds it by the store path (RFL_STORE).
"""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.engine.presets import get_preset
from core.runs.jobs import LOCAL, NotAllowed, Requester, get_manager
from core.runs.owners import token_matches

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TOKEN = "class-admin-token"


def tiny(**changes):
    return get_preset("classroom").config(**{**dict(steps=400, n_train=40, n_test=40, eval_every=5, threads=1,
                                                   device="cpu"), **changes})


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = get_manager(tmp_path_factory.mktemp("owners") / "runs.sqlite", max_workers=1, grace_s=5.0)
    m._debug = {"delay_s": 0.05}  # runs stay active while a test looks at them
    assert m.wait_ready(300)
    yield m
    m.shutdown()


@pytest.fixture
def pages(manager, monkeypatch):
    """AppTest sessions on the manager's store, with an admin token configured on the server."""
    monkeypatch.setenv("RFL_STORE", str(manager.store.path))
    monkeypatch.setenv("RFL_PREWARM", "0")
    monkeypatch.setenv("RFL_ADMIN_TOKEN", TOKEN)
    st.cache_resource.clear()
    yield
    for run_id in manager.active():
        manager.cancel(run_id)
    assert manager.wait(manager.active(), 60)
    st.cache_resource.clear()


def session(client: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["client_id"] = client
    for key, value in params.items():
        at.query_params[key] = value
    return at.switch_page("pages/lab.py").run()  # the Lesson is the default page; runs are the Lab's


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(at: AppTest) -> list:
    return [b.key for b in at.button]


# ---- the core ----------------------------------------------------------------------------------
def test_a_second_session_cannot_stop_or_delete_the_first_ones_run(manager):
    ids = manager.submit_twins(tiny(seed=11), client_id="alice")
    bob = Requester(client_id="bob")
    for run_id in ids.values():
        with pytest.raises(NotAllowed, match="another browser"):
            manager.cancel(run_id, requester=bob)
        with pytest.raises(NotAllowed, match="may delete it"):
            manager.delete(run_id, requester=bob)
        with pytest.raises(NotAllowed):
            manager.cancel(run_id, requester=Requester(client_id=None))  # no identity is nobody's
        assert manager.status(run_id) in ("queued", "running") and not manager.may_change(run_id, bob)
    assert manager.may_change(ids["std"], Requester(client_id="alice"))
    assert manager.cancel(ids["std"], requester=Requester(client_id="alice"))
    assert manager.cancel(ids["adv"], requester=Requester(client_id="bob", admin=True))
    assert manager.wait(ids.values(), 60)
    assert {manager.store.run_status(r) for r in ids.values()} == {"cancelled"}
    # a run that has ended: still alice's to delete, and the command line's (LOCAL, the default)
    with pytest.raises(NotAllowed):
        manager.delete(ids["std"], requester=bob)
    assert manager.delete(ids["std"], requester=Requester(client_id="alice"))
    assert manager.delete(ids["adv"]) and LOCAL.admin
    assert manager.store.get_run(ids["adv"]) is None


def test_the_admin_token_is_compared_whole():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1], TOKEN) and not token_matches("", TOKEN) and not token_matches(TOKEN, None)
    assert not token_matches(None, None)  # no token on the server: nobody is admin


# ---- the pages ---------------------------------------------------------------------------------
def test_the_lab_stop_belongs_to_the_session_that_started_it(manager, pages):
    from pages._owner import ADMIN_KEY, READ_ONLY_STOP

    alice = ok(session("alice"))
    alice.button(key="lab_run").click().run()  # real twins on the real manager
    runs = ok(alice).session_state["lab_runs"]
    assert "lab_stop" in keys(alice) and set(manager.active("alice")) == {runs["std"], runs["adv"]}

    bob = ok(session("bob", preset="classroom", pair=runs["pair"]))  # alice shared her link
    assert bob.session_state["lab_runs"]["std"] == runs["std"]
    assert "lab_stop" not in keys(bob) and READ_ONLY_STOP in [c.value for c in bob.caption]
    bob.text_input(key=ADMIN_KEY).set_value("a guess").run()
    assert "lab_stop" not in keys(ok(bob))
    bob.text_input(key=ADMIN_KEY).set_value(TOKEN).run()
    assert "lab_stop" in keys(ok(bob))  # the admin may stop anyone's run

    carol = ok(session("carol"))
    carol.button(key="lab_run").click().run()  # the same setup: attached to alice's pair, not trained again
    assert {k: ok(carol).session_state["lab_runs"][k] for k in ("std", "adv")} == {k: runs[k] for k in ("std", "adv")}
    assert "lab_stop" in keys(carol) and sorted(manager.active("carol")) == sorted([runs["std"], runs["adv"]])
    carol.button(key="lab_stop").click().run()  # carol leaves: the runs go on for alice
    assert manager.active("carol") == [] and set(manager.active("alice")) == {runs["std"], runs["adv"]}
    assert {manager.status(runs[m]) for m in ("std", "adv")} <= {"queued", "running"}

    alice.button(key="lab_stop").click().run()  # the last watcher: the real jobs stop through the page
    ok(alice)
    assert manager.wait([runs["std"], runs["adv"]], 60)
    assert {manager.store.run_status(runs[m]) for m in ("std", "adv")} == {"cancelled"}


def _delete_as(run_ids, client, token=None):
    """The Runs page's delete callback in a session of its own (AppTest cannot select dataframe rows)."""
    import streamlit as st

    from core.runs.store import RunStore
    from pages._owner import ADMIN_KEY, delete_runs

    st.session_state.client_id = client
    if token:
        st.session_state[ADMIN_KEY] = token
    store = RunStore(None)
    delete_runs([store.get_run(r) for r in run_ids])


def test_the_runs_page_deletes_only_its_own_runs(manager, pages):
    ids = manager.submit_twins(tiny(seed=12), client_id="alice")
    manager.cancel(ids["std"])
    assert manager.wait(ids["std"], 60)  # one ended run, one active
    for run_id in ids.values():
        ok(AppTest.from_function(_delete_as, args=([run_id], "bob")).run())
        assert manager.store.get_run(run_id) is not None
    ok(AppTest.from_function(_delete_as, args=([ids["std"]], "alice")).run())
    assert manager.store.get_run(ids["std"]) is None
    ok(AppTest.from_function(_delete_as, args=([ids["adv"]], "bob", TOKEN)).run())
    assert manager.wait(ids["adv"], 60) and manager.store.get_run(ids["adv"]) is None
