"""regimen — body surface area, fludarabine/cyclophosphamide conditioning and CAR-T cell dose.

Source: the default protocol ``erlangen-2024`` (:mod:`remission.regimen`, data in
``regimen/protocols/erlangen-2024.yaml``): Mackensen A, et al. Nat Med 2022;28:2124–32; Müller F,
et al. N Engl J Med 2024;390:687–700. BSA: Mosteller RD. N Engl J Med 1987;317:1098; DuBois D,
DuBois EF. Arch Intern Med 1916;17:863.

One row per patient (wide): ``height_cm`` (50–250), ``weight_kg`` (2–300), optional
``bsa_formula`` (``mosteller`` | ``dubois``; empty = the protocol's default, Mosteller). Rounding
is half away from zero and exact: the vectorised form works in scaled integers, the scalar form
in :class:`decimal.Decimal`; both round the BSA first and compute each dose from the rounded BSA.

Examples
--------
>>> r = score_visit({"height_cm": 170, "weight_kg": 70})
>>> r["bsa_m2"], r["fludarabine_mg_per_day"], r["fludarabine_total_mg"], r["cyclophosphamide_mg"]
(1.82, 45.5, 136.5, 1820)
>>> r["car_t_cells"]
70000000
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import polars as pl

from remission.indices._base import (
    Column,
    Context,
    IndexDefinition,
    Option,
    ScalarResult,
    validate_record,
)
from remission.regimen.dosing import BSA_GUARD_DECIMALS, WEIGHT_DECIMALS, compute_regimen
from remission.regimen.protocol import Drug, Protocol, load_protocol

COLUMNS: tuple[Column, ...] = (
    Column("height_cm", "float", "body height", "cm", 50, 250),
    Column("weight_kg", "float", "body weight", "kg", 2, 300),
    Column(
        "bsa_formula",
        "category",
        "BSA formula (empty = protocol default)",
        choices=("mosteller", "dubois"),
        optional=True,
    ),
)
#: Output column → (drug code, what): the spec's columns, read from the protocol's drugs.
DOSE_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("fludarabine_mg_per_day", "fludarabine", "dose"),
    ("fludarabine_total_mg", "fludarabine", "total"),
    ("cyclophosphamide_mg", "cyclophosphamide", "dose"),
    ("car_t_cells", "car_t_cells", "dose"),
)
OUTPUTS = ("bsa_m2", *(o for o, _, _ in DOSE_OUTPUTS), "regimen_explain")


@cache
def default_protocol() -> Protocol:
    """The shipped default protocol (erlangen-2024), read once."""
    return load_protocol()


@dataclass(frozen=True)
class ProtocolOption(Option):
    """The ``protocol`` option: a path to a protocol YAML file (or a shipped protocol's name)."""

    def parse(self, value: Any) -> Any:
        if value is None or isinstance(value, Protocol):
            return value
        protocol = load_protocol(str(value))
        for _, code, _ in DOSE_OUTPUTS:
            protocol.drug(code)
        return protocol


OPTIONS = (
    ProtocolOption(
        "protocol",
        "choice",
        None,
        "protocol YAML file (default: the shipped erlangen-2024 protocol)",
    ),
)


def _protocol(ctx: Context) -> Protocol:
    chosen = ctx.options.get("protocol")
    return chosen if isinstance(chosen, Protocol) else default_protocol()


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _number(value: Decimal, decimals: int) -> float | int:
    return float(value) if decimals > 0 else int(value)


def score_visit(visit: Mapping[str, Any], *, protocol: Protocol | None = None) -> ScalarResult:
    """BSA and doses for one patient (scalar form, :class:`decimal.Decimal` arithmetic).

    Parameters
    ----------
    visit : mapping
        ``height_cm`` (cm, 50–250), ``weight_kg`` (kg, 2–300), optional ``bsa_formula``.
    protocol : Protocol, optional
        Default: the shipped erlangen-2024 protocol.

    Returns
    -------
    ScalarResult
        The outputs of :data:`OUTPUTS`; BSA-based ones empty without a height, all without a weight.

    Examples
    --------
    >>> score_visit({"height_cm": 160, "weight_kg": 50, "bsa_formula": "dubois"})["bsa_m2"]
    1.5
    >>> score_visit({"height_cm": None, "weight_kg": 50})["bsa_m2"] is None
    True
    """
    values = validate_record(visit, INDEX)
    protocol = protocol or default_protocol()
    height, weight = values["height_cm"], values["weight_kg"]
    missing = tuple(c for c in ("height_cm", "weight_kg") if values[c] is None)
    out: dict[str, Any] = {o: None for o in OUTPUTS}
    out["regimen_explain"] = ""
    if weight is None:
        return ScalarResult(out, missing=missing)
    # Without a height only the doses that do not depend on BSA are known.
    result = compute_regimen(height or 170.0, weight, values["bsa_formula"], protocol)
    if height is not None:
        out["bsa_m2"] = float(result.bsa_m2)
    for column, code, what in DOSE_OUTPUTS:
        drug = protocol.drug(code)
        if height is None and drug.unit == "mg/m2":
            continue
        amount = result.total(code) if what == "total" else result.doses[code]
        out[column] = _number(amount, drug.decimals)
    out["regimen_explain"] = _explain_text(protocol, result.formula)
    return ScalarResult(out, missing=missing)


def _explain_text(protocol: Protocol, formula: str) -> str:
    parts = [f"protocol={protocol.name} {protocol.version}", f"bsa={formula}"]
    for drug in protocol.drugs:
        days = ",".join(str(d) for d in drug.days)
        parts.append(f"{drug.code}={drug.dose:f} {drug.unit} day {days}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------
# Vectorised form: exact scaled-integer arithmetic, half away from zero (all values positive)
# ------------------------------------------------------------------------------------------


def _half_up_div(numerator: pl.Expr, power: int) -> pl.Expr:
    """numerator / 10**power rounded half away from zero (numerator ≥ 0, integers)."""
    if power <= 0:
        return numerator * (10 ** (-power))
    scale = 10**power
    return (numerator + scale // 2) // scale


def _bsa_float(formula: str) -> pl.Expr:
    h, w = pl.col("height_cm"), pl.col("weight_kg")
    mosteller = (h * w / 3600.0).sqrt()
    dubois = 0.007184 * w.pow(0.425) * h.pow(0.725)
    chosen = pl.col("bsa_formula").fill_null(pl.lit(formula))
    return pl.when(chosen == "dubois").then(dubois).otherwise(mosteller)


def _dose_scaled(drug: Drug, bsa_int: pl.Expr, bsa_decimals: int, weight_int: pl.Expr) -> pl.Expr:
    """The rounded dose as an integer in units of 10**-drug.decimals."""
    sign, digits, exponent = drug.dose.normalize().as_tuple()
    assert isinstance(exponent, int)
    dose_int = int("".join(str(d) for d in digits)) * (-1 if sign else 1)
    if drug.unit == "mg/m2":
        size, size_decimals = bsa_int, bsa_decimals
    elif drug.unit in ("mg/kg", "cells/kg"):
        size, size_decimals = weight_int, WEIGHT_DECIMALS
    else:
        size, size_decimals = pl.lit(1, pl.Int64), 0
    # value = dose_int × size × 10^(exponent − size_decimals); in units of 10^−decimals:
    scaled = _half_up_div(size.cast(pl.Int64) * dose_int, size_decimals - exponent - drug.decimals)
    if drug.cap is not None:
        cap_scaled = int(drug.cap.scaleb(drug.decimals).to_integral_value())
        scaled = pl.min_horizontal(scaled, pl.lit(cap_scaled, pl.Int64))
    return scaled


def _as_output(scaled: pl.Expr, decimals: int) -> pl.Expr:
    """A scaled integer as the output number: float for decimals > 0 (parsed from its exact
    decimal text, so 73 → 7.3 exactly as Python's float('7.3')), else an integer."""
    if decimals <= 0:
        return scaled * (10 ** (-decimals))
    scale = 10**decimals
    text = pl.concat_str(
        (scaled // scale).cast(pl.Utf8),
        pl.lit("."),
        (scaled % scale).cast(pl.Utf8).str.zfill(decimals),
    )
    return text.cast(pl.Float64)


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised BSA and doses over a validated table (one row per patient)."""
    protocol = _protocol(ctx)
    bsa_dec = protocol.bsa.decimals
    guard = ((_bsa_float(protocol.bsa.formula) * 10**BSA_GUARD_DECIMALS) + 0.5).floor().cast(pl.Int64)
    bsa_int = _half_up_div(guard, BSA_GUARD_DECIMALS - bsa_dec)
    weight_int = ((pl.col("weight_kg") * 10**WEIGHT_DECIMALS) + 0.5).floor().cast(pl.Int64)
    outputs = [_as_output(bsa_int, bsa_dec).cast(pl.Float64).alias("bsa_m2")]
    for column, code, what in DOSE_OUTPUTS:
        drug = protocol.drug(code)
        scaled = _dose_scaled(drug, bsa_int, bsa_dec, weight_int)
        if what == "total":
            scaled = scaled * len(drug.days)
        outputs.append(_as_output(scaled, drug.decimals).alias(column))
    if ctx.explain:
        formula = pl.col("bsa_formula").fill_null(pl.lit(protocol.bsa.formula))
        texts = {f: _explain_text(protocol, f) for f in ("mosteller", "dubois")}
        outputs.append(
            pl.when(pl.col("weight_kg").is_null())
            .then(pl.lit(""))
            .when(formula == "dubois")
            .then(pl.lit(texts["dubois"]))
            .otherwise(pl.lit(texts["mosteller"]))
            .alias("regimen_explain")
        )
    return visits.select(outputs)


INDEX = IndexDefinition(
    name="regimen",
    forms=(),
    title="Regimen — BSA, conditioning and CAR-T cell dose",
    source="Mackensen A, et al. Nat Med 2022;28:2124–32; "
    "Müller F, et al. N Engl J Med 2024;390:687–700; "
    "Mosteller RD. N Engl J Med 1987;317:1098; DuBois D, DuBois EF. Arch Intern Med 1916;17:863.",
    doi="10.1038/s41591-022-02017-5",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    options=OPTIONS,
    version="erlangen-2024",
    missing_rule="BSA and mg/m² doses need height and weight; per-kg doses need only weight",
)
