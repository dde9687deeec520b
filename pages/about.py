"""About: how to read each chart, and which part of the paper it shows."""

import streamlit as st

from core.figures.charts import FEATURE_COLOR_NAME, chart_key
from pages._common import leave_pages_v1

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

# (chart, how to read it, where in the paper)
CHARTS = (
    ("Which features the neurons learn (Lab)",
     f"For each class, the best neuron's cosine with u_r ({FEATURE_COLOR_NAME['robust']}) and v_r "
     f"({FEATURE_COLOR_NAME['non-robust']}), averaged over classes. Standard training: "
     f"{FEATURE_COLOR_NAME['non-robust']} wins. Adversarial: {FEATURE_COLOR_NAME['non-robust']} may rise first, "
     f"then {FEATURE_COLOR_NAME['robust']} overtakes it; the vertical line marks that switch (the paper's phase "
     "transition). *raw Λ, Γ* shows the unnormalised coefficients: Λ = the best neuron's ⟨w, u_r⟩, "
     "Γ = its ⟨w, v_r⟩ (the paper's Section 5).",
     "Figure 3 and Section 6.1; Λ and Γ of Section 5"),
    ("overlay the theory (Lab)",
     "The reduced dynamics, dotted: one noiseless example per class, neurons kept in span{u_r, v_r}, trained by the "
     "same algorithm. Where it tracks the measured curves, the lemmas explain the run.",
     "Lemmas 5.1 and 5.2"),
    ("What each model gets right (Lab)",
     "Test accuracy: clean; under PGD at the run's ε; under the swap attack (every non-robust patch gets another "
     "class's v); with only the robust or only the non-robust feature left. The standard model is perfect on clean "
     "data and fails the swap and PGD; the adversarial one survives the swap.",
     "Theorems 4.3 and 4.4, Definition 4.1"),
    ("One test example under PGD (Lab, Adversarial patches)",
     "Rows are patches (★ = robust patch), columns the coordinates on u₁..u_k and v₁..v_k plus the norm of the rest. "
     "Left the clean example, middle what PGD adds, right the result. Against the standard model PGD mostly erases "
     "v_y; against the adversarial one it adds other classes' u to the many non-robust patches, which is why PGD "
     "accuracy of the paper's one-step training decays late in training (Lesson chapter 7).",
     "Theorem 4.3's attack, Section 2.5"),
    ("The perturbation's energy by feature direction (Lab)",
     "The share of ‖δ‖² that goes to −v_y (erasing the non-robust feature), to other classes' u and v, and to noise.",
     "Section 4"),
    ("Inside the network (Lab, Network weights)",
     "Each neuron's weights on the 2k feature directions. Standard: the v columns light up; adversarial: the u "
     "columns.",
     "Definition 4.1, Section 5"),
    ("Constructed minima (Theory)",
     "Weights c·v_r or c·u_r: both reach full clean accuracy as c grows; only c·u_r survives the swap attack.",
     "Propositions 3.1 and 3.2"),
)

st.title(":material/menu_book: About")
st.markdown(
    "Robust Feature Lab implements *Adversarial Training Can Provably Improve Robustness: Theoretical Analysis of "
    "Feature Learning Process Under Structured Data* (Binghui Li, Yuanzhi Li, ICLR 2025, arXiv 2410.08503).\n\n"
    "**The data** (Definition 2.2): each example has P patches. A few (s) hold the class's **robust** feature u_y "
    "at strength α; all the others hold its **non-robust** feature v_y at the weaker β; every patch gets a little "
    "noise. Robust = sparse but strong, non-robust = dense but weak. **The network** is the paper's two-layer CNN "
    "with a smoothed ReLU. **Standard** training is gradient descent; **adversarial** training first perturbs every "
    "training example within ε, then descends.\n\n"
    f"**Conventions of every chart**: {chart_key()}."
)
st.subheader("How to read each chart")
for chart, how, where in CHARTS:
    st.markdown(f"**{chart}** — {how}  \n*Paper: {where}.*")
st.subheader("Assumption checks")
st.markdown(
    "The paper's Assumption 2.3 for your setup, in the Lab's left column. *strength*: α > β. *density*: "
    "S_NR/S_R = (P−s)β^q / (sα^q) > 1 means the non-robust feature wins the growth race of standard training "
    "(Lemma 5.1). *radius*: whether the swap attack (per-patch size √2β) fits in the ε-ball. *adversarial race*: "
    "the same race with each feature weakened by ε — a heuristic, not a theorem."
)
st.subheader("Runs")
st.markdown(
    "Runs are background jobs kept in a store: leave the page and come back, refresh, or open the same link in "
    "another tab. A finished run of an identical setup is shown at once instead of retrained. The Runs page "
    "compares, downloads and deletes them."
)
