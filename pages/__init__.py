"""The dashboard's pages (run by app.py's st.navigation) and their shared helpers (the _-prefixed modules)."""
