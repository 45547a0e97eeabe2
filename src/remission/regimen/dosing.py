"""Body surface area, conditioning and cell doses, and the day −5 … 0 schedule (pure).

Formulas
--------
* Mosteller RD. N Engl J Med 1987;317:1098: ``BSA = sqrt(height_cm × weight_kg / 3600)``.
* DuBois D, DuBois EF. Arch Intern Med 1916;17:863:
  ``BSA = 0.007184 × weight_kg^0.425 × height_cm^0.725``.

All rounding is half away from zero (45.25 → 45.3), done in :class:`decimal.Decimal`, never
with :func:`round` (which rounds half to even on binary floats). BSA is rounded first (protocol
``bsa.decimals``, 2 by default); each dose is computed exactly from the rounded BSA and then
rounded to the drug's ``decimals``.

Examples
--------
>>> str(bsa_mosteller(170, 70)), str(bsa_dubois(170, 70))
('1.818118685772619', '1.809707801753247')
>>> result = compute_regimen(170, 70)
>>> result.bsa_m2, result.doses["fludarabine"], result.total("fludarabine")
(Decimal('1.82'), Decimal('45.5'), Decimal('136.5'))
>>> result.doses["cyclophosphamide"], result.doses["car_t_cells"]
(Decimal('1820'), Decimal('70000000'))
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

from remission.errors import InvalidInputError, Problem
from remission.regimen.protocol import Drug, Protocol, load_protocol

Formula = Literal["mosteller", "dubois"]
FORMULAS: tuple[str, ...] = ("mosteller", "dubois")
HEIGHT_RANGE_CM = (50.0, 250.0)
WEIGHT_RANGE_KG = (2.0, 300.0)
#: Digits kept of an unrounded BSA before rounding: removes binary noise such as 1.4449999999.
BSA_GUARD_DECIMALS = 9
#: Weight is taken to at most this many decimals (0.000001 kg) in per-kg doses.
WEIGHT_DECIMALS = 6


def _dec(value: float | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def round_half_away(value: float | int | Decimal, decimals: int) -> Decimal:
    """Round half away from zero to ``decimals`` places (negative = tens, hundreds …).

    Examples
    --------
    >>> [str(round_half_away(v, 1)) for v in (45.25, 45.35, -45.25, 0.05)]
    ['45.3', '45.4', '-45.3', '0.1']
    >>> str(round_half_away(1820.5, 0)), str(round_half_away(1234, -1))
    ('1821', '1.23E+3')
    """
    quantum = Decimal(1).scaleb(-decimals)
    return _dec(value).quantize(quantum, rounding=ROUND_HALF_UP)  # HALF_UP = away from zero


def bsa_mosteller(height_cm: float, weight_kg: float) -> Decimal:
    """Mosteller BSA in m² (unrounded, 16 significant digits).

    >>> str(bsa_mosteller(160, 50))[:6], str(bsa_mosteller(180, 90))[:6]
    ('1.4907', '2.1213')
    """
    with localcontext() as ctx:
        ctx.prec = 16
        return (_dec(height_cm) * _dec(weight_kg) / Decimal(3600)).sqrt()


def bsa_dubois(height_cm: float, weight_kg: float) -> Decimal:
    """DuBois BSA in m² (unrounded, 16 significant digits).

    >>> str(bsa_dubois(160, 50))[:6], str(bsa_dubois(180, 90))[:6]
    ('1.5011', '2.0989')
    """
    with localcontext() as ctx:
        ctx.prec = 16
        return Decimal("0.007184") * _dec(weight_kg) ** Decimal("0.425") * _dec(height_cm) ** Decimal("0.725")


def bsa(height_cm: float, weight_kg: float, formula: str = "mosteller") -> Decimal:
    """BSA in m² by ``formula`` (``mosteller`` or ``dubois``), unrounded."""
    if formula == "dubois":
        return bsa_dubois(height_cm, weight_kg)
    return bsa_mosteller(height_cm, weight_kg)


@dataclass(frozen=True)
class Dose:
    """One administration of the schedule."""

    day: int
    drug: str
    name: str
    amount: Decimal
    unit: str
    basis: str


@dataclass(frozen=True)
class RegimenResult:
    """Computed BSA, per-administration doses by drug code, and the day-by-day schedule."""

    protocol: str
    formula: str
    bsa_unrounded: Decimal
    bsa_m2: Decimal
    doses: dict[str, Decimal]
    schedule: tuple[Dose, ...]
    capped: tuple[str, ...] = ()

    def total(self, drug: str) -> Decimal:
        """Total amount of ``drug`` over all its days."""
        return sum((d.amount for d in self.schedule if d.drug == drug), Decimal(0))


def dose_of(drug: Drug, bsa_m2: Decimal, weight_kg: float) -> tuple[Decimal, bool]:
    """One rounded dose of ``drug`` for a (rounded) BSA and a weight; and whether it was capped."""
    weight = round_half_away(weight_kg, WEIGHT_DECIMALS)
    size = {"mg/m2": bsa_m2, "mg/kg": weight, "cells/kg": weight, "mg": Decimal(1)}[drug.unit]
    with localcontext() as ctx:
        ctx.prec = 40
        amount = round_half_away(drug.dose * size, drug.decimals)
    if drug.cap is not None and amount > drug.cap:
        return drug.cap, True
    return amount, False


def validate_body_size(height_cm: float, weight_kg: float, formula: str | None) -> None:
    """Raise InvalidInputError when height, weight or formula is outside the allowed values."""
    problems = []
    for code, value, (low, high) in (
        ("height_cm", height_cm, HEIGHT_RANGE_CM),
        ("weight_kg", weight_kg, WEIGHT_RANGE_KG),
    ):
        if value is None or not (low <= float(value) <= high):
            problems.append(
                Problem(
                    None,
                    code,
                    str(value),
                    f"out of range; expected a number ≥ {low:g} and ≤ {high:g}",
                )
            )
    if formula is not None and formula not in FORMULAS:
        problems.append(Problem(None, "bsa_formula", str(formula), "expected one of mosteller, dubois"))
    if problems:
        raise InvalidInputError(problems)


def compute_regimen(
    height_cm: float,
    weight_kg: float,
    formula: str | None = None,
    protocol: Protocol | None = None,
) -> RegimenResult:
    """BSA, doses and schedule for one patient under ``protocol`` (default: erlangen-2024).

    Parameters
    ----------
    height_cm : float
        Height in cm, 50–250.
    weight_kg : float
        Weight in kg, 2–300.
    formula : {"mosteller", "dubois"}, optional
        BSA formula; ``None`` uses the protocol's default (Mosteller).
    protocol : Protocol, optional
        A validated protocol (:func:`remission.regimen.load_protocol`).

    Returns
    -------
    RegimenResult
        ``bsa_m2`` rounded half away from zero, one rounded dose per drug (mg or cells), and the
        schedule sorted by day.

    Examples
    --------
    >>> r = compute_regimen(160, 50, "dubois")
    >>> r.bsa_m2, [(d.day, d.drug, str(d.amount)) for d in r.schedule][:2]
    (Decimal('1.50'), [(-5, 'fludarabine', '37.5'), (-4, 'fludarabine', '37.5')])
    """
    validate_body_size(height_cm, weight_kg, formula)
    protocol = protocol or load_protocol()
    chosen = formula or protocol.bsa.formula
    raw = bsa(height_cm, weight_kg, chosen)
    rounded = round_half_away(round_half_away(raw, BSA_GUARD_DECIMALS), protocol.bsa.decimals)
    doses: dict[str, Decimal] = {}
    capped: list[str] = []
    schedule: list[Dose] = []
    for drug in protocol.drugs:
        amount, was_capped = dose_of(drug, rounded, weight_kg)
        doses[drug.code] = amount
        if was_capped:
            capped.append(drug.code)
        basis = f"{drug.dose:f} {drug.unit}" + (" (capped)" if was_capped else "")
        schedule += [Dose(day, drug.code, drug.name, amount, drug.dose_unit, basis) for day in drug.days]
    schedule.sort(key=lambda d: (d.day, [x.code for x in protocol.drugs].index(d.drug)))
    return RegimenResult(protocol.name, chosen, raw, rounded, doses, tuple(schedule), tuple(capped))
