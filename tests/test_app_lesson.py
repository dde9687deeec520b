"""The Lesson page under AppTest: predict before Run, reveal only after finished runs, links, Back/Next; and the
Lab's several seeds (one twin pair per seed, bands on the charts, a verdict per seed). Nothing trains here:
a stand-in manager queues runs in the store and the tests write their metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.lesson import get_chapter

TIMEOUT = 60
APP = str(Path(__file__).resolve().parents[1] / "app.py")
STEPS = (0, 20, 40, 60)


def lesson(**params) -> AppTest:
    """The Lesson, opened from a link to the app's root with these parameters (a chapter opens the Lesson), or
    from the first screen's link when they name none."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at if "chapter" in params else at.switch_page("pages/lesson.py").run()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [s.value for s in at.success]
    return " ".join(parts + [w.value for w in at.warning] + [h.value for h in at.header])


def fake_rows(mode: str) -> list[dict]:
    """Metrics a run of that mode could log: standard learns v; adversarial switches to u (a phase transition)."""
    rows = []
    for i, step in enumerate(STEPS):
        late = i >= 2
        if mode == "std":
            row = dict(corr_robust=0.1, corr_nonrobust=0.9, acc_clean=1.0, acc_pgd=0.0, acc_swap=0.0,
                       acc_robust_feature=0.2, acc_nonrobust_feature=1.0)
        else:
            row = dict(corr_robust=0.9 if late else 0.1, corr_nonrobust=0.1 if late else 0.5, acc_clean=1.0,
                       acc_pgd=0.8, acc_swap=1.0, acc_robust_feature=1.0, acc_nonrobust_feature=0.2)
        rows.append({"step": step, **row, "lambda_robust": row["corr_robust"], "gamma_nonrobust": row["corr_nonrobust"],
                     "loss": 1.0 / (i + 1)})
    return rows


def finish(store, run_id: str, mode: str, status: str = "finished") -> None:
    store.start_run(run_id, "cpu")
    store.log_metrics(run_id, fake_rows(mode))
    store.finish_run(run_id, status, None if status == "finished" else f"{status} by the test")


class FakeManager:
    """Stands in for core.runs.jobs.JobManager: queues runs in the store, never trains."""

    def __init__(self, store):
        self.store = store
        self.submitted = []

    def submit(self, cfg, mode, *, client_id="local", preset=None, pair_id=None, fresh=False):
        if not fresh and (cached := self.store.find_cached(cfg, mode)):
            return cached
        run_id = self.store.create_run(cfg, mode, pair_id=pair_id, preset=preset, client_id=client_id)
        self.submitted.append((run_id, mode, cfg))
        return run_id

    def submit_twins(self, cfg, *, client_id="local", preset=None, fresh=False, modes=("std", "adv")):
        from core.runs.store import new_id

        pair = new_id()
        return {mode: self.submit(cfg, mode, client_id=client_id, preset=preset, pair_id=pair, fresh=True)
                for mode in modes}

    def queue_position(self, run_id):
        return 1

    def cancel(self, run_id, **_):
        return self.store.finish_run(run_id, "cancelled", "cancelled by the user")

    def release(self, run_id, requester):  # the only watcher: its Stop cancels the run
        return self.cancel(run_id)

    def status(self, run_id):
        return (self.store.get_run(run_id) or {}).get("status")


@pytest.fixture
def fake(app_env, monkeypatch):
    import pages._common as common
    import pages._lesson_runs as lesson_runs
    import pages._live as live

    manager = FakeManager(common.run_store())
    for module in (common, live, lesson_runs):
        monkeypatch.setattr(module, "job_manager", lambda: manager)
    return manager


def answer(at: AppTest, index: int) -> AppTest:
    radio = next(r for r in at.radio if r.key and r.key.startswith("lesson_answer_"))
    return radio.set_value(index).run()


# ---- the Lesson ------------------------------------------------------------------------------------
def test_the_lesson_opens_on_the_data_and_run_waits_for_a_prediction(app_env):
    at = lesson()
    no_exceptions(at)
    assert at.title[0].value.endswith("The Lesson")
    shown = texts(at)
    assert shown.index("What this is") < shown.index("The data.") < shown.index(get_chapter(1).question)
    assert at.get("plotly_chart"), "the opening shows one example before the first question"
    assert "Chapter 1 of 8" in " ".join(p.proto.text for p in at.get("progress"))
    assert at.button(key="lesson_run").disabled  # no prediction yet
    assert "Verdict" not in texts(at)
    answer(at, 0)
    no_exceptions(at)
    assert not at.button(key="lesson_run").disabled
    at.button(key="lesson_run").click().run()  # chapter 1 trains nothing: its reveal is the data itself
    no_exceptions(at)
    assert "Verdict" in texts(at) and ("Right" in texts(at) or "Not this time" in texts(at))
    assert len(at.get("plotly_chart")) >= 1  # one example's patches, from the opening
    assert next(r for r in at.radio if r.key == "lesson_answer_1").disabled  # no changing the answer afterwards


def test_bad_links_get_one_line_and_fall_back(app_env):
    at = lesson(chapter="99", seeds="abc")
    no_exceptions(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "chapter must be 1" in warnings and "seeds must be 1" in warnings
    assert at.header[0].value.startswith("1.")
    assert at.query_params["chapter"] == "1" and at.query_params["seeds"] == "3"
    at = lesson(chapter="0", seeds="9")
    no_exceptions(at)
    assert len(at.warning) == 2 and at.header[0].value.startswith("1.")
    at = lesson(chapter="4", seeds="2")
    no_exceptions(at)
    assert not at.warning and at.header[0].value.startswith("4.") and at.query_params["seeds"] == "2"


def test_back_and_next_move_between_chapters_and_the_url_follows(app_env):
    at = lesson(chapter="2")
    assert at.header[0].value.startswith("2.")
    at.button(key="lesson_next").click().run()
    no_exceptions(at)
    assert at.header[0].value.startswith("3.") and at.query_params["chapter"] == "3"
    at.button(key="lesson_back").click().run()
    at.button(key="lesson_back").click().run()
    assert at.header[0].value.startswith("1.") and at.button(key="lesson_back").disabled
    at = lesson(chapter="8")
    assert at.button(key="lesson_next").disabled


def chapter_two_runs(store, seeds: int, status: str = "finished") -> dict:
    from core.lesson import get_chapter
    from pages._lesson_runs import wanted

    ids = {}
    for (arm, seed, mode), cfg in wanted(get_chapter(2), seeds).items():
        ids[(arm, seed, mode)] = run_id = store.create_run(cfg, mode, preset=arm, client_id="someone else")
        finish(store, run_id, mode, status)
    return ids


def test_a_chapter_anyone_ran_reveals_at_once_after_the_prediction(fake):
    import pages._common as common

    chapter_two_runs(common.run_store(), seeds=2)
    at = lesson(chapter="2", seeds="2")
    no_exceptions(at)
    assert at.button(key="lesson_run").disabled and "Verdict" not in texts(at)  # still: predict first
    answer(at, 1)
    assert at.button(key="lesson_run").label == "▶ Run and reveal"  # the same whether or not anyone ran it
    at.button(key="lesson_run").click().run()
    no_exceptions(at)
    assert not fake.submitted  # nothing trained: the store had every run
    shown = texts(at)
    assert "Right" in shown and "on 2/2 seeds" in shown and "Look at" in " ".join(i.value for i in at.info)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(specs) == 2  # the standard run's correlations and accuracies
    assert sum(t.get("meta") == "band" for t in specs[0]["data"]) == 2  # two seeds: a band per series
    names = " ".join(t.get("name") or "" for spec in specs for t in spec["data"])
    # chapter 2 asks about standard training: nothing of the adversarial run, the swap or PGD (chapters 3, 4)
    for later in ("adversarial", "swap", "PGD"):
        assert later not in names, later


def test_runs_that_failed_or_were_cancelled_never_reveal(fake):
    import pages._common as common

    at = lesson(chapter="2", seeds="1")
    answer(at, 0)
    at.button(key="lesson_run").click().run()
    no_exceptions(at)
    assert len(fake.submitted) == 2 and "Verdict" not in texts(at)
    assert any("0 of 2 runs finished" in c.value for c in at.caption)
    store = common.run_store()
    (std_id, *_), (adv_id, *_) = fake.submitted
    finish(store, std_id, "std")
    finish(store, adv_id, "adv", status="cancelled")
    at.run()
    no_exceptions(at)
    errors = [e.value for e in at.error]
    assert any("did not finish" in e and "cancelled" in e for e in errors), errors
    assert "Verdict" not in texts(at) and not at.get("plotly_chart")


# ---- the Lab with several seeds ---------------------------------------------------------------------
def test_the_lab_trains_one_pair_per_seed_and_draws_bands(fake):
    import pages._common as common

    at = lesson()
    at.switch_page("pages/lab.py").run()
    at.number_input(key="lab_seeds").set_value(3).run()
    at.button(key="lab_run").click().run()
    no_exceptions(at)
    seeds = sorted(cfg.seed for _, _, cfg in fake.submitted)
    assert seeds == [0, 0, 1, 1, 2, 2]
    groups = at.session_state["lab_runs"]["seeds"]
    assert len(groups) == 3 and at.query_params["nseeds"] == "3"
    store = common.run_store()
    for run_id, mode, _ in fake.submitted:
        finish(store, run_id, mode)
    at.run()
    no_exceptions(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    bands = [t for t in spec["data"] if t.get("meta") == "band"]
    assert len(bands) == 4  # robust and non-robust, standard and adversarial
    assert "on **3/3** seeds" in " ".join(s.value for s in at.success)


def test_one_seed_in_the_lab_is_as_before(fake):
    at = lesson()
    at.switch_page("pages/lab.py").run()
    at.button(key="lab_run").click().run()
    no_exceptions(at)
    assert len(fake.submitted) == 2 and "seeds" not in at.session_state["lab_runs"]
    assert "nseeds" not in at.query_params and "seedruns" not in at.query_params


def test_while_the_seeds_train_the_curves_grow_as_bands(fake):
    import pages._common as common

    at = lesson(chapter="2", seeds="2")
    answer(at, 1)
    at.button(key="lesson_run").click().run()
    store = common.run_store()
    for run_id, mode, _ in fake.submitted:  # the seeds have logged their first steps, none has finished
        store.start_run(run_id, "cpu")
        store.log_metrics(run_id, fake_rows(mode)[:2])
    at.run()
    no_exceptions(at)
    assert "Verdict" not in texts(at)
    assert [p.proto.text for p in at.get("progress")] == ["Chapter 2 of 8"]  # no bare progress bar of the runs
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(t.get("meta") == "band" for t in spec["data"]) == 2
    assert spec["layout"]["xaxis"]["range"][1] == get_chapter(2).experiment.configs("classroom", 1)[0].steps
