"""Runs: where runs live and how they are executed.

The SQLite run store, the job manager and its warm worker processes, the recorder that streams a
run's progress into the store, sweeps (grid spec, execution, background runner) and real-image
runs as store records.

May import: ``core.engine`` and ``core.real``. Never ``core.figures``, ``core.cli`` or the pages.
"""
