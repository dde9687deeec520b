"""Theory: the constructed minima of Propositions 3.1/3.2 and the reduced dynamics of Section 5,
on the Lab's current setup. Both take well under a second and are cached."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.engine.config import Config, ConfigError
from core.engine.measure.budget import check_server, dynamics_cost, minima_cost
from core.figures.charts import dynamics_figure, minima_figure
from pages import _keys as keys
from pages._common import build_config, leave_pages_v1, md_message, presentation

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

SCALES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # the chosen scale is one of them: one cached evaluation
PGD_CAP = 100  # test examples attacked per minimum and scale: keeps the page instant at figure3 size


@st.cache_data(show_spinner="Evaluating the constructed minima…", max_entries=16)
def minima(config_json: str, scales: tuple[float, ...]) -> list[dict]:
    from core.engine.theory import evaluate_constructed

    cfg = Config.from_dict(json.loads(config_json))
    return evaluate_constructed(cfg.replace(n_eval_pgd=min(cfg.n_pgd, PGD_CAP)), scales)


@st.cache_data(show_spinner=False, max_entries=16)
def dynamics(config_json: str) -> dict:
    from core.engine.theory import reduced_dynamics

    cfg = Config.from_dict(json.loads(config_json))
    return {mode: reduced_dynamics(cfg, mode) for mode in ("std", "adv")}


st.title(":material/functions: Theory")
if not presentation():
    st.markdown("The paper's constructions on the Lab's current setup: change a knob in the **Lab** and come back.")
cfg, err = build_config(st.session_state.lab_values)
if cfg is None:
    st.error(f"The Lab's setup is not valid yet: {md_message(str(err))}")
    st.page_link("pages/lab.py", label="Fix it in the Lab", icon=":material/science:")
    st.stop()
config_json = json.dumps(cfg.to_dict(), sort_keys=True)
try:  # both computations run inside the server: refused before they start when they would not fit
    check_server("the Theory page's constructed minima", minima_cost(cfg, len(SCALES), PGD_CAP))
    check_server("the Theory page's reduced dynamics", dynamics_cost(cfg))
except ConfigError as too_big:
    st.warning(md_message(str(too_big)))
    st.page_link("pages/lab.py", label="Shrink it in the Lab", icon=":material/science:")
    st.stop()

st.subheader("Two global minima, one robust (Propositions 3.1, 3.2)")
st.caption("Every neuron of class r set to c·v_r (non-robust) or c·u_r (robust). Both fit the training data as c "
           f"grows; only the robust one survives the swap attack of Theorem 4.3. PGD uses the first "
           f"{min(cfg.n_pgd, PGD_CAP)} test examples.")
scale = st.select_slider("scale c", options=SCALES, value=10.0, key=keys.THEORY_SCALE)
rows = minima(config_json, tuple(sorted(set(SCALES))))
st.plotly_chart(minima_figure(rows, chosen=scale), key=keys.THEORY_MINIMA_CHART, config={"displaylogo": False})
table = pd.DataFrame([r for r in rows if r["scale"] == scale]).set_index("minimum")
st.dataframe(table.drop(columns="scale").style.format("{:.3g}"), key=keys.THEORY_TABLE)

st.subheader("Reduced dynamics (Lemmas 5.1, 5.2)")
st.caption("One noiseless example per class (s robust patches at α, P − s non-robust at β), each neuron kept in "
           "span{u_r, v_r}, trained by the same algorithm as the Lab's runs: the theory's Λ(t) and Γ(t).")
raw = not st.toggle("normalised correlations", key=keys.THEORY_NORMALISED)
st.plotly_chart(dynamics_figure(dynamics(config_json), raw=raw), key=keys.THEORY_DYNAMICS_CHART,
                config={"displaylogo": False})
