"""The Lesson's chapters as data, its input errors, chapter_verdict on made-up runs, the store helpers
and the ``python -m core lesson`` contract (chapters 1 and 5 at one seed, to keep it cheap)."""

import json

import pytest

from core.cli.main import main
from core.engine.config import Config
from core.lesson import (
    CHAPTERS,
    CHECKS,
    LessonError,
    chapter_verdict,
    check_seeds,
    get_chapter,
    lesson_jobs,
    real_run,
    run_from_history,
)
from core.real.real_config import RealConfig

# ---- chapters as data ------------------------------------------------------------------------------


def test_chapters_are_numbered_one_to_eight_in_the_issues_order():
    assert [c.number for c in CHAPTERS] == list(range(1, 9))
    assert len({c.id for c in CHAPTERS}) == 8
    kinds = [c.experiment.kind for c in CHAPTERS]
    assert kinds == ["data"] + ["synthetic"] * 6 + ["real"]
    assert [a.preset for a in CHAPTERS[4].experiment.arms] == ["dense-loses"]
    assert [a.preset for a in CHAPTERS[5].experiment.arms] == ["eps-too-small"]
    assert [a.name for a in CHAPTERS[6].experiment.arms] == ["one_step", "multi_step"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_every_chapter_is_a_complete_question(chapter):
    assert 2 <= len(chapter.answers) <= 4
    assert 0 <= chapter.correct < len(chapter.answers)
    assert len(set(chapter.answers)) == len(chapter.answers)
    assert chapter.question and chapter.look_at and chapter.title
    assert len(chapter.explanation.split()) <= 120
    assert chapter.checks and all(name in CHECKS for name in chapter.checks)
    modes = {(arm.name, mode) for arm in chapter.experiment.arms for mode in arm.modes}
    for name in chapter.checks:  # a check reads only runs its chapter trains
        assert set(CHECKS[name].needs) <= modes, name
    assert chapter.experiment.seeds == (0, 1, 2)


def test_chapter_text_says_suppressed_only_of_the_raw_coefficients():
    """Adversarial training suppresses Gamma, not the normalised correlation."""
    for chapter in CHAPTERS:
        for text in (chapter.explanation, chapter.look_at, chapter.question, *chapter.answers):
            for sentence in text.split(". "):
                if "suppress" in sentence:
                    assert "Γ" in sentence and "correlation" not in sentence, sentence


def test_configs_give_one_config_per_seed():
    exp = get_chapter(7).experiment
    one_step = exp.configs("one_step")
    assert [c.seed for c in one_step] == [0, 1, 2] and all(c.train_attack == "one_step" for c in one_step)
    multi = exp.configs(exp.arms[1], seeds=2)
    assert [c.seed for c in multi] == [0, 1] and all(isinstance(c, Config) and c.train_attack == "pgd" for c in multi)
    real = get_chapter(8).experiment.configs("digits", seeds=[4])
    assert isinstance(real[0], RealConfig) and real[0].seed == 4 and real[0].quick and real[0].dataset == "digits"
    with pytest.raises(LessonError):
        exp.configs("no-such-arm")


def test_identical_setups_train_once_across_chapters():
    jobs = lesson_jobs(CHAPTERS, 3)
    presets = [job.preset for job in jobs]
    assert presets.count("classroom") == 3  # chapters 2, 3, 4 and 7's multi-step arm share the twins
    assert {job.modes for job in jobs if job.preset == "classroom"} == {("std", "adv")}
    assert {job.modes for job in jobs if job.preset == "classroom-one-step"} == {("adv",)}
    assert len(jobs) == 15 and len({job.key for job in jobs}) == 15


# ---- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 9, 12, -1, "x", "", None, 2.5, True])
def test_get_chapter_refuses_out_of_range_with_one_line(bad):
    with pytest.raises(LessonError) as err:
        get_chapter(bad)
    assert str(err.value).startswith("chapter must be 1–8; got") and "\n" not in str(err.value)


def test_get_chapter_reads_a_number_from_a_link():
    assert get_chapter("3") is CHAPTERS[2] and get_chapter(8).id == "real-images"
    assert str(pytest.raises(LessonError, get_chapter, 12).value) == "chapter must be 1–8; got 12"


@pytest.mark.parametrize("bad", [0, 6, -2, "3", 2.0, None])
def test_check_seeds_allows_one_to_five(bad):
    assert [check_seeds(n) for n in range(1, 6)] == [1, 2, 3, 4, 5]
    with pytest.raises(LessonError, match="seeds must be 1–5"):
        check_seeds(bad)


# ---- chapter_verdict on made-up runs -------------------------------------------------------------------

STD = dict(corr_robust=0.5, corr_nonrobust=0.9, lambda_robust=1.1, gamma_nonrobust=2.6, acc_clean=1.0, acc_pgd=0.0,
           acc_swap=0.0, acc_robust_feature=0.6, acc_nonrobust_feature=1.0)
ADV = dict(corr_robust=0.96, corr_nonrobust=0.7, lambda_robust=2.9, gamma_nonrobust=1.1, acc_clean=1.0, acc_pgd=0.5,
           acc_swap=1.0, acc_robust_feature=1.0, acc_nonrobust_feature=0.9)


def fake(final, status="finished", transition=True):
    """Three logged steps; with ``transition`` corr_robust starts behind and ends ahead of corr_nonrobust."""
    start = {**final, "corr_robust": 0.1, "corr_nonrobust": 0.2} if transition else final
    return run_from_history([{"step": 0, **start}, {"step": 20, **start}, {"step": 40, **final}], status=status)


def classroom_results(seeds=(0, 1, 2), **changes):
    return {("classroom", s): {"std": fake({**STD, **changes}, transition=False), "adv": fake(ADV)} for s in seeds}


def test_verdict_holds_when_every_check_holds_on_every_seed():
    verdict = chapter_verdict(get_chapter(4), classroom_results())
    assert verdict.holds and verdict.state == "holds" and (verdict.seeds_held, verdict.seeds) == (3, 3)
    assert verdict.checks == {name: (3, 3) for name in get_chapter(4).checks}
    assert verdict.summary() == "holds on 3/3 seeds" and verdict.reason is None


def test_verdict_fails_on_a_seed_where_a_check_does_not_hold():
    results = classroom_results()
    results[("classroom", 1)]["std"] = fake({**STD, "acc_swap": 0.6}, transition=False)
    verdict = chapter_verdict(get_chapter(3), results)
    assert not verdict.holds and verdict.state == "fails" and verdict.seeds_held == 2
    assert verdict.checks["std_swap_breaks"] == (2, 3) and verdict.checks["std_clean"] == (3, 3)
    assert "std_swap_breaks" in verdict.reason and "0.60" in verdict.details["std_swap_breaks"][1]


def test_verdict_is_incomplete_when_a_seed_is_missing():
    verdict = chapter_verdict(get_chapter(2), classroom_results(seeds=(0, 2)), seeds=3)
    assert not verdict.holds and verdict.state == "incomplete"
    assert verdict.missing == ("classroom seed 1 std",) and "missing" in verdict.reason
    assert verdict.seeds_held == 2 and verdict.seeds == 3


@pytest.mark.parametrize("status", ["failed", "cancelled", "diverged", "running", "interrupted"])
def test_verdict_is_incomplete_when_a_run_did_not_finish(status):
    results = classroom_results()
    results[("classroom", 2)]["adv"] = fake(ADV, status=status)
    verdict = chapter_verdict(get_chapter(2), results)  # chapter 2 reads only std, but a failed run never reveals
    assert not verdict.holds and verdict.state == "incomplete"
    assert verdict.failed[0].startswith(f"classroom seed 2 adv: {status}") and "\n" not in verdict.reason


def test_verdict_ignores_runs_its_checks_do_not_read_when_absent():
    results = {key: {"std": runs["std"]} for key, runs in classroom_results().items()}
    assert chapter_verdict(get_chapter(3), results).holds
    assert chapter_verdict(get_chapter(4), results).state == "incomplete"


def test_one_step_decay_against_multi_step_kept():
    decays = fake({**ADV, "acc_pgd": 0.0})
    decays.history[1]["acc_pgd"] = 0.22
    results = {("one_step", s): {"adv": decays} for s in (0, 1, 2)}
    results |= classroom_results()
    results = {(("multi_step" if arm == "classroom" else arm), s): r for (arm, s), r in results.items()}
    assert chapter_verdict(get_chapter(7), results).holds
    results[("multi_step", 0)]["adv"] = fake({**ADV, "acc_pgd": 0.1})
    assert chapter_verdict(get_chapter(7), results).checks["multi_step_pgd_kept"] == (2, 3)


def test_real_chapter_reads_the_real_claims_and_never_reveals_a_run_without_result():
    data = {"status": "finished", "runs": {
        "std": {"feat_acc_nonrobust": 0.8, "feat_acc_robust": 0.4, "acc_pgd": 0.0},
        "adv": {"feat_acc_nonrobust": 0.3, "feat_acc_robust": 0.6, "acc_pgd": 0.7}},
        "attacks": {"nrf_pgd": {"std": 0.5}, "rf_pgd": {"std": 0.1}}}
    assert chapter_verdict(get_chapter(8), {("digits", 0): {"real": real_run(data)}}).holds
    empty = chapter_verdict(get_chapter(8), {("digits", 0): {"real": real_run(None, status="finished")}})
    assert empty.state == "incomplete" and "without a stored result" in empty.reason


def test_data_chapter_needs_no_runs():
    verdict = chapter_verdict(get_chapter(1), {})
    assert verdict.holds and verdict.seeds == 3
    assert chapter_verdict(get_chapter(1), {}, seeds=1).summary() == "holds on 1/1 seeds"


# ---- the command line and the store ----------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--seeds", "9"], ["--seeds", "0"], ["--chapters", "12"], ["--chapters", "1,x"]])
def test_cli_refuses_bad_input_with_one_line(argv, capsys, tmp_path):
    assert main(["lesson", *argv, "--store", str(tmp_path / "never.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not (tmp_path / "never.sqlite").exists()


@pytest.fixture(scope="module")
def warmed(tmp_path_factory):
    """Chapters 1 and 5 at one seed through the command line, recorded in a store (trains dense-loses once)."""
    folder = tmp_path_factory.mktemp("lesson")
    store, out = folder / "runs.sqlite", folder / "lesson.json"
    code = main(["lesson", "--chapters", "1,5", "--seeds", "1", "--json", str(out), "--store", str(store)])
    return code, json.loads(out.read_text()), store


def test_cli_json_contract(warmed):
    code, data, _ = warmed
    assert code == 0 and data["seeds"] == 1
    assert [c["id"] for c in data["chapters"]] == ["the-data", "density-decides"]
    for entry in data["chapters"]:
        assert {"id", "title", "holds", "seeds_held", "seeds", "checks"} <= set(entry)
        assert entry["holds"] is True and (entry["seeds_held"], entry["seeds"]) == (1, 1)
        assert all(c["held"] == c["total"] == 1 and c["text"] for c in entry["checks"].values())


def test_a_warmed_store_serves_the_chapter_without_training(warmed, capsys):
    from core.runs.lesson_runs import chapter_results, chapter_runs
    from core.runs.store import RunStore

    _, _, path = warmed
    store = RunStore(path)
    before = len(store.list_runs())
    assert main(["lesson", "--chapters", "5", "--seeds", "1", "--store", str(path)]) == 0
    assert "holds on 1/1 seeds" in capsys.readouterr().out
    assert len(store.list_runs()) == before == 2  # std and adv of dense-loses seed 0, nothing retrained
    ids = chapter_runs(store, get_chapter(5), seeds=1)
    assert set(ids) == {("dense-loses", 0)} and all(ids[("dense-loses", 0)].values())
    assert chapter_verdict(get_chapter(5), chapter_results(store, ids), seeds=1).holds
    assert chapter_runs(store, get_chapter(5), seeds=2)[("dense-loses", 1)] == {"std": None, "adv": None}
    store.finish_run(ids[("dense-loses", 0)]["adv"], "cancelled")  # no longer found: the chapter is incomplete
    again = chapter_runs(store, get_chapter(5), seeds=1)
    assert again[("dense-loses", 0)]["adv"] is None
    verdict = chapter_verdict(get_chapter(5), chapter_results(store, {("dense-loses", 0): ids[("dense-loses", 0)]}))
    assert verdict.state == "incomplete" and "cancelled" in verdict.reason
    store.finish_run(ids[("dense-loses", 0)]["adv"], "finished")


class FakeManager:
    """What submit_chapter may call of core.runs.jobs.JobManager, recorded."""

    def __init__(self, store):
        self.store, self.calls = store, []

    def submit_twins(self, cfg, *, client_id="local", preset=None, modes=("std", "adv")):
        self.calls.append(("twins", cfg.seed, preset, tuple(modes), client_id))
        return {mode: self.store.create_run(cfg, mode, preset=preset, client_id=client_id) for mode in modes}

    def submit_real(self, real_cfg, *, client_id="local"):
        self.calls.append(("real", real_cfg.seed, client_id))
        return self.store.create_run(real_cfg, "real", client_id=client_id, steps=100)


def test_submit_chapter_queues_only_what_is_missing_and_nothing_twice(warmed):
    from core.runs.lesson_runs import submit_chapter
    from core.runs.store import RunStore

    manager = FakeManager(RunStore(warmed[2]))
    ids = submit_chapter(manager, get_chapter(5), seeds=2, client_id="class")
    assert manager.calls == [("twins", 1, "dense-loses", ("std", "adv"), "class")]  # seed 0 is in the store
    assert all(all(modes.values()) for modes in ids.values())
    assert submit_chapter(manager, get_chapter(5), seeds=2, client_id="class") == ids  # queued ones are reused
    assert len(manager.calls) == 1
    submit_chapter(manager, get_chapter(8), seeds=1, client_id="class")
    assert manager.calls[-1] == ("real", 0, "class")
    assert submit_chapter(manager, get_chapter(1), seeds=3) == {}


# ---- words a student follows, and reveals that keep the later chapters' surprises ---------------------
def _texts(chapter):
    return (chapter.title, chapter.question, chapter.look_at, chapter.explanation, *chapter.answers)


def test_no_unexplained_jargon_and_each_symbol_where_it_first_appears():
    from core.lesson import OPENING

    words = " ".join(t for chapter in CHAPTERS for t in _texts(chapter)) + OPENING
    for jargon in ("tensor power", "Phase I", "corr_robust", "corr_nonrobust", "gamma_nonrobust", "SPEC"):
        assert jargon not in words, jargon
    for symbol in ("α", "β", "P = 50", "s = 1", "u", "v"):
        assert symbol in OPENING, symbol
    first = get_chapter(1)
    assert "s·α³" in first.question and "z³" in first.explanation  # why the cube: the activation's cubic part
    first_raw = min(c.number for c in CHAPTERS if any("Γ" in t or "Λ" in t for t in _texts(c)))
    assert "Λ along u" in get_chapter(first_raw).explanation and "Γ along" in get_chapter(first_raw).explanation
    assert "ε" in get_chapter(3).explanation and "PGD" in get_chapter(3).explanation  # the attack, named once


def test_titles_do_not_give_the_answer_away():
    for chapter in CHAPTERS:
        for verb in ("learns", "breaks", "switches", "decides", "decays"):
            assert verb not in chapter.title, (chapter.number, chapter.title)


def test_each_reveal_draws_only_what_its_own_question_asks():
    """Chapters 2 and 3 ask about the standard run: no adversarial curve; chapter 2 shows neither swap nor PGD
    accuracy (chapters 3 and 4 ask about those)."""
    assert get_chapter(2).shows.modes == ("std",) and not {"acc_swap", "acc_pgd"} & set(get_chapter(2).shows.accuracies)
    assert get_chapter(3).shows.modes == ("std",)
    for number in (5, 6):
        assert get_chapter(number).shows.modes == ("std",)
    for chapter in CHAPTERS:
        modes = {mode for arm in chapter.experiment.arms for mode in arm.modes}
        assert set(chapter.shows.modes) <= modes, chapter.number


def test_what_look_at_names_is_on_the_screen():
    for chapter in CHAPTERS:
        shows, look = chapter.shows, chapter.look_at
        if "raw chart" in look or "Γ" in look:
            assert shows.raw, chapter.number
        if "swap accuracy" in look.lower() or "swap and PGD accuracy" in look:
            assert "acc_swap" in shows.accuracies, chapter.number
        if "PGD accuracy" in look and chapter.experiment.kind == "synthetic":
            assert "acc_pgd" in shows.accuracies or shows.arms_metric == "acc_pgd", chapter.number
        if "patch view" in look:
            assert shows.spray or shows.example, chapter.number
        assert "NRF" not in look and "Table 2" not in look  # the Lesson does not show the attack table
