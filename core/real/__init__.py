"""Real-image experiments of the paper's Section 6.2 and Appendix A (feature learning
accuracy on representative datasets, NRF-PGD / RF-PGD attacks).

This package is the real-image engine: dataset parsers, models, training, attacks, the pipeline.
Its runs live in ``core.runs.real_runs`` and its command line in ``core.cli.real``, the same split
as the synthetic engine's.

May import: ``core.engine`` (config errors, devices). Never ``core.runs``, ``core.figures`` or
``core.cli`` (``__main__.py`` excepted: an entry point sits on top of everything).
"""

from .pipeline import run_real
from .real_claims import real_claims
from .real_config import DATASETS, RealConfig
from .result import STAGES, RealProgress, RealResult

__all__ = ["DATASETS", "STAGES", "RealConfig", "RealProgress", "RealResult", "real_claims", "run_real"]
