"""crs — cytokine release syndrome grade (ASTCT consensus 2019).

Source: Lee DW, Santomasso BD, Locke FL, et al. ASTCT consensus grading for cytokine release
syndrome and neurologic toxicity associated with immune effector cells. Biol Blood Marrow
Transplant 2019;25:625–38. doi:10.1016/j.bbmt.2018.12.758

CRS is present when fever ≥ 38.0 °C is not attributable to another cause, or when
anti-cytokine treatment (antipyretics, tocilizumab, steroids) has been given and hypotension or
hypoxia is present. Grade = the most severe contribution of :data:`ASTCT_2019` (fever 1;
hypotension and oxygen by their level); ``crs_death`` = 1 → 5. The grading system is data
(:class:`CrsGrading`): a new version is a new instance in :data:`GRADINGS`, chosen with the
option ``grading``.

Missing data: the grade is computed for the least and the most severe completion of the missing
inputs (the grade is monotone in each); it is given when both agree, else empty.
``crs_death`` is optional: an absent column or empty cell means no death from CRS.

Examples
--------
>>> r = score_visit({"temperature_c": 38.9, "fever_other_cause": 0, "anti_cytokine_given": 0,
...                  "hypotension": "none", "oxygen": "low_flow"})
>>> r["crs_grade"], r["crs_explain"]
(2, 'fever=1 (temperature_c=38.9); oxygen=2 (low_flow)')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from remission.indices._base import (
    Column,
    Context,
    Contribution,
    IndexDefinition,
    Option,
    ScalarResult,
    join_labels,
    missing_labels,
    validate_record,
)

HYPOTENSION = ("none", "no_vasopressor", "one_vasopressor", "multiple_vasopressors")
OXYGEN = ("none", "low_flow", "high_flow", "positive_pressure")


@dataclass(frozen=True)
class CrsGrading:
    """A CRS grading system as data: fever rule and the grade each organ level contributes."""

    name: str
    version: str
    source: str
    fever_threshold_c: float
    fever_grade: int
    death_grade: int
    hypotension: Mapping[str, int]
    oxygen: Mapping[str, int]


#: ASTCT 2019 (Lee 2019, Table 3): fever ≥ 38 °C → 1; hypotension not requiring vasopressors or
#: low-flow nasal cannula (≤ 6 L/min) → 2; one vasopressor ± vasopressin or high-flow cannula
#: (> 6 L/min), facemask, non-rebreather, Venturi → 3; multiple vasopressors (excluding
#: vasopressin) or positive pressure (CPAP, BiPAP, intubation) → 4; death due to CRS → 5.
ASTCT_2019 = CrsGrading(
    name="astct-2019",
    version="2019",
    source="Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625–38",
    fever_threshold_c=38.0,
    fever_grade=1,
    death_grade=5,
    hypotension={"none": 0, "no_vasopressor": 2, "one_vasopressor": 3, "multiple_vasopressors": 4},
    oxygen={"none": 0, "low_flow": 2, "high_flow": 3, "positive_pressure": 4},
)
GRADINGS: dict[str, CrsGrading] = {g.name: g for g in (ASTCT_2019,)}

COLUMNS: tuple[Column, ...] = (
    Column("temperature_c", "float", "highest temperature in the period", "°C", 25, 45),
    Column(
        "fever_other_cause",
        "bool",
        "fever attributable to another cause (e.g. documented infection)",
    ),
    Column(
        "anti_cytokine_given",
        "bool",
        "antipyretics/tocilizumab/steroids given for CRS (fever then not required)",
    ),
    Column("hypotension", "category", "hypotension and its treatment", choices=HYPOTENSION),
    Column("oxygen", "category", "oxygen requirement for hypoxia", choices=OXYGEN),
    Column("crs_death", "bool", "death due to CRS (optional; empty = no)", optional=True),
)
INPUT_CODES = ("temperature_c", "fever_other_cause", "anti_cytokine_given", "hypotension", "oxygen")
OUTPUTS = ("crs_grade", "crs_explain", "crs_missing")
OPTIONS = (Option("grading", "choice", "astct-2019", "CRS grading system", tuple(GRADINGS)),)


def _grading(name: str | None) -> CrsGrading:
    return GRADINGS[name or "astct-2019"]


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _grade_complete(fever: bool, anti: bool, hyp: str, oxy: str, g: CrsGrading) -> int:
    organ = g.hypotension[hyp] > 0 or g.oxygen[oxy] > 0
    if not (fever or (anti and organ)):
        return 0
    return max(g.fever_grade if fever else 0, g.hypotension[hyp], g.oxygen[oxy])


def _fever(values: Mapping[str, Any], g: CrsGrading) -> bool | None:
    temp, other = values["temperature_c"], values["fever_other_cause"]
    hot = None if temp is None else temp >= g.fever_threshold_c
    if hot is False or other is True:
        return False
    if hot is None or other is None:
        return None
    return True


def grade_crs(visit: Mapping[str, Any], *, grading: str = "astct-2019") -> int | None:
    """The CRS grade (0–5) of one assessment, or None when a missing input could change it.

    >>> grade_crs({"temperature_c": 37.0, "anti_cytokine_given": 1,
    ...            "hypotension": "one_vasopressor",
    ...            "oxygen": "none", "fever_other_cause": 0})
    3
    """
    return score_visit(visit, grading=grading)["crs_grade"]


def score_visit(visit: Mapping[str, Any], *, grading: str = "astct-2019") -> ScalarResult:
    """Grade one assessment (scalar form) with its explanation.

    Parameters
    ----------
    visit : mapping
        ``temperature_c`` (°C), ``fever_other_cause`` (0/1), ``anti_cytokine_given`` (0/1),
        ``hypotension`` (none, no_vasopressor, one_vasopressor, multiple_vasopressors),
        ``oxygen`` (none, low_flow, high_flow, positive_pressure), optional ``crs_death`` (0/1).
    grading : str
        A key of :data:`GRADINGS`.

    Returns
    -------
    ScalarResult
        ``crs_grade`` (0–5 or None), ``crs_explain``, ``crs_missing``.

    Examples
    --------
    >>> score_visit({"temperature_c": 36.8, "crs_death": 1})["crs_grade"]
    5
    >>> score_visit({"temperature_c": 39.0, "fever_other_cause": 0, "anti_cytokine_given": 0,
    ...              "hypotension": None, "oxygen": "none"})["crs_grade"] is None
    True
    """
    g = _grading(grading)
    values = validate_record(visit, INDEX)
    missing = tuple(c for c in INPUT_CODES if values[c] is None)
    if values["crs_death"]:
        explanation: tuple[Contribution, ...] = (Contribution("crs_death", g.death_grade),)
        return ScalarResult(
            {
                "crs_grade": g.death_grade,
                "crs_explain": "crs_death=5",
                "crs_missing": "; ".join(missing),
            },
            explanation,
            missing,
        )
    fever = _fever(values, g)
    anti, hyp, oxy = values["anti_cytokine_given"], values["hypotension"], values["oxygen"]
    low = _grade_complete(bool(fever), bool(anti), hyp or "none", oxy or "none", g)
    worst_h, worst_o = (
        max(g.hypotension, key=g.hypotension.__getitem__),
        max(g.oxygen, key=g.oxygen.__getitem__),
    )
    high = _grade_complete(fever is not False, anti is not False, hyp or worst_h, oxy or worst_o, g)
    grade = low if low == high else None
    parts: list[Contribution] = []
    if low > 0:
        if fever:
            parts.append(Contribution("fever", g.fever_grade, f"temperature_c={float(values['temperature_c'])}"))
        if hyp and g.hypotension[hyp]:
            parts.append(Contribution("hypotension", g.hypotension[hyp], hyp))
        if oxy and g.oxygen[oxy]:
            parts.append(Contribution("oxygen", g.oxygen[oxy], oxy))
    explain = "; ".join(f"{c.code}={c.points} ({c.derived_from})" for c in parts)
    if grade == 0:
        explain = "no_crs"
    return ScalarResult(
        {"crs_grade": grade, "crs_explain": explain, "crs_missing": "; ".join(missing)},
        tuple(parts),
        missing,
    )


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _level(code: str, table: Mapping[str, int], fill: str) -> pl.Expr:
    expr = pl.lit(0)
    for name, points in table.items():
        expr = pl.when(pl.col(code).fill_null(pl.lit(fill)) == name).then(pl.lit(points)).otherwise(expr)
    return expr


def _grade_expr(fever: pl.Expr, anti: pl.Expr, hyp: pl.Expr, oxy: pl.Expr, g: CrsGrading) -> pl.Expr:
    organ = (hyp > 0) | (oxy > 0)
    present = fever | (anti & organ)
    return (
        pl.when(present).then(pl.max_horizontal(pl.when(fever).then(g.fever_grade).otherwise(0), hyp, oxy)).otherwise(0)
    )


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised CRS grade over a validated table (one row per assessment)."""
    g = _grading(ctx.options.get("grading"))
    hot = pl.col("temperature_c") >= g.fever_threshold_c
    fever = hot & ~pl.col("fever_other_cause")  # Kleene: null only when undecided
    anti = pl.col("anti_cytokine_given")
    worst_h = max(g.hypotension, key=g.hypotension.__getitem__)
    worst_o = max(g.oxygen, key=g.oxygen.__getitem__)
    low = _grade_expr(
        fever.fill_null(False),
        anti.fill_null(False),
        _level("hypotension", g.hypotension, "none"),
        _level("oxygen", g.oxygen, "none"),
        g,
    )
    high = _grade_expr(
        fever.fill_null(True),
        anti.fill_null(True),
        _level("hypotension", g.hypotension, worst_h),
        _level("oxygen", g.oxygen, worst_o),
        g,
    )
    death = pl.col("crs_death").fill_null(False)
    grade = pl.when(death).then(g.death_grade).when(low == high).then(low).cast(pl.Int8)
    outputs = [grade.alias("crs_grade")]
    if ctx.explain:
        labels = [
            pl.when(fever.fill_null(False)).then(
                pl.format(
                    f"fever={g.fever_grade} (temperature_c={{}})",
                    pl.col("temperature_c").cast(pl.Utf8),
                )
            ),
            *[
                pl.when(pl.col("hypotension") == name).then(pl.lit(f"hypotension={p} ({name})"))
                for name, p in g.hypotension.items()
                if p
            ],
            *[
                pl.when(pl.col("oxygen") == name).then(pl.lit(f"oxygen={p} ({name})"))
                for name, p in g.oxygen.items()
                if p
            ],
        ]
        explain = (
            pl.when(death)
            .then(pl.lit(f"crs_death={g.death_grade}"))
            .when(grade == 0)
            .then(pl.lit("no_crs"))
            .when(low > 0)
            .then(join_labels(labels))
            .otherwise(pl.lit(""))
        )
        outputs += [explain.alias("crs_explain"), missing_labels(INPUT_CODES).alias("crs_missing")]
    return visits.select(outputs)


INDEX = IndexDefinition(
    name="crs",
    forms=("toxicity",),
    title="CRS — cytokine release syndrome grade (ASTCT 2019)",
    source="Lee DW, Santomasso BD, Locke FL, et al. Biol Blood Marrow Transplant 2019;25:625–38.",
    doi="10.1016/j.bbmt.2018.12.758",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    options=OPTIONS,
    version="astct-2019",
    missing_rule=(
        "the grade is given when the least and the most severe completion of the missing inputs "
        "agree "
        "(e.g. a known 4 from positive pressure); crs_death empty means no death from CRS"
    ),
)
