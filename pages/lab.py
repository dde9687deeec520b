"""Lab: pick a preset, run standard and adversarial training, watch the switch."""

import streamlit as st

from core.presets import PRESETS

st.title("Robust Feature Lab")
st.write(
    "Watch a two-layer CNN choose between sparse-but-strong robust features and "
    "dense-but-weak non-robust ones (Li & Li, ICLR 2025). The live dashboard is coming; "
    "meanwhile the engine runs from the command line: `python -m core run --preset classroom`."
)
st.table({"preset": list(PRESETS), "what it shows": [p.description for p in PRESETS.values()]})
