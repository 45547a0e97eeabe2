"""Treatment regimen: body surface area, conditioning and cell doses, schedule, eligibility.

Pure layer: protocols are versioned data (``protocols/*.yaml``), validated with pydantic; the
functions here compute and explain, they do not print or write.

Examples
--------
>>> from remission.regimen import compute_regimen, load_protocol
>>> compute_regimen(180, 90).doses["fludarabine"]
Decimal('53.0')
"""

from remission.regimen.dosing import (
    Dose,
    RegimenResult,
    bsa,
    bsa_dubois,
    bsa_mosteller,
    compute_regimen,
    round_half_away,
)
from remission.regimen.eligibility import CriterionResult, EligibilityResult, evaluate_eligibility
from remission.regimen.protocol import (
    DEFAULT_PROTOCOL,
    Drug,
    Protocol,
    load_protocol,
    parse_protocol,
)

__all__ = [
    "DEFAULT_PROTOCOL",
    "CriterionResult",
    "Dose",
    "Drug",
    "EligibilityResult",
    "Protocol",
    "RegimenResult",
    "bsa",
    "bsa_dubois",
    "bsa_mosteller",
    "compute_regimen",
    "evaluate_eligibility",
    "load_protocol",
    "parse_protocol",
    "round_half_away",
]
