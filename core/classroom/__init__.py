"""A class on one server: who is who, and the class's rooms.

A person is a browser: a random id the server signs (persons.py), kept by the browser in a cookie, so
that reloads and new tabs stay the same person while a private window or another browser is another.
Rooms (rooms.py) let a teacher ask the Lesson's questions and the class vote, one vote per person.

May import: nothing of ``core`` (the rooms live in the run store's SQLite file, which they open by path).
"""
