"""Runs: where runs live and how they are executed.

The SQLite run store, the job manager and its warm worker processes (admission against a budget of
compute, a fair queue, watchers of shared runs), the recorder that streams a run's progress into the
store, sweeps (grid spec, plan, execution, as jobs or from the command line) and real-image runs as
store records.

May import: ``core.engine`` and ``core.real``. Never ``core.figures``, ``core.cli`` or the pages.
"""
