"""icans and ice — immune effector cell-associated neurotoxicity (ASTCT 2019) and the ICE score.

Source: Lee DW, Santomasso BD, Locke FL, et al. ASTCT consensus grading for cytokine release
syndrome and neurologic toxicity associated with immune effector cells. Biol Blood Marrow
Transplant 2019;25:625–38. doi:10.1016/j.bbmt.2018.12.758 (ICE: Table 5; ICANS adults: Table 6).

``ice``: ``ice_score`` = orientation (0–4) + naming (0–3) + commands (0–1) + writing (0–1) +
attention (0–1), 0–10; empty when an item is missing.

``icans``: grade = the most severe contribution of :data:`ASTCT_2019` (ICE score, level of
consciousness, seizure, deep focal motor weakness, cerebral oedema), 0–4. Missing items: the
grade is computed for the least and most severe completion of the missing items and given when
both agree. So an unarousable patient with no ICE score is grade 4, and an empty ICE score
(which can add at most 3) leaves the grade empty unless the other items already give ≥ 3.
When ``ice_score`` is empty and the five ICE items are all recorded, it is derived from them.
Children ≤ 12 years (CAPD) are not covered.

Examples
--------
>>> score_visit({"ice_score": 5, "consciousness": "awakens_to_voice", "seizure": "none",
...              "motor_weakness": 0, "cerebral_edema": "none"})["icans_explain"]
'ice_score=2 (5); consciousness=2 (awakens_to_voice)'
>>> score_ice({"ice_orientation": 4, "ice_naming": 3, "ice_commands": 1, "ice_writing": 0,
...            "ice_attention": 1})["ice_score"]
9
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
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

# ------------------------------------------------------------------------------------------
# ICE (Immune effector Cell-associated Encephalopathy) score
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IceItem:
    """One ICE task: code, wording (Lee 2019, Table 5) and maximum points."""

    code: str
    task: str
    maximum: int


ICE_ITEMS: tuple[IceItem, ...] = (
    IceItem("ice_orientation", "orientation to year, month, city, hospital", 4),
    IceItem("ice_naming", "ability to name 3 objects", 3),
    IceItem("ice_commands", "ability to follow simple commands", 1),
    IceItem("ice_writing", "ability to write a standard sentence", 1),
    IceItem("ice_attention", "ability to count backwards from 100 by 10", 1),
)
ICE_CODES = tuple(i.code for i in ICE_ITEMS)
ICE_COLUMNS: tuple[Column, ...] = tuple(Column(i.code, "int", i.task, "points", 0, i.maximum) for i in ICE_ITEMS)
ICE_OUTPUTS = ("ice_score", "ice_explain", "ice_missing")


def score_ice(visit: Mapping[str, Any]) -> ScalarResult:
    """ICE score of one assessment (0–10; None when an item is missing).

    >>> score_ice({"ice_orientation": 2, "ice_naming": 3, "ice_commands": None})["ice_missing"]
    'ice_commands; ice_writing; ice_attention'
    """
    values = validate_record(visit, ICE_INDEX)
    missing = tuple(c for c in ICE_CODES if values[c] is None)
    parts = tuple(Contribution(c, values[c]) for c in ICE_CODES if values[c] is not None)
    total = None if missing else sum(int(values[c]) for c in ICE_CODES)
    return ScalarResult(
        {
            "ice_score": total,
            "ice_explain": "; ".join(str(p) for p in parts),
            "ice_missing": "; ".join(missing),
        },
        parts,
        missing,
    )


def _ice_sum() -> pl.Expr:
    return pl.sum_horizontal([pl.col(c) for c in ICE_CODES]).cast(pl.Int64).alias("ice_score")


def compute_ice(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised ICE score over a validated table."""
    complete = pl.all_horizontal([pl.col(c).is_not_null() for c in ICE_CODES])
    outputs = [pl.when(complete).then(_ice_sum()).alias("ice_score")]
    if ctx.explain:
        labels = [pl.when(pl.col(c).is_not_null()).then(pl.format(f"{c}={{}}", pl.col(c))) for c in ICE_CODES]
        outputs += [
            join_labels(labels).alias("ice_explain"),
            missing_labels(ICE_CODES).alias("ice_missing"),
        ]
    return visits.select(outputs)


# ------------------------------------------------------------------------------------------
# ICANS grade
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IcansGrading:
    """An ICANS grading system as data: the grade each item's value contributes."""

    name: str
    version: str
    source: str
    ice_bands: tuple[tuple[int, int, int], ...]  # (lowest score, highest score, grade)
    consciousness: Mapping[str, int]
    seizure: Mapping[str, int]
    motor_weakness: int
    cerebral_edema: Mapping[str, int]

    def ice_grade(self, score: int) -> int:
        """The grade an ICE score contributes."""
        return next(g for low, high, g in self.ice_bands if low <= score <= high)


#: ASTCT 2019, adults (Lee 2019, Table 6). Consciousness: "awakens spontaneously" 1, "to voice" 2,
#: "only to tactile stimulus" 3, "unarousable or requires vigorous/repetitive tactile stimuli;
#: stupor or coma" 4. Seizure: any clinical seizure resolving rapidly, or non-convulsive seizures
#: on EEG resolving with intervention 3; life-threatening prolonged (> 5 min) or repetitive without
#: return to baseline 4. Motor: deep focal weakness (hemiparesis, paraparesis) 4. Raised ICP /
#: cerebral oedema: focal/local on imaging 3; diffuse, decerebrate/decorticate posturing, cranial
#: nerve VI palsy, papilloedema or Cushing's triad 4.
ASTCT_2019 = IcansGrading(
    name="astct-2019",
    version="2019",
    source="Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625–38, Table 6",
    ice_bands=((10, 10, 0), (7, 9, 1), (3, 6, 2), (0, 2, 3)),
    consciousness={
        "normal": 0,
        "awakens_spontaneously": 1,
        "awakens_to_voice": 2,
        "awakens_to_touch": 3,
        "unarousable": 4,
    },
    seizure={"none": 0, "resolved": 3, "prolonged": 4},
    motor_weakness=4,
    cerebral_edema={"none": 0, "focal": 3, "diffuse": 4},
)
GRADINGS: dict[str, IcansGrading] = {g.name: g for g in (ASTCT_2019,)}

COLUMNS: tuple[Column, ...] = (
    Column(
        "ice_score",
        "int",
        "ICE score (empty when the patient cannot be assessed)",
        "points",
        0,
        10,
        unless=ICE_CODES,
    ),
    Column(
        "consciousness",
        "category",
        "depressed level of consciousness",
        choices=tuple(ASTCT_2019.consciousness),
    ),
    Column("seizure", "category", "seizure", choices=tuple(ASTCT_2019.seizure)),
    Column("motor_weakness", "bool", "deep focal motor weakness (hemiparesis, paraparesis)"),
    Column(
        "cerebral_edema",
        "category",
        "raised intracranial pressure / cerebral oedema",
        choices=tuple(ASTCT_2019.cerebral_edema),
    ),
    *(replace(c, unless=("ice_score",)) for c in ICE_COLUMNS),
)
ITEM_CODES = ("ice_score", "consciousness", "seizure", "motor_weakness", "cerebral_edema")
OUTPUTS = ("icans_grade", "icans_explain", "icans_missing")
OPTIONS = (Option("grading", "choice", "astct-2019", "ICANS grading system", tuple(GRADINGS)),)


def _contributions(values: Mapping[str, Any], g: IcansGrading) -> dict[str, tuple[int, int, str | None]]:
    """Per item: (lowest, highest) grade it can contribute, and the value shown in explanations."""
    worst = {
        "ice_score": max(b[2] for b in g.ice_bands),
        "consciousness": max(g.consciousness.values()),
        "seizure": max(g.seizure.values()),
        "motor_weakness": g.motor_weakness,
        "cerebral_edema": max(g.cerebral_edema.values()),
    }
    out: dict[str, tuple[int, int, str | None]] = {}
    for code in ITEM_CODES:
        value = values[code]
        if value is None:
            out[code] = (0, worst[code], None)
            continue
        if code == "ice_score":
            points = g.ice_grade(int(value))
        elif code == "motor_weakness":
            points = g.motor_weakness if value else 0
        else:
            points = getattr(g, code)[value]
        out[code] = (
            points,
            points,
            str(int(value)) if code in ("ice_score", "motor_weakness") else str(value),
        )
    return out


def _ice_value(values: Mapping[str, Any]) -> tuple[int | None, bool]:
    if values["ice_score"] is not None:
        return values["ice_score"], False
    items = [values[c] for c in ICE_CODES]
    if all(v is not None for v in items):
        return int(sum(items)), True
    return None, False


def score_visit(visit: Mapping[str, Any], *, grading: str = "astct-2019") -> ScalarResult:
    """ICANS grade (0–4) of one adult assessment, with its explanation.

    Parameters
    ----------
    visit : mapping
        ``ice_score`` (0–10, None when not assessable), ``consciousness``, ``seizure``,
        ``motor_weakness`` (0/1), ``cerebral_edema``; optionally the five ICE items.
    grading : str
        A key of :data:`GRADINGS`.

    Returns
    -------
    ScalarResult
        ``icans_grade`` (0–4 or None), ``icans_explain``, ``icans_missing``.

    Examples
    --------
    >>> score_visit({"ice_score": None, "consciousness": "unarousable", "seizure": "none",
    ...              "motor_weakness": 0, "cerebral_edema": "none"})["icans_grade"]
    4
    >>> score_visit({"ice_score": None, "consciousness": "normal", "seizure": "none",
    ...              "motor_weakness": 0, "cerebral_edema": "none"})["icans_grade"] is None
    True
    """
    g = GRADINGS[grading]
    values = dict(validate_record(visit, INDEX))
    values["ice_score"], derived = _ice_value(values)
    contributions = _contributions(values, g)
    low = max(c[0] for c in contributions.values())
    high = max(c[1] for c in contributions.values())
    grade = low if low == high else None
    parts = []
    for code, (points, _, shown) in contributions.items():
        if shown is not None and points > 0:
            label = f"{shown}, derived from ICE items" if code == "ice_score" and derived else shown
            parts.append(Contribution(code, points, label))
    missing = tuple(c for c in ITEM_CODES if values[c] is None)
    explain = "; ".join(f"{p.code}={p.points} ({p.derived_from})" for p in parts)
    return ScalarResult(
        {"icans_grade": grade, "icans_explain": explain, "icans_missing": "; ".join(missing)},
        tuple(parts),
        missing,
    )


def grade_icans(visit: Mapping[str, Any], *, grading: str = "astct-2019") -> int | None:
    """The ICANS grade (0–4) of one assessment, or None when a missing item could change it.

    >>> grade_icans({"ice_score": 9, "consciousness": "normal", "seizure": "none",
    ...              "motor_weakness": 0, "cerebral_edema": "focal"})
    3
    """
    return score_visit(visit, grading=grading)["icans_grade"]


def _map(code: str, table: Mapping[str, int]) -> pl.Expr:
    expr = pl.lit(None, pl.Int32)
    for name, points in table.items():
        expr = pl.when(pl.col(code) == name).then(pl.lit(points, pl.Int32)).otherwise(expr)
    return expr


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised ICANS grade over a validated table (one row per assessment)."""
    g = GRADINGS[ctx.options.get("grading") or "astct-2019"]
    complete_items = pl.all_horizontal([pl.col(c).is_not_null() for c in ICE_CODES])
    derived = pl.col("ice_score").is_null() & complete_items
    ice = pl.coalesce(pl.col("ice_score"), pl.when(complete_items).then(_ice_sum()))
    ice_points = pl.lit(None, pl.Int32)
    for first, last, points in g.ice_bands:
        ice_points = pl.when(ice.is_between(first, last)).then(pl.lit(points, pl.Int32)).otherwise(ice_points)
    motor = pl.when(pl.col("motor_weakness")).then(g.motor_weakness).when(~pl.col("motor_weakness")).then(0)
    items = {
        "ice_score": (ice_points, max(b[2] for b in g.ice_bands)),
        "consciousness": (_map("consciousness", g.consciousness), max(g.consciousness.values())),
        "seizure": (_map("seizure", g.seizure), max(g.seizure.values())),
        "motor_weakness": (motor.cast(pl.Int32), g.motor_weakness),
        "cerebral_edema": (
            _map("cerebral_edema", g.cerebral_edema),
            max(g.cerebral_edema.values()),
        ),
    }
    scratch = visits.with_columns(
        *[expr.alias(f"__p_{code}") for code, (expr, _) in items.items()],
        ice.alias("__ice"),
        derived.alias("__derived"),
    )
    low = pl.max_horizontal([pl.col(f"__p_{c}").fill_null(0) for c in items])
    high = pl.max_horizontal([pl.col(f"__p_{c}").fill_null(worst) for c, (_, worst) in items.items()])
    outputs = [pl.when(low == high).then(low).cast(pl.Int8).alias("icans_grade")]
    if ctx.explain:
        shown = {
            "ice_score": pl.when(pl.col("__derived"))
            .then(pl.format("{}, derived from ICE items", pl.col("__ice")))
            .otherwise(pl.col("__ice").cast(pl.Utf8)),
            "motor_weakness": pl.lit("1"),
        }
        labels = [
            pl.when(pl.col(f"__p_{c}") > 0).then(
                pl.format(f"{c}={{}} ({{}})", pl.col(f"__p_{c}"), shown.get(c, pl.col(c)))
            )
            for c in items
        ]
        missing = join_labels(
            [
                pl.when(pl.col("__ice").is_null()).then(pl.lit("ice_score")),
                *[pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in ITEM_CODES[1:]],
            ]
        )
        outputs += [join_labels(labels).alias("icans_explain"), missing.alias("icans_missing")]
    return scratch.select(outputs)


ICE_INDEX = IndexDefinition(
    name="ice",
    forms=("toxicity",),
    title="ICE — Immune effector Cell-associated Encephalopathy score",
    source="Lee DW, Santomasso BD, Locke FL, et al. Biol Blood Marrow Transplant 2019;25:625–38, Table 5.",
    doi="10.1016/j.bbmt.2018.12.758",
    columns=ICE_COLUMNS,
    outputs=ICE_OUTPUTS,
    compute=compute_ice,
    scalar=score_ice,
    version="astct-2019",
    missing_rule="ice_score is empty when any item is missing",
)

INDEX = IndexDefinition(
    name="icans",
    forms=("toxicity",),
    title="ICANS — immune effector cell-associated neurotoxicity grade (ASTCT 2019, adults)",
    source="Lee DW, Santomasso BD, Locke FL, et al. Biol Blood Marrow Transplant 2019;25:625–38, Table 6.",
    doi="10.1016/j.bbmt.2018.12.758",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    options=OPTIONS,
    version="astct-2019",
    missing_rule=(
        "the grade is given when the least and most severe completions of the missing items agree: "
        "unarousable with no ICE score is 4; an empty ICE score (≤ 3) is outweighed by other "
        "items ≥ 3"
    ),
)

INDEXES = (ICE_INDEX, INDEX)
