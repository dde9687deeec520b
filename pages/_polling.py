"""How often the live panels refresh: one budget of refreshes per second for the whole server.

Every open page with a live panel (Lab, Lesson, Real images) reruns its fragment on a timer, and
each rerun costs the one server process tens of milliseconds. One session alone polls every
second; thirty watching one shared run would make thirty refreshes a second and starve the page a
student opens meanwhile (measured before this rule: 103 s to load the About page). So the sessions
polling right now share REFRESHES_PER_S: each one's interval is pollers / REFRESHES_PER_S seconds,
at least MIN_POLL_S and at most MAX_POLL_S. A fragment's interval is fixed when the full page
registers it, so a panel whose interval is off by 2x from its current share asks for one full
rerun, which registers the new one.
"""

from __future__ import annotations

import functools
import threading
import time

import streamlit as st

from pages._common import tab_id

REFRESHES_PER_S = 3.0  # about a fifth of one core at ~60 ms a refresh: the rest answers new pages
MIN_POLL_S = 1.0  # alone, the curves grow every second
MAX_POLL_S = 8.0  # forty pollers and more: a status line 8 s old is still live enough
# A what-if (a knob just moved) polls FAST_SHARE times as often as a plain live panel while its runs train,
# so its first point and its end show within a fraction of a second; it also counts FAST_SHARE times against
# the server's budget, so a class of what-ifs slows everyone alike rather than starving new pages.
FAST_SHARE = 4
FAST_POLL_S = 0.5


@st.cache_resource(show_spinner=False)
def _pollers() -> tuple[dict, threading.Lock]:
    """Server-wide: session id -> (last refresh, its interval, its weight)."""
    return {}, threading.Lock()


def share_s(pollers: float) -> float:
    """The interval of each of `pollers` sessions polling at once (a fast one counts FAST_SHARE times)."""
    return min(MAX_POLL_S, max(MIN_POLL_S, pollers / REFRESHES_PER_S))


def poll_seconds(fast: bool = False) -> float:
    """This session's refresh interval now; from here on it counts as polling (until it goes quiet)."""
    seen, lock = _pollers()
    now, me = time.monotonic(), tab_id()  # per tab: a person's tabs each poll
    weight = FAST_SHARE if fast else 1
    with lock:
        for who, (last, every, _) in list(seen.items()):
            if now - last > 2 * every + 2:  # its page closed or its runs ended
                del seen[who]
        total = sum(w for who, (_, _, w) in seen.items() if who != me) + weight
        interval = max(FAST_POLL_S, share_s(total) / weight)
        seen[me] = (now, interval, weight)
    return interval


def live_fragment(panel, active: bool, *args, at_least_s: float = FAST_POLL_S, fast: bool = False) -> None:
    """Draw panel(*args) as a fragment that refreshes on this session's share while `active`, else once;
    never more often than every `at_least_s` (a panel whose refresh costs more than most asks for more);
    `fast` for a what-if (see FAST_SHARE).

    Each refresh counts the session as polling and, when the share has moved 2x away from the interval
    the fragment was registered with, reruns the page once to register the new one."""
    interval = max(at_least_s, poll_seconds(fast)) if active else None

    @functools.wraps(panel)  # the fragment's identity stays the panel's
    def paced(*a):
        if interval:
            now = max(at_least_s, poll_seconds(fast))
            if now >= 2 * interval or now <= interval / 2:
                st.rerun()
        panel(*a)

    st.fragment(paced, run_every=interval)(*args)
