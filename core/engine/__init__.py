"""The engine: what the paper defines and what one run computes.

Start with paper.py: the paper in one file, in plain autograd (data, network, standard, one-step and
PGD training, the attacks, the correlations). The rest computes the same numbers faster, one job per
file: config.py and knobs.py (every knob, validated once) and presets.py; data.py (Definition 2.2),
network.py (the CNN of Section 2.3 with a hand-written backward pass), threats.py and
random_starts.py (the balls perturbations stay in), attacks.py (the one-step attack, PGD, the swap);
train.py (the one training loop, for one run or a batch: batched.py groups them), metrics.py (what
each logged step measures), seeds.py; theory.py (Propositions 3.1/3.2 and Section 5's dynamics),
assumptions.py (Assumption 2.3 as checks), claims.py (Theorems 4.3/4.4 as checks on a finished run),
look_inside.py (the dashboard's views of a run), resources.py (device, threads, memory).

Two sub-packages: fast/ holds the speed paths (fused CPU kernels, the margin attacks on the
pre-activations, chunk sizes), reached through its one seam, ``core.engine.fast``; measure/ holds the
bench, the run-time estimate and the server's budget, imported only from above.

May import: the standard library, torch, numpy, and numba (only through fast/kernels.py, and only
if installed: without it the torch code runs). Nothing else of ``core``: the engine is the bottom
layer, and every other package builds on it.
"""
