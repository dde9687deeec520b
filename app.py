"""Robust Feature Lab: the router and the shared frame (pages live in pages/)."""

import streamlit as st

st.set_page_config(page_title="Robust Feature Lab", page_icon="🧪", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/lab.py", title="Lab", icon="🧪", default=True),
        st.Page("pages/about.py", title="About", icon="📖"),
    ]
)
navigation.run()
