"""Real-image experiments of the paper's Section 6.2 and Appendix A (feature learning
accuracy on representative datasets, NRF-PGD / RF-PGD attacks). No streamlit here."""

from .claims import real_claims
from .config import DATASETS, RealConfig
from .pipeline import run_real
from .result import STAGES, RealProgress, RealResult

__all__ = ["DATASETS", "STAGES", "RealConfig", "RealProgress", "RealResult", "real_claims", "run_real"]
