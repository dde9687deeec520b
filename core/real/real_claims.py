"""The paper's qualitative claims on real images (Tables 1 and 2), as checks on a result.

Quantities differ with dataset, model and budget; the *pattern* is what the paper argues
from, so the quick preset is tuned to reproduce it and the dashboard can show each check.
"""

from __future__ import annotations

from dataclasses import dataclass

PGD_GAP = 0.3  # adversarial training must buy at least this much PGD accuracy
ATTACK_RATIO = 2.0  # "far more often": NRF-PGD at least twice RF-PGD's success ...
ATTACK_MARGIN = 0.1  # ... and ahead by at least 10 points, so tiny rates cannot pass by ratio alone


@dataclass(frozen=True)
class Claim:
    name: str
    holds: bool
    detail: str


def real_claims(data: dict) -> list[Claim]:
    """Checks on ``RealResult.to_json()`` (or the CLI's JSON)."""
    std, adv = data["runs"]["std"], data["runs"]["adv"]
    nrf, rf = data["attacks"]["nrf_pgd"], data["attacks"]["rf_pgd"]

    def pair(a, b):
        return f"{a:.3f} vs {b:.3f}"

    return [
        Claim("standard net learns non-robust features more than robust ones (Table 1)",
              std["feat_acc_nonrobust"] > std["feat_acc_robust"],
              "std: non-robust vs robust feature acc " + pair(std["feat_acc_nonrobust"], std["feat_acc_robust"])),
        Claim("adversarial net learns robust features more than non-robust ones (Table 1)",
              adv["feat_acc_robust"] > adv["feat_acc_nonrobust"],
              "adv: robust vs non-robust feature acc " + pair(adv["feat_acc_robust"], adv["feat_acc_nonrobust"])),
        Claim("adversarial training suppresses non-robust feature learning (Table 1)",
              adv["feat_acc_nonrobust"] < std["feat_acc_nonrobust"],
              "non-robust feature acc adv vs std " + pair(adv["feat_acc_nonrobust"], std["feat_acc_nonrobust"])),
        Claim(f"adversarial training raises PGD accuracy by at least {PGD_GAP} (Table 1)",
              adv["acc_pgd"] - std["acc_pgd"] >= PGD_GAP,
              "PGD acc adv vs std " + pair(adv["acc_pgd"], std["acc_pgd"])),
        Claim("NRF-PGD succeeds far more often than RF-PGD against the standard net (Table 2)",
              nrf["std"] >= ATTACK_RATIO * rf["std"] and nrf["std"] - rf["std"] >= ATTACK_MARGIN,
              "success on std: NRF vs RF " + pair(nrf["std"], rf["std"])),
    ]
