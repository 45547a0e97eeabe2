"""EUSTAR-AI — revised EUSTAR disease activity index for systemic sclerosis (2017).

Source: Valentini G, Iudici M, Walker UA, et al. The European Scleroderma Trials and Research group
(EUSTAR) task force for the development of revised activity criteria for systemic sclerosis:
derivation and validation of a preliminarily revised EUSTAR activity index. Ann Rheum Dis
2017;76:270–6. doi:10.1136/annrheumdis-2016-209768

``eustar_ai`` is the sum of the weights of the six items present (0–10, steps of 0.25);
``eustar_ai_active`` is 1 when it is ≥ 2.5. Every threshold is strict: an mRSS of 18, a CRP of
10 mg/L and a DLCO of 70 % predicted score 0.

CRP may be given as ``crp_mg_l`` or as ``crp_mg_dl`` (converted × 10, never guessed from the
size of the number); giving both, inconsistent by more than :data:`CRP_TOLERANCE_MG_L`, is an
error (docs/decisions/myositis-ssc.md).

Examples
--------
>>> result = score_visit({"delta_skin": 0, "mrss": 20, "digital_ulcers": 0,
...                       "tendon_friction_rubs": 0, "crp_mg_dl": 1.5, "dlco_pct_pred": 80})
>>> result["eustar_ai"], result["eustar_ai_active"]
(3.75, 1)
>>> result["eustar_ai_explain"]
'mrss=1.5 (20 > 18); crp_mg_l=2.25 (15 > 10, derived: crp_mg_dl=1.5)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from remission.errors import Problem
from remission.indices._base import (
    ROW,
    Column,
    Context,
    Contribution,
    IndexDefinition,
    MissingRule,
    ScalarResult,
    as_flag,
    join_labels,
    validate_record,
)
from remission.indices._numbers import num_text as _num
from remission.indices._numbers import num_text_expr as _num_expr


@dataclass(frozen=True)
class Item:
    """One EUSTAR-AI item: code, wording, weight and (for measurements) its strict cut-off."""

    code: str
    wording: str
    weight: float
    op: Literal["present", ">", "<"] = "present"
    threshold: float = 0.0


#: The EUSTAR-AI table (Valentini 2017, Table 3): the single source of both forms.
ITEMS: tuple[Item, ...] = (
    Item("delta_skin", "patient-reported skin worsening in the previous month", 1.5),
    Item("mrss", "modified Rodnan skin score > 18", 1.5, ">", 18.0),
    Item("digital_ulcers", "active digital ulcers", 1.5),
    Item("tendon_friction_rubs", "tendon friction rubs", 2.25),
    Item("crp_mg_l", "C-reactive protein > 10 mg/L (1 mg/dL)", 2.25, ">", 10.0),
    Item("dlco_pct_pred", "DLCO < 70 % predicted", 1.0, "<", 70.0),
)
CODES: tuple[str, ...] = tuple(i.code for i in ITEMS)
MAX_SCORE = sum(i.weight for i in ITEMS)  # 10.0
ACTIVE_FROM = 2.5
#: mg/dL → mg/L.
CRP_MG_DL_TO_MG_L = 10.0
#: Largest accepted difference between ``crp_mg_l`` and 10 × ``crp_mg_dl`` when both are given:
#: half a mg/L, the rounding of a mg/dL value reported to one decimal.
CRP_TOLERANCE_MG_L = 0.5

COLUMNS: tuple[Column, ...] = (
    Column("delta_skin", "bool", "patient reports skin worsened in the previous month"),
    Column("mrss", "float", "modified Rodnan skin score", "points", 0, 51),
    Column("digital_ulcers", "bool", "active digital ulcers"),
    Column("tendon_friction_rubs", "bool", "tendon friction rubs"),
    Column("crp_mg_l", "float", "C-reactive protein", "mg/L", 0, 1000, unless=("crp_mg_dl",)),
    Column(
        "crp_mg_dl",
        "float",
        "C-reactive protein (alternative unit; × 10 = mg/L)",
        "mg/dL",
        0,
        100,
        optional=True,
    ),
    Column("dlco_pct_pred", "float", "DLCO", "% predicted", 0, 200),
)
OUTPUTS = ("eustar_ai", "eustar_ai_active", "eustar_ai_explain", "eustar_ai_missing")


def _crp_mg_l(values: Mapping[str, Any]) -> tuple[float | None, str | None]:
    if values.get("crp_mg_l") is not None:
        return float(values["crp_mg_l"]), None
    if values.get("crp_mg_dl") is not None:
        return float(values["crp_mg_dl"]) * CRP_MG_DL_TO_MG_L, f"crp_mg_dl={_num(values['crp_mg_dl'])}"
    return None, None


def _item_label(item: Item, measured: float | None, derived: str | None) -> str:
    text = f"{item.code}={item.weight:g}"
    if item.op == "present":
        return text
    detail = f"{_num(measured or 0.0)} {item.op} {item.threshold:g}"
    return f"{text} ({detail}, derived: {derived})" if derived else f"{text} ({detail})"


def score_visit(visit: Mapping[str, Any], *, missing: MissingRule = "empty") -> ScalarResult:
    """Score one visit with the revised EUSTAR activity index.

    Parameters
    ----------
    visit : mapping of code → value
        ``delta_skin``, ``digital_ulcers``, ``tendon_friction_rubs`` (0/1); ``mrss`` (0–51);
        ``crp_mg_l`` (mg/L) or ``crp_mg_dl`` (mg/dL); ``dlco_pct_pred`` (% predicted).
    missing : {"empty", "absent"}
        ``"absent"`` scores a missing item (or its missing measurement) as not present.

    Returns
    -------
    ScalarResult
        ``eustar_ai`` (0–10 or None), ``eustar_ai_active`` (1/0/None), the explanation and
        ``eustar_ai_missing``.

    Examples
    --------
    >>> score_visit({"delta_skin": 1, "mrss": 18, "digital_ulcers": 1, "tendon_friction_rubs": 0,
    ...              "crp_mg_l": 10, "dlco_pct_pred": 70})["eustar_ai"]
    3.0
    """
    values = validate_record(visit, INDEX)
    problems = check_crp_units(_record_frame(values))
    if problems:
        from remission.errors import InvalidInputError

        raise InvalidInputError(problems)
    explanation: list[Contribution] = []
    missing_codes: list[str] = []
    labels: list[str] = []
    for item in ITEMS:
        derived = None
        if item.code == "crp_mg_l":
            measured, derived = _crp_mg_l(values)
        else:
            measured = values[item.code]
        if measured is None:
            if missing == "empty":
                missing_codes.append(item.code)
            continue
        if item.op == "present":
            hit = bool(measured)
        else:
            hit = measured > item.threshold if item.op == ">" else measured < item.threshold
        if hit:
            explanation.append(Contribution(item.code, item.weight, derived))
            labels.append(_item_label(item, measured, derived))
    known = sum(float(c.points) for c in explanation)  # type: ignore[arg-type]
    upper = known + sum(i.weight for i in ITEMS if i.code in missing_codes)
    active: int | None = 1 if known >= ACTIVE_FROM else (0 if upper < ACTIVE_FROM else None)
    return ScalarResult(
        values={
            "eustar_ai": None if missing_codes else known,
            "eustar_ai_active": active,
            "eustar_ai_explain": "; ".join(labels),
            "eustar_ai_missing": "; ".join(missing_codes),
        },
        explanation=tuple(explanation),
        missing=tuple(missing_codes),
    )


def _record_frame(values: Mapping[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(
        {ROW: [0], "crp_mg_l": [values.get("crp_mg_l")], "crp_mg_dl": [values.get("crp_mg_dl")]},
        schema={ROW: pl.Int64, "crp_mg_l": pl.Float64, "crp_mg_dl": pl.Float64},
    )


def check_crp_units(typed: pl.DataFrame) -> list[Problem]:
    """Rows that give CRP in both units with values that disagree (> 0.5 mg/L apart).

    Examples
    --------
    >>> frame = pl.DataFrame({"__row": [0, 1], "crp_mg_l": [15.0, 15.0], "crp_mg_dl": [1.5, 15.0]})
    >>> print(*check_crp_units(frame))
    row 2, column crp_mg_dl: value 15: disagrees with crp_mg_l = 15 (mg/dL × 10); give one unit
    """
    gap = (pl.col("crp_mg_l") - pl.col("crp_mg_dl") * CRP_MG_DL_TO_MG_L).abs()
    bad = typed.filter((gap > CRP_TOLERANCE_MG_L + 1e-9).fill_null(False))
    return [
        Problem(
            row + 1,
            "crp_mg_dl",
            _num(dl),
            f"disagrees with crp_mg_l = {_num(ml)} (mg/dL × 10); give one unit",
        )
        for row, ml, dl in zip(bad[ROW].to_list(), bad["crp_mg_l"].to_list(), bad["crp_mg_dl"].to_list(), strict=True)
    ]


def _measure_expr(item: Item) -> tuple[pl.Expr, pl.Expr | None]:
    """The measured value of an item and, for CRP, the label of its mg/dL source."""
    if item.code != "crp_mg_l":
        return pl.col(item.code), None
    from_dl = pl.col("crp_mg_dl") * CRP_MG_DL_TO_MG_L
    value = pl.coalesce([pl.col("crp_mg_l"), from_dl])
    derived = pl.when(pl.col("crp_mg_l").is_null() & pl.col("crp_mg_dl").is_not_null()).then(
        pl.format("crp_mg_dl={}", _num_expr(pl.col("crp_mg_dl")))
    )
    return value, derived


def _hit_expr(item: Item, measured: pl.Expr) -> pl.Expr:
    if item.op == "present":
        return measured
    return measured > item.threshold if item.op == ">" else measured < item.threshold


def _label_expr(item: Item, measured: pl.Expr, derived: pl.Expr | None) -> pl.Expr:
    text = f"{item.code}={item.weight:g}"
    if item.op == "present":
        return pl.lit(text)
    detail = pl.format(f"{{}} {item.op} {item.threshold:g}", _num_expr(measured))
    plain = pl.format(f"{text} ({{}})", detail)
    if derived is None:
        return plain
    return (
        pl.when(derived.is_not_null())
        .then(pl.format(f"{text} ({{}}, derived: {{}})", detail, derived))
        .otherwise(plain)
    )


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised EUSTAR-AI over a validated wide table (one row per visit)."""
    hits, labels, missing_labels = [], [], []
    for item in ITEMS:
        measured, derived = _measure_expr(item)
        hit = _hit_expr(item, measured)
        if ctx.missing == "absent":
            hit = hit.fill_null(False)
        hits.append((item, hit))
        labels.append(pl.when(hit).then(_label_expr(item, measured, derived)))
        missing_labels.append(pl.when(hit.is_null()).then(pl.lit(item.code)))
    known = pl.sum_horizontal([h.fill_null(False).cast(pl.Float64) * i.weight for i, h in hits])
    unknown = pl.sum_horizontal([h.is_null().cast(pl.Float64) * i.weight for i, h in hits])
    any_missing = pl.any_horizontal([h.is_null() for _, h in hits])
    active = pl.when(known >= ACTIVE_FROM).then(True).when(known + unknown < ACTIVE_FROM).then(False)
    outputs = [
        pl.when(~any_missing).then(known).alias("eustar_ai"),
        as_flag(active).alias("eustar_ai_active"),
    ]
    if ctx.explain:
        outputs += [
            join_labels(labels).alias("eustar_ai_explain"),
            join_labels(missing_labels).alias("eustar_ai_missing"),
        ]
    return visits.select(outputs)


INDEX = IndexDefinition(
    name="eustar-ai",
    forms=("ssc",),
    title="EUSTAR-AI — revised EUSTAR activity index for systemic sclerosis (2017)",
    source="Valentini G, Iudici M, Walker UA, et al. Ann Rheum Dis 2017;76:270–6.",
    doi="10.1136/annrheumdis-2016-209768",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    row_check=check_crp_units,
    missing_rule=(
        "eustar_ai empty when any item is missing; eustar_ai_active is given when the known items "
        "already decide it; crp_mg_dl (× 10) stands in for a missing crp_mg_l"
    ),
)
