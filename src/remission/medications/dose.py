"""Glucocorticoid dose as analysed: dose + unit + frequency + route → prednisone-equivalent mg/day.

Three tables, kept as data, each with its source (docs/decisions/adam-exports.md):

* :data:`EQUIVALENTS` — ``glucocorticoid_equivalents_v1.csv``: per glucocorticoid the dose in mg
  equivalent to 5 mg prednisone (Meikle & Tyler 1977; Liu et al. 2013; specs/medications.md).
  A glucocorticoid that a user adds to the drug table converts with its own
  ``prednisone_equivalent_mg``.
* :data:`FREQUENCIES` — administrations per day of each frequency word (abbreviations, plain
  words and CDISC FREQ codelist submission values such as ``QD``, ``Q12H``, ``2 TIMES PER DAY``),
  and :data:`NOT_CONVERTIBLE_FREQUENCIES` (``PRN``, ``UNKNOWN`` …) with the reason.
* :data:`UNITS` — mass units to mg (``g``, ``mg``, ``µg``/``ug``/``mcg``), and
  :data:`NOT_CONVERTIBLE_UNITS` (``mg/kg``, ``TABLET`` …: no mass per administration).

The formula: ``prednisone_mg_day = dose × unit factor × administrations per day × 5 /
equivalent_mg``, rounded to 6 decimals (so 0.75 mg dexamethasone is exactly 5 mg, not
5.000000000000001, which matters at the DORIS ≤ 5 mg threshold). A value that cannot be converted
is never 0: it is ``None`` with status ``not convertible`` and the reason; a local route
(topical, inhaled, …) is status ``local``: it counts as 0 mg/day of *systemic* glucocorticoid.
In strict mode an unknown unit or frequency word is an :class:`InvalidInputError`.

Examples
--------
>>> convert_to_prednisone_mg_day("methylprednisolone", 8, "mg", "BID", "ORAL").prednisone_mg_day
20.0
>>> convert_to_prednisone_mg_day("prednisone", 10, "mg", "PRN", "oral").reason
'frequency PRN: as needed, administrations per day unknown'
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from remission.errors import InvalidInputError, Problem
from remission.medications.table import PREDNISONE_REFERENCE_MG, Drug, DrugTable, default_table

EQUIVALENTS_FILE = "glucocorticoid_equivalents_v1.csv"

#: Administrations per day. Sources: CDISC Controlled Terminology, FREQ codelist (C71113)
#: submission values and synonyms; plain-word forms as used in REDCap/registry forms. "monthly" and
#: QM are taken as every 4 weeks (1/28, the table's earlier convention).
FREQUENCIES: dict[str, float] = {
    # once a day
    "qd": 1.0,
    "daily": 1.0,
    "od": 1.0,
    "once daily": 1.0,
    "once a day": 1.0,
    "every day": 1.0,
    "1 time per day": 1.0,
    "q24h": 1.0,
    "every 24 hours": 1.0,
    "qam": 1.0,
    "qpm": 1.0,
    "qhs": 1.0,
    "every morning": 1.0,
    "every evening": 1.0,
    "every night": 1.0,
    "at bedtime": 1.0,
    # single administration (covers its start day only)
    "once": 1.0,
    "single": 1.0,
    "single dose": 1.0,
    "one time": 1.0,
    # several a day
    "bid": 2.0,
    "twice daily": 2.0,
    "2 times per day": 2.0,
    "q12h": 2.0,
    "every 12 hours": 2.0,
    "tid": 3.0,
    "three times daily": 3.0,
    "3 times per day": 3.0,
    "q8h": 3.0,
    "every 8 hours": 3.0,
    "qid": 4.0,
    "four times daily": 4.0,
    "4 times per day": 4.0,
    "q6h": 4.0,
    "every 6 hours": 4.0,
    "5 times per day": 5.0,
    "q4h": 6.0,
    "every 4 hours": 6.0,
    "q3h": 8.0,
    "every 3 hours": 8.0,
    "q2h": 12.0,
    "every 2 hours": 12.0,
    "qh": 24.0,
    "every hour": 24.0,
    # less than daily
    "qod": 0.5,
    "every other day": 0.5,
    "every 2 days": 0.5,
    "biw": 2 / 7,
    "twice weekly": 2 / 7,
    "2 times per week": 2 / 7,
    "tiw": 3 / 7,
    "3 times per week": 3 / 7,
    "4 times per week": 4 / 7,
    "qw": 1 / 7,
    "q1w": 1 / 7,
    "weekly": 1 / 7,
    "once weekly": 1 / 7,
    "every week": 1 / 7,
    "q2w": 1 / 14,
    "every 2 weeks": 1 / 14,
    "q3w": 1 / 21,
    "every 3 weeks": 1 / 21,
    "q4w": 1 / 28,
    "every 4 weeks": 1 / 28,
    "monthly": 1 / 28,
    "qm": 1 / 28,
    "every month": 1 / 28,
}
#: Frequencies that cover their start day only (unless a stop day is given).
SINGLE_DOSE: tuple[str, ...] = ("once", "single", "single dose", "one time")
#: Known frequency words whose administrations per day cannot be known (CDISC FREQ: PRN, UNKNOWN,
#: OTHER, CONTINUOUS, INTERMITTENT).
NOT_CONVERTIBLE_FREQUENCIES: dict[str, str] = {
    "prn": "as needed, administrations per day unknown",
    "as needed": "as needed, administrations per day unknown",
    "unknown": "frequency unknown",
    "unk": "frequency unknown",
    "other": "frequency recorded as OTHER",
    "continuous": "continuous administration, no dose per administration",
    "intermittent": "intermittent, administrations per day unknown",
}
#: mg per unit (UCUM: g = 1000 mg, ug = 0.001 mg; µg, μg and mcg are the same unit).
UNITS: dict[str, float] = {
    "mg": 1.0,
    "g": 1000.0,
    "ug": 0.001,
    "µg": 0.001,
    "μg": 0.001,
    "mcg": 0.001,
}
#: Known units that are not a mass per administration (CDISC UNIT codelist forms).
NOT_CONVERTIBLE_UNITS: dict[str, str] = {
    "mg/kg": "dose per kg body weight, weight not recorded with the dose",
    "mg/m2": "dose per m² body surface area, surface not recorded with the dose",
    "tablet": "tablets, strength per tablet unknown",
    "capsule": "capsules, strength per capsule unknown",
    "vial": "vials, strength per vial unknown",
    "puff": "puffs, strength per puff unknown",
    "spray": "sprays, strength per spray unknown",
    "ml": "volume, concentration unknown",
    "%": "concentration, amount applied unknown",
    "iu": "international units, no mass equivalent",
    "gtt": "drops, strength per drop unknown",
    "in": "length of cream/ointment, amount unknown",
    "cm": "length of cream/ointment, amount unknown",
}
#: Routes whose glucocorticoid is local treatment, not systemic exposure (lower case; plain words
#: and CDISC ROUTE submission values).
LOCAL_ROUTES: tuple[str, ...] = (
    "topical",
    "cutaneous",
    "inhaled",
    "inhalation",
    "respiratory (inhalation)",
    "nasal",
    "ophthalmic",
    "otic",
    "auricular (otic)",
    "intra-articular",
    "intralesional",
    "rectal",
    "vaginal",
    "dental",
)

Status = Literal["converted", "local", "not convertible"]


@dataclass(frozen=True)
class Equivalence:
    """One row of the equivalence table: mg of the drug equivalent to 5 mg prednisone."""

    name: str
    equivalent_mg: float | None
    source: str


@dataclass(frozen=True)
class DoseConversion:
    """The prednisone-equivalent daily dose of one medication record, or why there is none.

    ``prednisone_mg_day`` is set only for status ``converted``; ``systemic_mg_day`` is what the
    day's systemic dose counts (0 for a local route, ``None`` when not convertible).
    """

    prednisone_mg_day: float | None
    status: Status
    reason: str | None = None

    @property
    def systemic_mg_day(self) -> float | None:
        """Contribution to the day's systemic prednisone-equivalent dose (mg/day)."""
        return 0.0 if self.status == "local" else self.prednisone_mg_day


def _word(value: str | None) -> str:
    return " ".join(str(value).split()).lower() if value is not None else ""


@cache
def equivalence_table() -> dict[str, Equivalence]:
    """The shipped equivalence table (``glucocorticoid_equivalents_v1.csv``) by drug name."""
    text = resources.files("remission.medications").joinpath(EQUIVALENTS_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    out: dict[str, Equivalence] = {}
    for row in rows:
        value = (row["equivalent_mg"] or "").strip()
        out[row["name"]] = Equivalence(row["name"], float(value) if value else None, row["source"])
    return out


#: The equivalence table as loaded (drug name → :class:`Equivalence`).
EQUIVALENTS = equivalence_table()


def equivalence_for(drug: Drug) -> Equivalence:
    """The equivalence of a glucocorticoid: the shipped table, else the drug table's own value."""
    shipped = EQUIVALENTS.get(drug.name)
    if shipped is not None:
        return shipped
    return Equivalence(drug.name, drug.prednisone_equivalent_mg, "drug table (user extension)")


def administrations_per_day(frequency: str | None, *, strict: bool = False) -> tuple[float | None, str | None]:
    """Administrations per day of a frequency word, or ``(None, reason)``.

    Examples
    --------
    >>> administrations_per_day("2 TIMES PER DAY"), administrations_per_day("QOD")
    ((2.0, None), (0.5, None))
    """
    word = _word(frequency)
    if not word:
        return None, "frequency missing"
    if word in FREQUENCIES:
        return FREQUENCIES[word], None
    if word in NOT_CONVERTIBLE_FREQUENCIES:
        return None, f"frequency {frequency}: {NOT_CONVERTIBLE_FREQUENCIES[word]}"
    if strict:
        raise InvalidInputError(
            [Problem(None, "frequency", str(frequency), "unknown frequency; expected e.g. QD, BID, Q8H, QW, ONCE")]
        )
    return None, f"frequency {frequency}: unknown frequency"


def mg_per_unit(unit: str | None, *, strict: bool = False) -> tuple[float | None, str | None]:
    """mg in one ``unit`` (empty = mg), or ``(None, reason)``.

    Examples
    --------
    >>> mg_per_unit("g"), mg_per_unit("mcg"), mg_per_unit("mg/kg")[1]
    ((1000.0, None), (0.001, None), 'unit mg/kg: dose per kg body weight, weight not recorded with the dose')
    """
    word = _word(unit) or "mg"
    if word in UNITS:
        return UNITS[word], None
    if word in NOT_CONVERTIBLE_UNITS:
        return None, f"unit {unit}: {NOT_CONVERTIBLE_UNITS[word]}"
    if strict:
        raise InvalidInputError(
            [Problem(None, "unit", str(unit), "unknown dose unit; expected mg, g, ug/µg/mcg (or mg/kg, TABLET …)")]
        )
    return None, f"unit {unit}: unknown dose unit"


def is_local_route(route: str | None) -> bool:
    """Whether a route is local (topical, inhaled, …): not systemic glucocorticoid exposure."""
    return _word(route) in LOCAL_ROUTES


def convert_to_prednisone_mg_day(
    drug: str,
    dose: float | None,
    unit: str | None,
    frequency: str | None,
    route: str | None,
    *,
    table: DrugTable | None = None,
    strict: bool = False,
) -> DoseConversion:
    """Prednisone-equivalent mg/day of one glucocorticoid record.

    Parameters
    ----------
    drug : str
        Glucocorticoid name or synonym (drug table), e.g. ``"Medrol"``.
    dose : float or None
        Dose per administration, in ``unit`` (≥ 0).
    unit : str or None
        ``mg``, ``g``, ``ug``/``µg``/``mcg``; empty = mg. Known non-mass units (``mg/kg``,
        ``TABLET`` …) are not convertible.
    frequency : str or None
        A word of :data:`FREQUENCIES` (any case); ``PRN``/``UNKNOWN`` … are not convertible.
    route : str or None
        A local route (:data:`LOCAL_ROUTES`) gives status ``local``; empty = systemic.
    table : DrugTable or None
        Drug table (default: the shipped one).
    strict : bool
        Raise :class:`InvalidInputError` for an unknown unit or frequency word instead of
        returning status ``not convertible``.

    Returns
    -------
    DoseConversion
        ``dose × mg per unit × administrations per day × 5 / equivalent_mg`` (6 decimals).

    Raises
    ------
    InvalidInputError
        Unknown drug, a drug that is not a glucocorticoid, a negative dose, or (strict) an
        unknown unit or frequency.

    Examples
    --------
    >>> convert_to_prednisone_mg_day("dexamethasone", 0.75, "mg", "QD", "oral")
    DoseConversion(prednisone_mg_day=5.0, status='converted', reason=None)
    >>> convert_to_prednisone_mg_day("hydrocortisone", 1, "", "BID", "TOPICAL").status
    'local'
    """
    entry = (table or default_table()).lookup(drug)
    if entry.drug_class != "glucocorticoid":
        raise InvalidInputError([Problem(None, "drug", str(drug), f"not a glucocorticoid ({entry.drug_class})")])
    if dose is not None and dose < 0:
        raise InvalidInputError([Problem(None, "dose", str(dose), "expected a dose >= 0")])
    if is_local_route(route):
        return DoseConversion(None, "local", f"route {route}: local, not systemic (counts 0 mg/day)")
    per_unit, unit_reason = mg_per_unit(unit, strict=strict)
    per_day, frequency_reason = administrations_per_day(frequency, strict=strict)
    equivalent = equivalence_for(entry).equivalent_mg
    reasons = [
        "dose missing" if dose is None else None,
        unit_reason,
        frequency_reason,
        f"{entry.name}: no prednisone equivalence (documented choice)" if equivalent is None else None,
    ]
    found = [r for r in reasons if r is not None]
    if found or dose is None or per_unit is None or per_day is None or equivalent is None:
        return DoseConversion(None, "not convertible", "; ".join(found))
    mg_day = round(dose * per_unit * per_day * PREDNISONE_REFERENCE_MG / equivalent, 6)
    return DoseConversion(mg_day, "converted")
