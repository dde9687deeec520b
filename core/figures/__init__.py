"""Figures: Plotly figure builders shared by the dashboard's pages and the PNG renderer.

Each builder takes plain data (metric frames, arrays, sweep rows) and returns a figure; none
trains, stores or reads files.

May import: ``core.engine`` (for names and theory curves), plotly, numpy, pandas. Never
``core.runs`` or ``core.cli``.
"""
