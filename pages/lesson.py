"""Lesson: the paper's argument as chapters a class follows — predict, run, reveal.

The opening (above chapter 1) says what the app is and shows the data. Then one chapter at a time
(core.lesson.CHAPTERS): the question; a prediction, which must come before Run; Run submits the chapter's runs
(arms x modes x seeds) as background jobs, or finds them already in the run store, and their curves grow live;
the reveal only once every run finished: right or wrong, the verdict on how many seeds, the explanation and
the charts of what the chapter asks about. The chapter and the seed count live in the URL
(/lesson?chapter=3&seeds=3).
"""

from __future__ import annotations

import json

import streamlit as st

from core.figures.charts import for_projector
from core.lesson import CHAPTERS, OPENING, LessonError, check_seeds, get_chapter
from pages import _keys as keys
from pages import _lesson_runs as lesson_runs
from pages._common import leave_pages_v1, md_escape, presentation
from pages._lesson_views import charts, data_strip
from pages._polling import live_fragment

leave_pages_v1()  # first, before anything is drawn: see pages/_common.py

ss = st.session_state
DEFAULT_SEEDS = 3
TICK = {True: ":green[:material/check:]", False: ":red[:material/close:]"}
LIVE_CSS = '<style>[data-testid="stElementContainer"][data-stale="true"] { opacity: 1 !important; }</style>'
# Projector-sized answers: the question and its choices are what a class reads from the back row.
PRESENT_CSS = """<style>
[data-testid="stRadio"] label p { font-size: 1.45rem !important; color: #31333F !important; }
[data-testid="stHeading"] h2 { font-size: 2.2rem !important; }
</style>"""


def read_link() -> list[str]:
    """Chapter and seeds from the URL when the page is entered (a link, or the Lab's link to a chapter); one line
    per bad value, which falls back to a valid one."""
    params, notes = st.query_params, []
    ss.setdefault(keys.LESSON_CHAPTER, 1)
    ss.setdefault(keys.LESSON_SEEDS, DEFAULT_SEEDS)
    if not ss.get(keys.FRAME_ENTERED, True):
        return notes
    raw = params.get("chapter")
    if raw is not None:
        try:
            ss.lesson_chapter = get_chapter(raw).number
        except LessonError as err:
            notes.append(f"Link: {err}; showing chapter {ss.lesson_chapter}.")
    raw = params.get("seeds")
    if raw is not None:
        try:
            ss.lesson_seeds = check_seeds(int(raw) if raw.strip().isdigit() else raw)
        except LessonError as err:
            notes.append(f"Link: {err}; using {ss.lesson_seeds} seeds.")
    return notes


def prediction(chapter) -> int | None:
    """The class's prediction: the index of the chosen answer, or None before anyone answered.

    Today one person's radio; a room's tally can return its majority here instead. Locked once Run was pressed,
    so that nobody changes their answer after seeing the result."""
    saved = ss.setdefault(keys.LESSON_PREDICTIONS, {})
    locked = (chapter.number, ss.lesson_seeds) in ss.setdefault(keys.LESSON_ASKED, set())
    choice = st.radio("**Your prediction**", range(len(chapter.answers)), index=saved.get(chapter.number),
                      format_func=lambda i: chapter.answers[i], key=f"lesson_answer_{chapter.number}",
                      disabled=locked, help="Answer first: Run unlocks once you predicted.")
    if choice is not None and not locked:
        saved[chapter.number] = choice
    return saved.get(chapter.number)


def go_to(number: int) -> None:
    ss.lesson_chapter = number


def run(chapter) -> None:
    """Ask for the reveal: submit the missing runs (cached ones are reused); the data chapter trains nothing."""
    ss.setdefault(keys.LESSON_ASKED, set()).add((chapter.number, ss.lesson_seeds))
    if chapter.experiment.kind != "data":
        if refused := lesson_runs.submit(chapter, ss.lesson_seeds):
            ss.lesson_flash = refused


def progress_panel(chapter, seeds: int, polling: bool) -> None:
    """While the runs train: how many finished, and the chapter's charts growing (bands over the seeds so far);
    one full rerun when all ended draws the reveal."""
    ids = lesson_runs.chapter_ids(chapter, seeds)
    runs = lesson_runs.statuses(ids)
    state = lesson_runs.state(chapter, runs)
    if polling and state != "active":
        st.rerun()
    done = sum(1 for r in runs.values() if r and r["status"] not in ("queued", "running"))
    running = sum(1 for r in runs.values() if r and r["status"] == "running")
    waiting = sum(1 for r in runs.values() if r and r["status"] == "queued")
    line = f", {waiting} waiting in line for a worker" if waiting else ""
    st.caption(f"Training: {done} of {len(runs)} runs finished, {running} running{line} ({seeds} seed(s)). The "
               "verdict appears when all are done; meanwhile the curves grow.")
    charts(chapter, {key: run_id for key, run_id in ids.items() if run_id}, live=True)


def reveal(chapter, choice: int, seeds: int, ids: dict, runs: dict) -> None:
    verdict = lesson_runs.verdict(chapter, seeds, ids, runs)
    if verdict.state == "incomplete":
        st.error(f"No reveal: {md_escape(verdict.reason or 'the runs are incomplete')}")
        return
    right = choice == chapter.correct
    answer = chapter.answers[chapter.correct]
    if right:
        st.success(f"**Right.** {answer}", icon=":material/check_circle:")
    else:
        st.error(f"**Not this time.** You predicted “{chapter.answers[choice]}”; the runs say: **{answer}**",
                 icon=":material/cancel:")
    from core.lesson import CHECKS

    ticks = "  \n".join(f"{TICK[held == total]} {CHECKS[name].text} — {held}/{total} seeds"
                        for name, (held, total) in verdict.checks.items())
    shown = "holds" if verdict.holds else "does not hold"
    st.markdown(f"**Verdict: the claim {shown} on {verdict.seeds_held}/{verdict.seeds} seeds.**  \n{ticks}")
    st.markdown(chapter.explanation)
    st.info(f"**Look at:** {chapter.look_at}", icon=":material/visibility:")
    charts(chapter, ids)


leave = read_link()
chapter = CHAPTERS[ss.lesson_chapter - 1]
seeds = ss.lesson_seeds
ss.url_extra = {"chapter": str(chapter.number), "seeds": str(seeds)}

st.title(":material/school: The Lesson")
if not presentation():
    st.caption("The paper's argument in eight short chapters: predict, run, reveal. The same experiments as the "
               "**Lab**, on several seeds.")
for note in leave:
    st.warning(md_escape(note))
if presentation():
    st.markdown(PRESENT_CSS, unsafe_allow_html=True)
if chapter.number == 1:
    st.markdown(OPENING)
    data_config = chapter.experiment.configs(chapter.experiment.arms[0], 1)[0]
    show_strip = data_strip(json.dumps(data_config.to_dict(), sort_keys=True), 230)
    st.plotly_chart(for_projector(show_strip) if presentation() else show_strip, key=keys.LESSON_DATA_CHART,
                    config={"displaylogo": False})
st.progress(chapter.number / len(CHAPTERS), text=f"Chapter {chapter.number} of {len(CHAPTERS)}")
st.header(f"{chapter.number}. {chapter.title}")
st.markdown(f"### {chapter.question}")

choice = prediction(chapter)
ids = lesson_runs.chapter_ids(chapter, seeds)
runs = lesson_runs.statuses(ids)
state = lesson_runs.state(chapter, runs)
asked = (chapter.number, seeds) in ss.setdefault(keys.LESSON_ASKED, set())
label = "▶ Reveal" if chapter.experiment.kind == "data" else "▶ Run and reveal"
st.button(label, key=keys.LESSON_RUN, type="primary", on_click=run, args=(chapter,),
          disabled=choice is None or state == "active" or (asked and state in ("finished", "data")),
          help="Predict first." if choice is None else "Train this chapter's runs as background jobs "
          f"({seeds} seed(s)); runs someone already made are reused.")
if flash := ss.pop(keys.LESSON_FLASH, None):
    st.error(md_escape(flash))

if state == "active":
    st.markdown(LIVE_CSS, unsafe_allow_html=True)
    live_fragment(progress_panel, True, chapter, seeds, True)
elif state == "failed" and asked:
    bad = [r for r in runs.values() if r and r["status"] in lesson_runs.ENDED_BADLY]
    st.error(f"This chapter's runs did not finish ({len(bad)} {bad[0]['status']}): no reveal. Press Run to try again.")
elif asked and choice is not None and state in ("finished", "data"):
    reveal(chapter, choice, seeds, ids, runs)
elif state == "failed":
    st.caption("An earlier attempt at this chapter did not finish; Run starts it again.")

st.divider()
back, middle, forward = st.columns([1, 3, 1])
back.button("◀ Back", key=keys.LESSON_BACK, on_click=go_to, args=(chapter.number - 1,), disabled=chapter.number == 1,
            width="stretch")
forward.button("Next ▶", key=keys.LESSON_NEXT, on_click=go_to, args=(chapter.number + 1,),
               disabled=chapter.number == len(CHAPTERS), width="stretch")
with middle:
    if not presentation():
        st.number_input("seeds per experiment", min_value=1, max_value=5, value=seeds, key=keys.LESSON_SEEDS_INPUT,
                        on_change=lambda: ss.__setitem__("lesson_seeds", int(ss.lesson_seeds_input)),
                        help="Each experiment runs on this many seeds; charts show the mean and the min–max band.")
