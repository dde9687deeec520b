"""Every chapter of the Lesson holds on the real experiments: seeds 0, 1, 2 for the synthetic chapters.

The runs are shared: the classroom twins serve chapters 2, 3, 4 and 7's multi-step arm (and
test_claims.py, through lesson_shared); chapters 5 and 6 train only the standard run their checks
read. The real-image chapter runs the quick digits at seed 0; its 3-seed version is marked slow
(run it with ``-m slow``).
"""

import pytest
from lesson_shared import twins

from core.lesson import chapter_verdict, get_chapter
from core.real import RealConfig, run_real

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def synthetic():
    results = {}
    for seed in SEEDS:
        results[("classroom", seed)] = results[("multi_step", seed)] = twins("classroom", seed)
        results[("one_step", seed)] = twins("classroom-one-step", seed, ("adv",))
        results[("dense-loses", seed)] = twins("dense-loses", seed, ("std",))
        results[("eps-too-small", seed)] = twins("eps-too-small", seed, ("std",))
    return results


def held(verdict) -> str:
    return "; ".join(line for name, (h, t) in verdict.checks.items() if h < t for line in verdict.details[name])


@pytest.mark.parametrize("number", range(1, 8))
def test_chapter_holds_on_three_seeds(synthetic, number):
    verdict = chapter_verdict(get_chapter(number), synthetic, seeds=SEEDS)
    assert verdict.state == "holds" and verdict.seeds_held == 3, verdict.reason + " | " + held(verdict)


def real_verdict(seeds):
    results = {("digits", s): {"real": run_real(RealConfig.for_dataset("digits", quick=True, seed=s, device="cpu"))}
               for s in seeds}
    return chapter_verdict(get_chapter(8), results, seeds=seeds)


def test_real_images_chapter_holds_on_one_seed():
    verdict = real_verdict((0,))
    assert verdict.holds, f"{verdict.reason} | {held(verdict)}"


@pytest.mark.slow
def test_real_images_chapter_holds_on_three_seeds(request):
    if "slow" not in (request.config.option.markexpr or "") or "not slow" in request.config.option.markexpr:
        pytest.skip("minutes of training: run with -m slow")
    verdict = real_verdict(SEEDS)
    assert verdict.holds, f"{verdict.reason} | {held(verdict)}"
