"""Who this browser is: the person id of core/classroom/persons.py, read from its cookie.

Streamlit reads cookies (``st.context.cookies``, as sent when the page connected) but sets none, so a
browser's first visit gets a new id, kept for the tab in session state, and a component of a few lines
writes the signed cookie (SameSite=Strict, for a term); every later tab and every reload of that browser
sends it and is the same person. Two tabs opened at once by a new browser may both make an id: the
component then reports the cookie the other tab wrote, and this tab takes it. A cookie that does not
verify (another server's, an edited one) is replaced.
"""

from __future__ import annotations

import functools
import logging
import uuid

import streamlit as st

from core.classroom import persons
from pages import _keys as keys

_log = logging.getLogger(__name__)

# Runs in the page (not an iframe): only document.cookie, and only the one cookie this app owns.
_COOKIE_JS = """
export default function ({ data, setStateValue }) {
  const prefix = data.name + "=";
  const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
  const value = found ? found.slice(prefix.length) : "";
  if (value && value !== data.value && value !== data.stale) {
    setStateValue("person", value);  // another tab of this browser was first: take its person
    return;
  }
  if (value !== data.value) {
    document.cookie = `${prefix}${data.value}; Path=/; Max-Age=${data.max_age}; SameSite=Strict`;
  }
}
"""


@functools.cache
def _cookie_writer():
    return st.components.v2.component("rfl_person_cookie", js=_COOKIE_JS)


@st.cache_resource(show_spinner=False)
def _secret(folder: str) -> bytes:
    try:
        setting = st.secrets.get("cookie_secret")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        setting = None
    secret, warning = persons.load_secret(setting, folder)
    if warning:
        _log.warning(warning)
    return secret


def secret() -> bytes:
    from core.runs.store import default_path

    return _secret(str(default_path().resolve().parent))


def person() -> str:
    """This browser's person id: from its cookie, else a new one (the frame's ``remember_person`` writes it)."""
    ss = st.session_state
    if keys.CLIENT_ID not in ss:
        sent = st.context.cookies.get(persons.COOKIE)
        sent = sent if isinstance(sent, str) else ""  # AppTest's context is a stand-in without cookies
        found = persons.verify(sent, secret())
        ss[keys.CLIENT_ID] = found or persons.new_person()
        ss[keys.PERSON_FROM_COOKIE] = found is not None
        if found is None:
            ss[keys.PERSON_STALE_COOKIE] = sent
    return ss[keys.CLIENT_ID]


def tab_id() -> str:
    """One id per browser tab (a Streamlit session): what counts per tab rather than per person, such as
    the live panels' share of the server's refreshes."""
    ss = st.session_state
    if keys.TAB_ID not in ss:
        ss[keys.TAB_ID] = uuid.uuid4().hex[:12]
    return ss[keys.TAB_ID]


def _adopt() -> None:
    """The component found another tab's cookie: this tab is that person, if the cookie is this server's."""
    ss = st.session_state
    value = (ss.get(keys.PERSON_COOKIE) or {}).get("person")
    found = persons.verify(value, secret())
    if found is not None:
        ss[keys.CLIENT_ID], ss[keys.PERSON_FROM_COOKIE] = found, True
    else:
        ss[keys.PERSON_STALE_COOKIE] = value or ""


def remember_person() -> None:
    """Once per script run, in the frame: write this browser's cookie while its tab holds a new id."""
    person()
    ss = st.session_state
    if ss.get(keys.PERSON_FROM_COOKIE):
        return
    data = {"name": persons.COOKIE, "value": persons.sign(ss[keys.CLIENT_ID], secret()),
            "max_age": persons.COOKIE_MAX_AGE_S, "stale": ss.get(keys.PERSON_STALE_COOKIE, "")}
    _cookie_writer()(key=keys.PERSON_COOKIE, data=data, on_person_change=_adopt, height=0)
