"""About: what the lab implements and how to read it."""

import streamlit as st

st.title("About")
st.markdown(
    "Robust Feature Lab implements *Adversarial Training Can Provably Improve Robustness* "
    "(Li & Li, ICLR 2025): patch data with robust and non-robust features, a two-layer "
    "smoothed-ReLU CNN, and standard versus adversarial training."
)
