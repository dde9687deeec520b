"""Measuring the engine: how fast a step runs against its limits, and what a run will cost before it runs.

* step_speed.py: ``python -m core bench``'s figures -- training steps per second against the peer
  (paper.py), against the step's own matrix products replayed alone (products.py), and against
  this machine's square product;
* products.py: the matrix products a function runs, recorded, replayed, or timed where they run;
* estimate.py: how long a twin run will take, from a work count scaled to a timed step;
* budget.py: what the dashboard's server may compute itself, refused above it.

docs/performance.md says how to read the figures.

May import: all of the engine (the face of fast/ only). Imported only from above the engine (the
command line, the pages, the job manager, bench/): the model and the speed paths never import it.
"""
