"""A room's votes as bars: one bar per answer, the correct one marked once it is revealed."""

from __future__ import annotations

import plotly.graph_objects as go

NEUTRAL, RIGHT, WRONG = "#5b8def", "#2ca02c", "#c8c8c8"


def tally_figure(answers: list[str], counts: list[int], correct: int | None = None) -> go.Figure:
    """Horizontal bars, first answer on top; with ``correct`` the right bar turns green, the others grey."""
    if len(answers) != len(counts):
        raise ValueError(f"{len(answers)} answers but {len(counts)} counts")
    total = sum(counts)
    labels = [f"{chr(ord('A') + i)}. {text}" for i, text in enumerate(answers)]
    colors = [NEUTRAL if correct is None else RIGHT if i == correct else WRONG for i in range(len(answers))]
    text = [f"{c} ({c / total:.0%})" if total else "0" for c in counts]
    fig = go.Figure(go.Bar(x=counts, y=labels, orientation="h", marker_color=colors, text=text,
                           textposition="auto", hovertemplate="%{y}: %{x}<extra></extra>"))
    fig.update_layout(title=f"{total} vote{'s' if total != 1 else ''}", height=90 + 60 * len(answers),
                      margin=dict(l=10, r=10, t=40, b=10), xaxis=dict(title="votes", rangemode="tozero", dtick=1
                                                                      if max(counts, default=0) < 10 else None),
                      yaxis=dict(autorange="reversed"))
    return fig
