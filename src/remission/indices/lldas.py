"""LLDAS — Lupus Low Disease Activity State (long format: compares with the previous assessment).

Source: Franklyn K, Lau CS, Navarra SV, et al. Definition and initial validation of a Lupus Low
Disease Activity State (LLDAS). Ann Rheum Dis 2016;75:1615–21 (doi:10.1136/annrheumdis-2015-207726).

All five criteria of :data:`CRITERIA` must hold. Criterion 2 compares each assessment with the
same patient's previous assessment (by ``day``), so ``lldas`` is empty at a patient's first
assessment unless another criterion already fails (three-valued logic of the spec README).
SLEDAI-2K descriptors follow :mod:`remission.indices.sledai2k`, lab derivations included.

Examples
--------
>>> first = {c: 0 for c in SLEDAI_CODES} | {"hemolytic_anemia": 0, "gi_activity": 0, "pga": 1.0,
...          "prednisone_mg_day": 7.5, "investigational_drug": 0, "rash": 1, "alopecia": 1}
>>> score_visit(first)["lldas"] is None          # first assessment: criterion 2 unknown
True
>>> now = first | {"alopecia": 0, "low_complement": 1}
>>> r = score_visit(now, previous=first)
>>> r["lldas"], r["lldas_failed"], r["lldas_explain"]
(0, '2', '2: new low_complement')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.indices._base import (
    ROW,
    Column,
    Context,
    IndexDefinition,
    MissingRule,
    ScalarResult,
    as_flag,
    join_labels,
    validate_record,
    with_previous,
)
from remission.indices._sle import (
    SLEDAI_CODES,
    SLEDAI_COLUMNS,
    all3,
    any3,
    flag,
    not3,
    present_col,
    present_columns,
    resolve_descriptors,
    sledai_bound_exprs,
    sledai_bounds,
)

#: Criterion 1: SLEDAI-2K at most this (Franklyn 2016: "SLEDAI-2K ≤ 4").
SLEDAI_MAX = 4
#: Criterion 1: no activity in a major organ system (renal, CNS, cardiopulmonary, vasculitis,
#: fever), plus haemolytic anaemia and gastrointestinal activity (not SLEDAI-2K items).
MAJOR_ITEMS: tuple[str, ...] = (
    "seizure",
    "psychosis",
    "organic_brain_syndrome",
    "visual_disturbance",
    "cranial_nerve_disorder",
    "lupus_headache",
    "cva",
    "vasculitis",
    "urinary_casts",
    "hematuria",
    "proteinuria",
    "pyuria",
    "pleurisy",
    "pericarditis",
    "fever",
)
EXTRA_ITEMS: tuple[str, ...] = ("hemolytic_anemia", "gi_activity")
PGA_MAX = 1.0
PREDNISONE_MAX = 7.5


@dataclass(frozen=True)
class Criterion:
    """One LLDAS criterion: its number (written to ``lldas_failed``) and the source wording."""

    number: int
    wording: str


#: The LLDAS table (Franklyn 2016, Table 3); thresholds in the constants above.
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        1,
        "SLEDAI-2K ≤ 4, with no activity in major organ systems (renal, CNS, cardiopulmonary, "
        "vasculitis, fever) and no haemolytic anaemia or gastrointestinal activity",
    ),
    Criterion(2, "no new features of lupus disease activity compared with the previous assessment"),
    Criterion(3, "SELENA-SLEDAI physician global assessment (0–3) ≤ 1"),
    Criterion(4, "current prednisolone (or equivalent) dose ≤ 7.5 mg daily"),
    Criterion(
        5,
        "well tolerated standard maintenance doses of immunosuppressive drugs and approved "
        "biological agents, excluding investigational drugs",
    ),
)

COLUMNS: tuple[Column, ...] = (
    *SLEDAI_COLUMNS,
    Column("hemolytic_anemia", "bool", "haemolytic anaemia due to SLE"),
    Column("gi_activity", "bool", "gastrointestinal lupus activity"),
    Column("pga", "float", "physician global assessment (SELENA scale)", "0–3", 0, 3),
    Column("prednisone_mg_day", "float", "prednisone-equivalent dose today", "mg/day", 0, 5000),
    Column("investigational_drug", "bool", "currently taking an investigational drug"),
)
OUTPUTS = ("lldas", "lldas_failed", "lldas_explain", "lldas_missing")
_OWN = ("pga", "prednisone_mg_day", "investigational_drug")


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _criteria(
    present: Mapping[str, bool | None],
    values: Mapping[str, Any],
    before: Mapping[str, bool | None] | None,
) -> tuple[list[bool | None], list[str]]:
    low, high = sledai_bounds(present)
    score_ok = False if low > SLEDAI_MAX else (True if high <= SLEDAI_MAX else None)
    extras = [values[c] for c in EXTRA_ITEMS]
    c1 = all3([score_ok, *(not3(present[c]) for c in MAJOR_ITEMS), *(not3(v) for v in extras)])
    new: list[bool | None] = []
    if before is not None:
        new = [all3([present[c], not3(before[c])]) for c in SLEDAI_CODES]
    c2 = None if before is None else not3(any3(new))
    pga, pred, inv = (values[c] for c in _OWN)
    c3 = None if pga is None else pga <= PGA_MAX
    c4 = None if pred is None else pred <= PREDNISONE_MAX
    c5 = not3(inv)
    new_codes = [c for c, n in zip(SLEDAI_CODES, new, strict=False) if n]
    return [c1, c2, c3, c4, c5], new_codes


def score_visit(
    visit: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
    *,
    missing: MissingRule = "empty",
) -> ScalarResult:
    """LLDAS of one assessment given the same patient's previous assessment.

    Parameters
    ----------
    visit : mapping of code → value
        The 24 SLEDAI-2K descriptors (0/1, lab derivation as in sledai2k), ``hemolytic_anemia``
        and ``gi_activity`` (0/1), ``pga`` (0–3), ``prednisone_mg_day`` (mg/day, ≥ 0),
        ``investigational_drug`` (0/1). None = missing.
    previous : mapping or None
        The previous assessment (SLEDAI-2K descriptors); None at the first assessment.
    missing : {"empty", "absent"}
        ``"absent"`` treats missing SLEDAI-2K descriptors as absent (in both assessments).

    Returns
    -------
    ScalarResult
        ``lldas`` (1, 0 or None), ``lldas_failed`` (criteria numbers not met, e.g. ``1;3``),
        ``lldas_explain`` (why each failed criterion failed), ``lldas_missing``.

    Examples
    --------
    >>> visit = {c: 0 for c in SLEDAI_CODES} | {"hemolytic_anemia": 0, "gi_activity": 0,
    ...          "pga": 1.5, "prednisone_mg_day": 5, "investigational_drug": 0}
    >>> score_visit(visit, previous=visit)["lldas_failed"]
    '3'
    """
    values = validate_record(visit, _ONE_VISIT)
    present = resolve_descriptors(values, missing)
    before = None if previous is None else resolve_descriptors(_validated(previous), missing)
    criteria, new_codes = _criteria(present, values, before)
    failed = [str(c.number) for c, ok in zip(CRITERIA, criteria, strict=True) if ok is False]
    explain: list[str] = []
    if criteria[0] is False:
        low, _ = sledai_bounds(present)
        active = ([f"sledai2k>={low}"] if low > SLEDAI_MAX else []) + [c for c in MAJOR_ITEMS if present[c]]
        explain.append("1: " + ", ".join(active + [c for c in EXTRA_ITEMS if values[c]]))
    if criteria[1] is False:
        explain.append("2: new " + ", ".join(new_codes))
    for number, code in ((3, "pga"), (4, "prednisone_mg_day")):
        if criteria[number - 1] is False:
            explain.append(f"{number}: {code}={_fmt_number(values[code])}")
    if criteria[4] is False:
        explain.append("5: investigational_drug=1")
    missing_codes = [c for c in SLEDAI_CODES if present[c] is None]
    missing_codes += [c for c in (*EXTRA_ITEMS, *_OWN) if values[c] is None]
    if previous is None:
        missing_codes.append("previous_assessment")
    return ScalarResult(
        values={
            "lldas": flag(all3(criteria)),
            "lldas_failed": ";".join(failed),
            "lldas_explain": "; ".join(explain),
            "lldas_missing": "; ".join(missing_codes),
        },
        missing=tuple(missing_codes),
    )


def _fmt_number(value: float) -> str:
    """Scalar twin of :func:`_fmt`."""
    return str(int(value)) if value == round(value) else str(round(value, 6))


def _validated(previous: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return validate_record(previous, _ONE_VISIT)
    except InvalidInputError as err:
        raise InvalidInputError(
            [Problem(p.row, f"previous.{p.column}", p.value, p.reason) for p in err.problems]
        ) from err


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _not(expr: pl.Expr) -> pl.Expr:
    return ~expr


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised LLDAS over a validated long table (``patient_id``, ``day``)."""
    resolved = visits.with_columns(present_columns(visits, ctx))
    prev_codes = [f"__p_{c}" for c in SLEDAI_CODES]
    scratch = with_previous(resolved, prev_codes).sort(ROW)
    low, high = sledai_bound_exprs()
    score_ok = pl.when(low > SLEDAI_MAX).then(False).when(high <= SLEDAI_MAX).then(True).otherwise(None)
    c1 = pl.all_horizontal(
        [
            score_ok,
            *[_not(present_col(c)) for c in MAJOR_ITEMS],
            *[_not(pl.col(c)) for c in EXTRA_ITEMS],
        ]
    )
    new = [pl.all_horizontal([present_col(c), _not(pl.col(f"__p_{c}_prev"))]) for c in SLEDAI_CODES]
    c2 = pl.when(pl.col("has_previous")).then(_not(pl.any_horizontal(new)))
    c3 = pl.col("pga") <= PGA_MAX
    c4 = pl.col("prednisone_mg_day") <= PREDNISONE_MAX
    c5 = _not(pl.col("investigational_drug"))
    criteria = [c1, c2, c3, c4, c5]
    outputs = [
        as_flag(pl.all_horizontal(criteria)).alias("lldas"),
        join_labels(
            [pl.when(_not(c)).then(pl.lit(str(k.number))) for k, c in zip(CRITERIA, criteria, strict=True)],
            ";",
        ).alias("lldas_failed"),
    ]
    if ctx.explain:
        active = join_labels(
            [pl.when(low > SLEDAI_MAX).then(pl.format("sledai2k>={}", low))]
            + [pl.when(present_col(c)).then(pl.lit(c)) for c in MAJOR_ITEMS]
            + [pl.when(pl.col(c)).then(pl.lit(c)) for c in EXTRA_ITEMS],
            ", ",
        )
        new_codes = join_labels([pl.when(n).then(pl.lit(c)) for c, n in zip(SLEDAI_CODES, new, strict=True)], ", ")
        explain = [
            pl.when(_not(c1)).then(pl.format("1: {}", active)),
            pl.when(_not(c2)).then(pl.format("2: new {}", new_codes)),
            pl.when(_not(c3)).then(pl.format("3: pga={}", _fmt(pl.col("pga")))),
            pl.when(_not(c4)).then(pl.format("4: prednisone_mg_day={}", _fmt(pl.col("prednisone_mg_day")))),
            pl.when(_not(c5)).then(pl.lit("5: investigational_drug=1")),
        ]
        missing = [pl.when(present_col(c).is_null()).then(pl.lit(c)) for c in SLEDAI_CODES]
        missing += [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in (*EXTRA_ITEMS, *_OWN)]
        missing.append(pl.when(~pl.col("has_previous")).then(pl.lit("previous_assessment")))
        outputs += [
            join_labels(explain).alias("lldas_explain"),
            join_labels(missing).alias("lldas_missing"),
        ]
    return scratch.select(outputs)


def _fmt(expr: pl.Expr) -> pl.Expr:
    """A float as Python's ``:g`` writes it for the values of this index (7.5, 8, 1.5)."""
    whole = expr == expr.round(0)
    return pl.when(whole).then(expr.cast(pl.Int64).cast(pl.Utf8)).otherwise(expr.round(6).cast(pl.Utf8))


INDEX = IndexDefinition(
    name="lldas",
    forms=("sle",),
    title="LLDAS — Lupus Low Disease Activity State",
    source="Franklyn K, et al. Ann Rheum Dis 2016;75:1615–21.",
    doi="10.1136/annrheumdis-2015-207726",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    layout="long",
    missing_rule=(
        "lldas is 0 when a criterion with known inputs fails, else empty when an input "
        "is missing or "
        "at the patient's first assessment (criterion 2 needs the previous assessment)"
    ),
)
#: The same columns without patient_id/day: what the scalar form validates one visit against.
_ONE_VISIT = replace(INDEX, layout="wide")
