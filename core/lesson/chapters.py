"""The eight chapters of the Lesson as plain data: question, answers, experiment, checks, explanation.

Numbers quoted in the texts are those of the presets the chapters run (core.engine.presets):
classroom k=5, P=50, s=1, alpha=1, beta=0.3, eps=0.3, q=3, so S_R = 1 and S_NR = 49 * 0.3^3 = 1.32.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.presets import get_preset

MAX_SEEDS = 5
DEFAULT_SEEDS = (0, 1, 2)
KINDS = ("data", "synthetic", "real")
REAL_PRESETS = {"digits-quick": ("digits", True), "digits": ("digits", False)}


class LessonError(ValueError):
    """Bad lesson input (chapter number, seed count); ``str(err)`` is one line a user can act on."""


@dataclass(frozen=True)
class Arm:
    """One setup of a chapter's experiment: a preset plus overrides, trained in the given modes.

    Synthetic arms name a preset of core.engine.presets and modes among ("std", "adv"); the
    real arm names "digits-quick" (core.real's quick digits) and the mode "real"; the data
    arm trains nothing (no modes).
    """

    name: str
    preset: str
    overrides: tuple[tuple[str, object], ...] = ()
    modes: tuple[str, ...] = ("std", "adv")


@dataclass(frozen=True)
class Experiment:
    kind: str  # "data" | "synthetic" | "real"
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...] = DEFAULT_SEEDS

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise LessonError(f"no arm {name!r}; this experiment has {', '.join(a.name for a in self.arms)}")

    def seed_list(self, seeds=None) -> tuple[int, ...]:
        """The seeds to run: the default ones, a count n (seeds 0..n-1) or an explicit list."""
        if seeds is None:
            return self.seeds
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            return tuple(range(check_seeds(seeds)))
        seeds = tuple(int(s) for s in seeds)
        check_seeds(len(seeds))
        return seeds

    def configs(self, arm: Arm | str, seeds=None) -> list:
        """One config per seed: a core.engine Config (data, synthetic) or a core.real RealConfig (real)."""
        arm = self.arm(arm) if isinstance(arm, str) else arm
        overrides = dict(arm.overrides)
        if self.kind == "real":
            from ..real.real_config import RealConfig

            dataset, quick = REAL_PRESETS[arm.preset]
            return [RealConfig.for_dataset(dataset, quick=quick, **{**overrides, "seed": s})
                    for s in self.seed_list(seeds)]
        preset = get_preset(arm.preset)
        return [preset.config(**{**overrides, "seed": s}) for s in self.seed_list(seeds)]


@dataclass(frozen=True)
class Chapter:
    number: int
    id: str  # slug, for links
    title: str
    question: str
    answers: tuple[str, ...]  # 2 to 4
    correct: int  # index into answers
    experiment: Experiment
    look_at: str  # what to look at in the charts
    explanation: str  # at most about 120 words
    checks: tuple[str, ...]  # names in core.lesson.checks.CHECKS; all must hold for the reveal


def check_seeds(n) -> int:
    """A seed count 1..5, or LessonError with one line."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
        raise LessonError(f"seeds must be 1–{MAX_SEEDS}; got {n}")
    return n


def get_chapter(number) -> Chapter:
    """Chapter 1..8 (an int, or a string of one from a link), or LessonError with one line."""
    value = number
    if isinstance(number, str) and number.strip().isdigit():
        value = int(number.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= len(CHAPTERS):
        raise LessonError(f"chapter must be 1–{len(CHAPTERS)}; got {number}")
    return CHAPTERS[value - 1]


_CLASSROOM = Experiment("synthetic", (Arm("classroom", "classroom"),))

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        1, "the-data", "The data: robust and non-robust features",
        "One classroom example has 50 patches. How many carry the strong robust feature (α = 1), "
        "and how many the weak non-robust one (β = 0.3)?",
        ("25 and 25", "1 and 49", "49 and 1"), 1,
        Experiment("data", (Arm("data", "classroom", modes=()),)),
        "The patch view of one example: a single patch lights up on the robust direction u_y at α = 1; the other "
        "49 carry the non-robust direction v_y at β = 0.3, under small noise (σ_p = 0.05).",
        "Definition 2.2 builds every example from patches. A few patches (s = 1 here) hold the robust feature u_y "
        "with strength α = 1; all the others hold the non-robust feature v_y, weaker (β = 0.3) but dense. Which "
        "feature a network learns is a race: Lemma 5.1 compares S_R = s·α³ = 1 with S_NR = (P − s)·β³ = 49 × 0.027 "
        "= 1.32. The dense feature leads although each of its patches is weak. It is also fragile: a change of "
        "about β per patch erases or swaps it, while the robust feature needs a change of size α.",
        ("data_robust_sparse", "data_robust_stronger", "data_nonrobust_denser_signal"),
    ),
    Chapter(
        2, "standard-training", "Standard training learns the dense non-robust features",
        "Standard training reaches 100 % clean accuracy. Which feature do its neurons align with?",
        ("The robust feature u (strong, sparse)", "The non-robust feature v (weak, dense)", "Both equally"), 1,
        _CLASSROOM,
        "Correlations of the standard run: corr_nonrobust (v) climbs well above corr_robust (u). Clean accuracy "
        "reaches 100 %, and so does accuracy on test examples that keep only the non-robust feature.",
        "Gradient descent grows each feature's coefficient at a rate set by its total signal in the cubic part of "
        "the activation: S_NR = 1.32 against S_R = 1 here. As in the tensor power method, a small head start turns "
        "into dominance, so the filters align with the non-robust directions v_r (Theorem 4.3). The network is "
        "perfectly accurate on clean data, and it classifies examples that keep only the non-robust feature just "
        "as well: it relies on the weak, dense feature.",
        ("std_learns_nonrobust", "std_clean", "std_uses_nonrobust"),
    ),
    Chapter(
        3, "the-swap", "The Theorem 4.3 swap breaks it",
        "Swap the non-robust feature of every dense patch for another class's (each patch moves by √2·β ≈ 0.42; "
        "the robust patch is untouched). What does the standard network do?",
        ("It stays right: clean accuracy is 100 %", "It falls to about chance, 20 %",
         "It follows the swap: accuracy near 0 %"), 2,
        _CLASSROOM,
        "Accuracies of the standard run: clean stays at 100 % while swap and PGD accuracy sit near 0. In the patch "
        "view, the swap changes only the weak v-coordinates of the 49 dense patches.",
        "The swap keeps the strong robust patch and replaces v_y by another class's v_y' in the 49 dense patches. A "
        "person would still see the class, since the strong feature is there. The standard network reads mostly "
        "the non-robust feature, so it follows the swap and answers y'. This is Theorem 4.3: standard training "
        "reaches 100 % clean accuracy and is still not robust. PGD finds a similar attack inside the ball of "
        "radius ε = 0.3 per patch: ε ≥ β is enough to cancel a non-robust patch.",
        ("std_clean", "std_swap_breaks", "std_pgd_breaks"),
    ),
    Chapter(
        4, "adversarial-training", "Adversarial training switches to the robust features",
        "Adversarial training attacks every training point before each step. What does it learn?",
        ("The same non-robust features, only more strongly",
         "It switches to the robust features: corr_robust overtakes corr_nonrobust",
         "Nothing useful: its clean accuracy collapses"), 1,
        _CLASSROOM,
        "Correlations of the adversarial run: corr_robust lags, then overtakes corr_nonrobust (the phase "
        "transition). Swap accuracy reaches 100 % and final PGD accuracy ends far above the standard run's. "
        "Compare the raw Γ (gamma_nonrobust) of both runs: lower after adversarial training.",
        "The adversary weakens every non-robust patch by about ε, so under attack the race is roughly "
        "(P − s)(β − ε)³ against s(α − ε)³, and the robust feature wins. Early on both runs look alike (Phase I); "
        "then the robust coefficient Λ takes off and corr_robust overtakes corr_nonrobust (Phase II, Theorem 4.4). "
        "The raw non-robust coefficient Γ is suppressed against the standard run's. The normalised non-robust "
        "correlation stays high and non-robust-only examples are still classified, so the network has not "
        "dropped that feature; but the robust feature now carries the decision, and the swap fails.",
        ("adv_learns_robust", "adv_phase_transition", "adv_clean", "adv_swap_survives", "adv_gamma_suppressed",
         "adv_pgd_gap"),
    ),
    Chapter(
        5, "density-decides", "Density decides",
        "Put 4 robust patches in 50 instead of 1, so S_NR/S_R = 0.31 < 1. What does standard training learn now?",
        ("Still the non-robust features: they still fill most patches",
         "The robust features: the swap no longer breaks it, with no adversary at all"), 1,
        Experiment("synthetic", (Arm("dense-loses", "dense-loses"),)),
        "Standard run: corr_robust ends above corr_nonrobust, and swap accuracy stays far above the classroom's 0 % "
        "(near 100 % on most seeds), without any adversary.",
        "The race is decided by the signal in the cubic part of the activation, not by the patch count alone: "
        "S_R = 4 × 1³ = 4 against S_NR = 46 × 0.3³ = 1.24. With S_NR/S_R < 1 the robust feature grows faster from "
        "the start and standard training learns it. The paper's assumption that non-robust features are denser is "
        "essential: the non-robustness of standard training comes from the data, not from gradient descent itself.",
        ("dense_std_learns_robust", "dense_std_swap_survives"),
    ),
    Chapter(
        6, "radius-decides", "The radius decides",
        "Keep the classroom data but attack with ε = 0.1, below β/2 = 0.15. Does PGD still break the standard "
        "network?",
        ("Yes: its PGD accuracy stays near 0 %",
         "No: it keeps most of its PGD accuracy, though it learned the non-robust features"), 1,
        Experiment("synthetic", (Arm("eps-too-small", "eps-too-small"),)),
        "Standard run: corr_nonrobust still wins, yet PGD accuracy stays high. The swap (√2·β = 0.42 per patch) "
        "lies far outside the ball.",
        "Non-robust does not mean breakable by every attack. A change of ε = 0.1 per patch can only weaken each "
        "non-robust patch from 0.3 to 0.2: it can neither cancel it (that needs ε ≥ β) nor push another class's "
        "feature past it. The standard network learned the same non-robust features as in chapter 2, but the "
        "attacker lacks the radius to exploit them. The paper's results concern ε comparable to β: large enough to "
        "erase the dense features, far too small to touch the robust one (α = 1).",
        ("small_eps_std_learns_nonrobust", "small_eps_std_pgd_holds"),
    ),
    Chapter(
        7, "one-step-decays", "Beyond the paper: one step is not enough",
        "The paper's algorithm attacks with one clipped gradient step. Trained that way, what does PGD-10 accuracy "
        "do over training?",
        ("It rises and stays, as with multi-step PGD training", "It rises, peaks mid-run, then decays",
         "It stays at 0 % throughout"), 1,
        Experiment("synthetic", (Arm("one_step", "classroom-one-step", modes=("adv",)),
                                 Arm("multi_step", "classroom"))),
        "PGD accuracy of the one-step run peaks mid-run and falls; the multi-step run keeps it. Both switch to the "
        "robust features. In the patch view late in the one-step run, the PGD perturbation sprays small robust "
        "directions of other classes over the many non-robust patches.",
        "Both networks learn the robust feature, so the decay is no return to non-robust features. As the weights "
        "grow, Λε leaves the cubic part of the activation and a new attack opens: PGD spreads small amounts of "
        "other classes' robust directions over the 49 dense patches (the spray). The paper's single clipped step "
        "never finds this dense attack during training, so the network never learns to resist it. Three PGD steps "
        "do find it, and the network trained against them stays robust. The paper leaves multi-step analysis to "
        "future work.",
        ("one_step_learns_robust", "one_step_pgd_decays", "multi_step_pgd_kept"),
    ),
    Chapter(
        8, "real-images", "Real images: the Table 1 pattern on digits",
        "On real images (8×8 digits, small CNNs), does the same split appear: standard training leaning on "
        "non-robust features, adversarial training on robust ones?",
        ("Yes: the Table 1 pattern holds", "No: real images have no such features",
         "Only the clean accuracies differ"), 0,
        Experiment("real", (Arm("digits", "digits-quick", modes=("real",)),)),
        "Feature learning accuracy: the standard network does better on the non-robust representative set than on "
        "the robust one, the adversarial network the other way round. PGD accuracy and the NRF-PGD / RF-PGD "
        "attack success show the same split.",
        "Real images come without labelled features, so the paper builds them (Ilyas et al.): representative "
        "datasets whose images match a reference network's representation, a standard network for the non-robust "
        "features and an adversarially trained one for the robust features. A fresh network's accuracy on each "
        "set measures which features it learned. On the built-in digits, as in Table 1 for MNIST, CIFAR10 and "
        "SVHN, standard training learns non-robust features more than robust ones; adversarial training reverses "
        "that and buys PGD accuracy.",
        ("real_std_nonrobust", "real_adv_robust", "real_adv_suppresses", "real_pgd_gap", "real_nrf_attack"),
    ),
)
