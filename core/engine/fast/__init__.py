"""The speed paths, behind one seam: what the model files import to run fast, with the same numbers.

Each name here computes what the model's torch code computes (network.py, threats.py, attacks.py's
plain loop), faster where it can, to rounding (the tests hold every one to its reference):

* the network on a CPU in fused numba kernels (``activate``, ``logits``, ``input_grad``,
  ``weight_grad_into``: fused_network.py over kernels.py and numba_kernels.py);
* the attacks' steps in the patch-wise l2 ball in one pass (``ascend``, ``advance``,
  ``start_and_point``: fused_steps.py);
* the margin attacks on the pre-activations (``on_pairs`` says when; ``PairGeometry``,
  ``one_step_point``, ``pgd_point``: pair_attacks.py over pair_rows.py);
* chunks of work sized to the machine's cache, or to fill a GPU (``chunk_rows``, ``chunk_runs``:
  chunk_sizes.py over cpu_cache.py);
* counter-based patch-wise random starts (Philox-4x32-10), the same bits on every device, batch and
  chunking (``counter_starts``: philox_starts.py over philox_kernel.py). The engine's starts are
  still random_starts.py's pooled draws; this is the route a GPU's starts are to take.

docs/performance.md explains each path and how to measure it.

May import: torch, numpy, numba (kernels.py and philox_kernel.py alone), and of the engine only the torch code the paths
replace and the data it takes (network.py, threats.py, random_starts.py, attack_point.py, seeds.py):
never the training loop, the metrics or the attacks' classes, which import this face and nothing
inside it.
"""

from .chunk_sizes import CPU_BUDGET, GPU_BUDGET, chunk_rows, chunk_runs, chunks
from .cpu_cache import describe as describe_cpu
from .fused_network import activate, input_grad, logits, weight_grad_into
from .fused_steps import advance, ascend, start_and_point
from .kernels import available as kernels_available
from .kernels import set_threads as set_kernel_threads
from .kernels import warm as warm_kernels
from .pair_attacks import PairGeometry, on_pairs, one_step_point, pgd_point
from .pair_rows import PAIR_MIN_CLASSES

__all__ = ["CPU_BUDGET", "GPU_BUDGET", "PAIR_MIN_CLASSES", "PairGeometry", "activate", "advance", "ascend",
           "chunk_rows", "chunk_runs", "chunks", "describe_cpu", "input_grad", "kernels_available", "logits",
           "on_pairs", "one_step_point", "pgd_point", "set_kernel_threads", "start_and_point", "warm_kernels",
           "weight_grad_into"]
