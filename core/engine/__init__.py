"""The engine: what the paper defines and what one run computes.

Config and presets, the patch data (Definition 2.2), the smoothed-ReLU CNN, threat models and
attacks, the one training loop (single runs and batches of runs), the SPEC 1.6 metrics, the
theory of Section 5, the assumption checks, the claim checks, run-time and memory estimates.

May import: the standard library, torch, numpy, and numba (only through cpu_kernels.py, and only
if installed: without it the torch code runs). Nothing else of ``core``: the engine is the bottom
layer, and every other package builds on it.
"""
