"""The claim checks that decide each chapter's reveal, one small function per check.

A check reads one seed's runs, ``{arm name: {mode: run}}`` (a run has ``.final``, ``.history``,
``.phase_transition_step``; a real run's result JSON is ``real_data(run)``), or for the data
chapter that seed's Config, and returns (held, one line with the numbers that decided it).
Thresholds were set on what the presets produce on seeds 0, 1, 2 (docs/engine.md, the presets)
with a margin, and follow core/engine/claims.py where a check is the same claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..engine.assumptions import density_ratio
from ..engine.claims import peak, pgd_decays

PGD_GAP = 0.3  # adversarial final PGD accuracy at least this far above the standard run's
DECAY = 0.1  # one-step training: final PGD accuracy at least this far below its peak
KEPT = 0.3  # multi-step training: final PGD accuracy at least this


@dataclass(frozen=True)
class LessonCheck:
    name: str
    text: str  # what a student reads next to the tick or cross
    needs: tuple[tuple[str, str], ...]  # (arm, mode) runs it reads; () for data checks (they read the Config)
    test: Callable[[object], tuple[bool, str]]


def _f(runs, arm, mode) -> dict:
    return runs[arm][mode].final


def real_data(run) -> dict:
    """The RealResult JSON behind a real run: a RealResult itself, or a stored run's ``.data``."""
    if hasattr(run, "to_json"):
        return run.to_json()
    return run.data


# ---- chapter 1: the data (read from the Config and the examples it generates) ---------------------
def _data_robust_sparse(cfg):
    from ..engine.data import make_datasets

    train, _ = make_datasets(cfg.replace(n_train=min(cfg.n_train, 50), n_test=1))
    per_example = train.robust.sum(1)
    held = bool((per_example == cfg.s).all()) and cfg.s < cfg.P - cfg.s
    return held, f"{cfg.s} robust patch(es) and {cfg.P - cfg.s} non-robust ones in every example"


def _data_robust_stronger(cfg):
    return cfg.alpha > cfg.beta, f"alpha = {cfg.alpha:g} vs beta = {cfg.beta:g}"


def _data_denser_signal(cfg):
    ratio = density_ratio(cfg)
    return ratio > 1, f"S_NR/S_R = {ratio:.2f}"


# ---- chapters 2-4: the classroom twins -----------------------------------------------------------
def _std_learns_nonrobust(runs, arm="classroom"):
    f = _f(runs, arm, "std")
    return f["corr_nonrobust"] >= 1.5 * f["corr_robust"], \
        f"std corr_nonrobust {f['corr_nonrobust']:.2f} vs corr_robust {f['corr_robust']:.2f}"


def _std_clean(runs):
    f = _f(runs, "classroom", "std")
    return f["acc_clean"] >= 0.99, f"std acc_clean {f['acc_clean']:.2f}"


def _std_uses_nonrobust(runs):
    f = _f(runs, "classroom", "std")
    value = f["acc_nonrobust_feature"]
    return value >= 0.9, f"std accuracy on non-robust-only examples {value:.2f}"


def _std_swap_breaks(runs):
    f = _f(runs, "classroom", "std")
    return f["acc_swap"] <= 0.05, f"std acc_swap {f['acc_swap']:.2f}"


def _std_pgd_breaks(runs):
    f = _f(runs, "classroom", "std")
    return f["acc_pgd"] <= 0.05, f"std acc_pgd {f['acc_pgd']:.2f}"


def _adv_learns_robust(runs, arm="classroom"):
    f = _f(runs, arm, "adv")
    return f["corr_robust"] > f["corr_nonrobust"], \
        f"adv corr_robust {f['corr_robust']:.2f} vs corr_nonrobust {f['corr_nonrobust']:.2f}"


def _adv_phase_transition(runs):
    step = runs["classroom"]["adv"].phase_transition_step
    return step is not None, f"adv phase transition at step {step}" if step is not None else "adv: no transition"


def _adv_clean(runs):
    f = _f(runs, "classroom", "adv")
    return f["acc_clean"] >= 0.95, f"adv acc_clean {f['acc_clean']:.2f}"


def _adv_swap_survives(runs):
    f = _f(runs, "classroom", "adv")
    return f["acc_swap"] >= 0.9, f"adv acc_swap {f['acc_swap']:.2f}"


def _adv_gamma_suppressed(runs):
    adv, std = _f(runs, "classroom", "adv"), _f(runs, "classroom", "std")
    return adv["gamma_nonrobust"] < std["gamma_nonrobust"], \
        f"raw Γ adv {adv['gamma_nonrobust']:.2f} vs std {std['gamma_nonrobust']:.2f}"


def _adv_pgd_gap(runs):
    adv, std = _f(runs, "classroom", "adv"), _f(runs, "classroom", "std")
    held = adv["acc_pgd"] - std["acc_pgd"] >= PGD_GAP
    return held, f"final acc_pgd adv {adv['acc_pgd']:.2f} vs std {std['acc_pgd']:.2f}"


# ---- chapters 5, 6: the counter-examples -----------------------------------------------------------
def _dense_std_learns_robust(runs):
    f = _f(runs, "dense-loses", "std")
    return f["corr_robust"] > f["corr_nonrobust"], \
        f"std corr_robust {f['corr_robust']:.2f} vs corr_nonrobust {f['corr_nonrobust']:.2f}"


def _dense_std_swap_survives(runs):
    f = _f(runs, "dense-loses", "std")
    return f["acc_swap"] >= 0.5, f"std acc_swap {f['acc_swap']:.2f} (classroom std: about 0)"


def _small_eps_std_pgd_holds(runs):
    f = _f(runs, "eps-too-small", "std")
    return f["acc_pgd"] >= 0.5, f"std acc_pgd {f['acc_pgd']:.2f} at eps = 0.1"


# ---- chapter 7: one-step against multi-step adversarial training ----------------------------------
def _one_step_pgd_decays(runs):
    run = runs["one_step"]["adv"]
    top, last = peak(run.history, "acc_pgd"), run.final["acc_pgd"]
    return pgd_decays(run.history, DECAY), f"one-step adv acc_pgd peak {top:.2f}, final {last:.2f}"


def _multi_step_pgd_kept(runs):
    last = _f(runs, "multi_step", "adv")["acc_pgd"]
    return last >= KEPT, f"multi-step adv final acc_pgd {last:.2f}"


# ---- chapter 8: the real-image claims of core/real/real_claims.py ---------------------------------------
def _real(index: int):
    def test(runs):
        from ..real.real_claims import real_claims

        claim = real_claims(real_data(runs["digits"]["real"]))[index]
        return claim.holds, claim.detail

    return test


_CLASSROOM_STD, _CLASSROOM_ADV = ("classroom", "std"), ("classroom", "adv")
_REAL = (("digits", "real"),)

CHECKS: dict[str, LessonCheck] = {c.name: c for c in (
    LessonCheck("data_robust_sparse", "every example has few robust patches and many non-robust ones", (),
                _data_robust_sparse),
    LessonCheck("data_robust_stronger", "the robust feature is the stronger one (α > β)", (), _data_robust_stronger),
    LessonCheck("data_nonrobust_denser_signal", "the non-robust feature leads the race (S_NR/S_R > 1)", (),
                _data_denser_signal),
    LessonCheck("std_learns_nonrobust", "standard: non-robust correlation ≥ 1.5 × robust correlation",
                (_CLASSROOM_STD,), _std_learns_nonrobust),
    LessonCheck("std_clean", "standard: clean accuracy ≥ 99 %", (_CLASSROOM_STD,), _std_clean),
    LessonCheck("std_uses_nonrobust", "standard: ≥ 90 % on examples that keep only the non-robust feature",
                (_CLASSROOM_STD,), _std_uses_nonrobust),
    LessonCheck("std_swap_breaks", "standard: swap accuracy ≤ 5 %", (_CLASSROOM_STD,), _std_swap_breaks),
    LessonCheck("std_pgd_breaks", "standard: PGD accuracy ≤ 5 %", (_CLASSROOM_STD,), _std_pgd_breaks),
    LessonCheck("adv_learns_robust", "adversarial: the robust correlation ends above the non-robust one",
                (_CLASSROOM_ADV,), _adv_learns_robust),
    LessonCheck("adv_phase_transition", "adversarial: the robust correlation overtakes the non-robust one",
                (_CLASSROOM_ADV,), _adv_phase_transition),
    LessonCheck("adv_clean", "adversarial: clean accuracy ≥ 95 %", (_CLASSROOM_ADV,), _adv_clean),
    LessonCheck("adv_swap_survives", "adversarial: swap accuracy ≥ 90 %", (_CLASSROOM_ADV,), _adv_swap_survives),
    LessonCheck("adv_gamma_suppressed", "adversarial: Γ (raw, along v) suppressed below the standard run's",
                (_CLASSROOM_STD, _CLASSROOM_ADV), _adv_gamma_suppressed),
    LessonCheck("adv_pgd_gap", f"adversarial: final PGD accuracy ≥ standard's + {PGD_GAP:g}",
                (_CLASSROOM_STD, _CLASSROOM_ADV), _adv_pgd_gap),
    LessonCheck("dense_std_learns_robust",
                "standard, S_NR/S_R < 1: the robust correlation ends above the non-robust one",
                (("dense-loses", "std"),), _dense_std_learns_robust),
    LessonCheck("dense_std_swap_survives", "standard, S_NR/S_R < 1: swap accuracy ≥ 50 % (classroom: 0 %)",
                (("dense-loses", "std"),), _dense_std_swap_survives),
    LessonCheck("small_eps_std_learns_nonrobust", "standard, ε = 0.1: still learns the non-robust features",
                (("eps-too-small", "std"),), lambda runs: _std_learns_nonrobust(runs, "eps-too-small")),
    LessonCheck("small_eps_std_pgd_holds", "standard, ε = 0.1: PGD accuracy ≥ 50 %", (("eps-too-small", "std"),),
                _small_eps_std_pgd_holds),
    LessonCheck("one_step_learns_robust", "one-step adversarial: the robust correlation ends above the non-robust one",
                (("one_step", "adv"),), lambda runs: _adv_learns_robust(runs, "one_step")),
    LessonCheck("one_step_pgd_decays", f"one-step adversarial: final PGD accuracy ≥ {DECAY:g} below its peak",
                (("one_step", "adv"),), _one_step_pgd_decays),
    LessonCheck("multi_step_pgd_kept", f"three-step adversarial: final PGD accuracy ≥ {KEPT:g}",
                (("multi_step", "adv"),), _multi_step_pgd_kept),
    LessonCheck("real_std_nonrobust", "standard net: non-robust feature accuracy > robust (Table 1)", _REAL, _real(0)),
    LessonCheck("real_adv_robust", "adversarial net: robust feature accuracy > non-robust (Table 1)", _REAL, _real(1)),
    LessonCheck("real_adv_suppresses", "adversarial net: lower non-robust feature accuracy than standard (Table 1)",
                _REAL, _real(2)),
    LessonCheck("real_pgd_gap", "adversarial training raises PGD accuracy by ≥ 0.3 (Table 1)", _REAL, _real(3)),
    LessonCheck("real_nrf_attack", "NRF-PGD succeeds far more often than RF-PGD on the standard net (Table 2)",
                _REAL, _real(4)),
)}
