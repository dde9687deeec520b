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
class Shows:
    """What a chapter's reveal draws, and its live charts while the runs train: the runs of these modes, their
    correlations, these accuracies, the raw coefficients, a special view. Only what the chapter's own question
    is about, so that no reveal answers a later chapter's question."""

    modes: tuple[str, ...] = ("std", "adv")
    correlations: bool = True
    accuracies: tuple[str, ...] = ()  # names of core.engine.metrics
    raw: bool = False  # the unnormalised coefficients too
    example: str | None = None  # "data": one example's patches; "swap": the swap on it
    arms_metric: str | None = None  # several setups: this metric of each on one chart
    spray: bool = False  # the patch view of the last adversarial snapshot


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
    shows: Shows = Shows()


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

# What the Lesson says before chapter 1's question: what the app is, and the data it is about.
OPENING = (
    "**What this is.** Networks trained the usual way can be fooled by changes too small for a person to notice; "
    "training them on attacked examples (adversarial training) makes them robust. The paper behind this app (Li & "
    "Li, ICLR 2025) proves why, on data built so that the reason can be seen. Eight chapters walk through it: each "
    "asks a question, you predict, then real training runs decide.\n\n"
    "**The data.** Each example belongs to one of k = 5 classes and is made of P = 50 patches. In s = 1 patch (★) "
    "sits the class's **robust** feature u, with strength α = 1; in the other 49 its **non-robust** feature v, "
    "with strength β = 0.3; every patch gets a little noise. Below, one example: its patches left to right, and "
    "in each row how much of the directions u₁…u₅, v₁…v₅ a patch holds, and the size of its noise (rest)."
)

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        1, "the-data", "The data: a race between two features",
        "A network starts with small random weights, and each feature's pull on them grows with the sum, over the "
        "patches that carry it, of its strength cubed: s·α³ for the robust feature, (P − s)·β³ for the non-robust "
        "one. Which sum is larger in the example above?",
        ("The robust feature's: one strong patch", "The non-robust feature's: many weak patches",
         "They are about equal"), 1,
        Experiment("data", (Arm("data", "classroom", modes=()),)),
        "The example above: the ★ patch is strong (α = 1) in its u row, the 49 others weak (β = 0.3) in their v row.",
        "S_R = s·α³ = 1 × 1³ = 1 against S_NR = (P − s)·β³ = 49 × 0.027 = 1.32. Why cubes: the network's activation, "
        "a smoothed ReLU, is z³/3 for inputs z below its threshold ρ = 1 and a straight line above. Small weights "
        "give small inputs, so a feature's pull is the sum of its strengths cubed (the paper's Lemma 5.1), and a "
        "feature that is ahead grows faster still. The 49 weak patches together outweigh the strong one. They are "
        "also fragile: changing a patch by β = 0.3 erases its v, while erasing u takes α = 1. "
        "Chapter 2 trains a network to see which feature it ends up with.",
        ("data_robust_sparse", "data_robust_stronger", "data_nonrobust_denser_signal"),
        Shows(modes=(), correlations=False, example="data"),
    ),
    Chapter(
        2, "standard-training", "Standard training",
        "Standard training (plain gradient descent on these examples) reaches 100 % accuracy on clean test data. "
        "Which feature do its neurons align with?",
        ("The robust feature u (strong, sparse)", "The non-robust feature v (weak, dense)", "Both equally"), 1,
        _CLASSROOM,
        "The chart of correlations: the non-robust line (vermillion, crosses) climbs well above the robust one "
        "(blue, dots). In the accuracies, clean accuracy and the accuracy on examples that keep only the non-robust "
        "feature both reach 100 %.",
        "A correlation says how closely a class's best neuron points along a feature: its weight vector's "
        "component along u (or v) divided by its length, 1 = exactly along it. The race of chapter 1 decides: the "
        "non-robust feature pulls harder from the start, its lead grows on itself, and the neurons align with v "
        "(the paper's Theorem 4.3). The network is perfect on clean data, and just as good on examples whose robust "
        "patch was blanked: it relies on the weak, dense feature.",
        ("std_learns_nonrobust", "std_clean", "std_uses_nonrobust"),
        Shows(modes=("std",), accuracies=("acc_clean", "acc_nonrobust_feature")),
    ),
    Chapter(
        3, "the-swap", "The swap",
        "Take the network of chapter 2 and swap the non-robust feature of every dense patch for another class's "
        "(each patch moves by √2·β ≈ 0.42; the ★ patch is untouched). What does the network do?",
        ("It stays right: clean accuracy is 100 %", "It falls to about chance, 20 %",
         "It follows the swap: accuracy near 0 %"), 2,
        _CLASSROOM,
        "The accuracies of the standard run: clean stays at 100 % while swap and PGD accuracy sit near 0 %. The "
        "picture of the swap on one example: only the weak v-columns of the 49 dense patches change.",
        "The swap keeps the strong robust patch and replaces v_y by another class's v_y' in the 49 dense patches. A "
        "person would still see the class, since the strong feature is there. The network reads mostly the "
        "non-robust feature, so it follows the swap and answers y'. This is the paper's Theorem 4.3: 100 % clean "
        "accuracy and still not robust. PGD, the attack every run is tested with (10 small steps that raise the "
        "loss, each patch moved by at most ε = 0.3), finds a similar change: ε ≥ β is enough to cancel a "
        "non-robust patch.",
        ("std_clean", "std_swap_breaks", "std_pgd_breaks"),
        Shows(modes=("std",), correlations=False, accuracies=("acc_clean", "acc_swap", "acc_pgd"), example="swap"),
    ),
    Chapter(
        4, "adversarial-training", "Adversarial training",
        "Adversarial training attacks every training example before each step (3 PGD steps within ε = 0.3) and "
        "learns from the attacked copies. What does it learn?",
        ("The same non-robust features, only more strongly",
         "It switches to the robust features: the robust correlation overtakes the non-robust one",
         "Nothing useful: its clean accuracy collapses"), 1,
        _CLASSROOM,
        "The correlations: the adversarial run's robust line (blue, dashed) starts behind its non-robust line and "
        "overtakes it, marked by the vertical line. Its swap accuracy reaches 100 % and its PGD accuracy ends far "
        "above the standard run's. The raw chart: the adversarial run's Γ stays well below the standard run's.",
        "The attacker weakens each non-robust patch by about ε, so under attack the race is roughly "
        "(P − s)(β − ε)³ against s(α − ε)³, and the robust feature wins it. Early on both runs look alike; then the "
        "robust correlation overtakes the non-robust one (the paper's phase transition, Theorem 4.4). The raw "
        "chart shows the component along each feature before dividing by the weight's length: Λ along u, Γ along "
        "v. Γ is suppressed against the standard run's. The network has not dropped v, but u now carries the "
        "decision, and the swap fails.",
        ("adv_learns_robust", "adv_phase_transition", "adv_clean", "adv_swap_survives", "adv_gamma_suppressed",
         "adv_pgd_gap"),
        Shows(accuracies=("acc_clean", "acc_swap", "acc_pgd"), raw=True),
    ),
    Chapter(
        5, "density-decides", "More robust patches",
        "Put the robust feature in 4 patches of 50 instead of 1, so s·α³ = 4 now beats (P − s)·β³ = 1.24. What does "
        "standard training learn?",
        ("Still the non-robust features: they still fill most patches",
         "The robust features: the swap no longer breaks it, with no adversary at all"), 1,
        Experiment("synthetic", (Arm("dense-loses", "dense-loses"),)),
        "The standard run's correlations: the robust line ends above the non-robust one. Its swap accuracy stays "
        "far above the 0 % of chapter 3 (near 100 % on most seeds), without any adversary.",
        "The race is decided by the sum of strengths cubed, not by the count of patches alone: S_R = 4 × 1³ = 4 "
        "against S_NR = 46 × 0.3³ = 1.24. With S_NR/S_R below 1 the robust feature pulls harder from the start and "
        "standard training learns it. The paper's assumption that the non-robust feature is the denser one is "
        "essential: the weakness of standard training comes from the data, not from gradient descent itself.",
        ("dense_std_learns_robust", "dense_std_swap_survives"),
        Shows(modes=("std",), accuracies=("acc_clean", "acc_swap")),
    ),
    Chapter(
        6, "radius-decides", "A smaller radius",
        "Keep the data of chapters 1–4 but let PGD move each patch by only ε = 0.1, below β/2 = 0.15. Does PGD "
        "still break the standard network?",
        ("Yes: its PGD accuracy stays near 0 %",
         "No: it keeps most of its PGD accuracy, though it learned the non-robust features"), 1,
        Experiment("synthetic", (Arm("eps-too-small", "eps-too-small"),)),
        "The standard run: the non-robust line still wins the correlations, yet PGD accuracy stays high. The swap "
        "(√2·β = 0.42 per patch) lies far outside the ball of radius 0.1.",
        "Non-robust does not mean breakable by every attack. A change of 0.1 per patch can only weaken each "
        "non-robust patch from 0.3 to 0.2: it can neither cancel it (that needs ε ≥ β) nor push another class's "
        "feature past it. The network learned the same non-robust features as in chapter 2, but the attacker "
        "lacks the radius to exploit them. The paper's results concern ε comparable to β: large enough to erase the "
        "dense features, far too small to touch the robust one (α = 1).",
        ("small_eps_std_learns_nonrobust", "small_eps_std_pgd_holds"),
        Shows(modes=("std",), accuracies=("acc_clean", "acc_pgd")),
    ),
    Chapter(
        7, "one-step-decays", "Beyond the paper: one attack step or three",
        "The paper's adversarial training attacks with one clipped gradient step, not three. Trained that way, what "
        "does its PGD accuracy do over training?",
        ("It rises and stays, as with three steps", "It rises, peaks mid-run, then decays",
         "It stays at 0 % throughout"), 1,
        Experiment("synthetic", (Arm("one_step", "classroom-one-step", modes=("adv",)),
                                 Arm("multi_step", "classroom"))),
        "The chart of PGD accuracy: the one-step run peaks mid-run and falls, the three-step run keeps it. The "
        "correlations: both switch to the robust features. The patch view of the one-step network at its last "
        "step: the PGD perturbation is spread over the many non-robust patches.",
        "Both networks learn the robust feature, so the decay is no return to the non-robust one. As the weights "
        "grow, a new attack opens: PGD adds a little of other classes' robust directions to each of the 49 dense "
        "patches, and the small changes add up (the spray). The single clipped step of the paper's training never "
        "finds this spread-out attack, so the network never learns to resist it; three PGD steps do find it, and "
        "the network trained against them stays robust. The paper leaves multi-step training to future work.",
        ("one_step_learns_robust", "one_step_pgd_decays", "multi_step_pgd_kept"),
        Shows(modes=("adv",), arms_metric="acc_pgd", spray=True),
    ),
    Chapter(
        8, "real-images", "Real images",
        "On real images (8×8 digits, small CNNs), does the same split appear: standard training leaning on "
        "non-robust features, adversarial training on robust ones?",
        ("Yes: the pattern of the paper's Table 1 holds", "No: real images have no such features",
         "Only the clean accuracies differ"), 0,
        Experiment("real", (Arm("digits", "digits-quick", modes=("real",)),)),
        "Feature learning accuracy: the standard network does better on the non-robust set than on the robust "
        "one, the adversarial network the other way round. In the table, PGD accuracy shows the same split.",
        "Real images come without labelled features, so the paper builds them (after Ilyas et al.): sets of "
        "images rebuilt so that a reference network sees the same thing in them as in real digits, a standard "
        "network for the non-robust features and an adversarially trained one for the robust features. A fresh "
        "network's accuracy on each set measures which features it learned. On the built-in digits, as in the "
        "paper's Table 1 for MNIST, CIFAR10 and SVHN, standard training learns non-robust features more than "
        "robust ones; adversarial training reverses that and buys PGD accuracy.",
        ("real_std_nonrobust", "real_adv_robust", "real_adv_suppresses", "real_pgd_gap", "real_nrf_attack"),
        Shows(modes=(), correlations=False),
    ),
)
