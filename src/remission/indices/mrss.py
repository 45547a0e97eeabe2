"""mRSS — modified Rodnan skin score (systemic sclerosis skin thickness).

Source: Clements P, Lachenbruch P, Siebold J, et al. Inter and intraobserver variability of total
skin thickness score (modified Rodnan TSS) in systemic sclerosis. J Rheumatol 1995;22:1281–5.
Standardisation: Khanna D, Furst DE, Clements PJ, et al. J Scleroderma Relat Disord 2017;2:11–18.
Cutaneous subsets: LeRoy EC, et al. J Rheumatol 1988;15:202–5.

Seventeen body areas are each scored 0 (normal), 1 (mild), 2 (moderate) or 3 (severe
thickening); ``mrss`` is their sum (0–51) and is empty when any area is missing (no proration).
``mrss_proximal`` is 1 when any area proximal to the elbows/knees or on the trunk (upper arms,
thighs, anterior chest, abdomen) is thickened, the skin extent of diffuse cutaneous SSc.

Missing areas are never scored as 0, not even with ``missing="absent"`` (an area score is a
graded examination, not a present/absent descriptor; docs/decisions/myositis-ssc.md).

Examples
--------
>>> result = score_visit({**ALL_NORMAL, "mrss_fingers_r": 2, "mrss_thigh_l": 1})
>>> result["mrss"], result["mrss_proximal"]
(3, 1)
>>> result["mrss_explain"]
'mrss_fingers_r=2; mrss_thigh_l=1 (proximal)'
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
    ScalarResult,
    as_flag,
    join_labels,
    missing_labels,
    validate_record,
)


@dataclass(frozen=True)
class Area:
    """One of the 17 mRSS body areas: its column code, name and whether it is proximal."""

    code: str
    name: str
    proximal: bool = False


#: The 17 areas (Clements 1995; Khanna 2017 standardisation), each scored 0–3.
AREAS: tuple[Area, ...] = (
    Area("mrss_face", "face"),
    Area("mrss_anterior_chest", "anterior chest", proximal=True),
    Area("mrss_abdomen", "abdomen", proximal=True),
    Area("mrss_fingers_r", "fingers, right"),
    Area("mrss_fingers_l", "fingers, left"),
    Area("mrss_hand_dorsum_r", "dorsum of hand, right"),
    Area("mrss_hand_dorsum_l", "dorsum of hand, left"),
    Area("mrss_forearm_r", "forearm, right"),
    Area("mrss_forearm_l", "forearm, left"),
    Area("mrss_upper_arm_r", "upper arm, right", proximal=True),
    Area("mrss_upper_arm_l", "upper arm, left", proximal=True),
    Area("mrss_thigh_r", "thigh, right", proximal=True),
    Area("mrss_thigh_l", "thigh, left", proximal=True),
    Area("mrss_lower_leg_r", "lower leg, right"),
    Area("mrss_lower_leg_l", "lower leg, left"),
    Area("mrss_foot_dorsum_r", "dorsum of foot, right"),
    Area("mrss_foot_dorsum_l", "dorsum of foot, left"),
)
CODES: tuple[str, ...] = tuple(a.code for a in AREAS)
PROXIMAL: tuple[str, ...] = tuple(a.code for a in AREAS if a.proximal)
MAX_AREA = 3
MAX_SCORE = MAX_AREA * len(AREAS)  # 51

COLUMNS: tuple[Column, ...] = tuple(
    Column(
        a.code,
        "int",
        f"skin thickness, {a.name}: 0 normal, 1 mild, 2 moderate, 3 severe",
        "grade",
        0,
        MAX_AREA,
    )
    for a in AREAS
)
OUTPUTS = ("mrss", "mrss_proximal", "mrss_explain", "mrss_missing")

#: Every area scored 0, handy in examples and tests.
ALL_NORMAL: dict[str, int] = {c: 0 for c in CODES}


def _label(area: Area, grade: int) -> str:
    return f"{area.code}={grade}" + (" (proximal)" if area.proximal else "")


def score_visit(visit: Mapping[str, Any], **_: Any) -> ScalarResult:
    """Score one examination: total mRSS, proximal involvement and the per-area explanation.

    Parameters
    ----------
    visit : mapping of code → value
        The 17 area codes of :data:`AREAS`, each an integer 0–3 (None or absent = missing).

    Returns
    -------
    ScalarResult
        ``mrss`` (0–51, None when any area is missing), ``mrss_proximal`` (1/0/None),
        ``mrss_explain`` (the thickened areas) and ``mrss_missing``.

    Examples
    --------
    >>> score_visit({**ALL_NORMAL, "mrss_face": None})["mrss"] is None
    True
    >>> score_visit({**ALL_NORMAL, "mrss_face": None})["mrss_proximal"]
    0
    """
    values = validate_record(visit, INDEX)
    missing = tuple(c for c in CODES if values[c] is None)
    explanation = tuple(
        Contribution(a.code, int(values[a.code]), "proximal" if a.proximal else None) for a in AREAS if values[a.code]
    )
    proximal_known = [values[c] for c in PROXIMAL if values[c] is not None]
    if any(g > 0 for g in proximal_known):
        proximal: int | None = 1
    elif len(proximal_known) == len(PROXIMAL):
        proximal = 0
    else:
        proximal = None
    total = None if missing else sum(int(values[c]) for c in CODES)
    by_code = {a.code: a for a in AREAS}
    return ScalarResult(
        values={
            "mrss": total,
            "mrss_proximal": proximal,
            "mrss_explain": "; ".join(_label(by_code[c.code], int(c.points)) for c in explanation),
            "mrss_missing": "; ".join(missing),
        },
        explanation=explanation,
        missing=missing,
    )


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised mRSS over a validated wide table (one row per examination)."""
    any_missing = pl.any_horizontal([pl.col(c).is_null() for c in CODES])
    total = pl.sum_horizontal([pl.col(c) for c in CODES])
    proximal_hit = pl.any_horizontal([(pl.col(c) > 0).fill_null(False) for c in PROXIMAL])
    proximal_known = pl.all_horizontal([pl.col(c).is_not_null() for c in PROXIMAL])
    outputs = [
        pl.when(~any_missing).then(total).cast(pl.Int64).alias("mrss"),
        as_flag(pl.when(proximal_hit).then(True).when(proximal_known).then(False)).alias("mrss_proximal"),
    ]
    if ctx.explain:
        labels = [
            pl.when(pl.col(a.code) > 0).then(
                pl.format(f"{a.code}={{}}" + (" (proximal)" if a.proximal else ""), pl.col(a.code))
            )
            for a in AREAS
        ]
        outputs += [
            join_labels(labels).alias("mrss_explain"),
            missing_labels(CODES).alias("mrss_missing"),
        ]
    return visits.select(outputs)


INDEX = IndexDefinition(
    name="mrss",
    forms=("ssc",),
    title="mRSS — modified Rodnan skin score",
    source="Clements P, Lachenbruch P, Siebold J, et al. J Rheumatol 1995;22:1281–5.",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    missing_rule=(
        "mrss empty when any of the 17 areas is missing (no proration); mrss_proximal is 1 when a "
        "known proximal area is > 0, 0 when all six proximal areas are known and 0, else empty; "
        "missing='absent' does not apply (areas are graded, not descriptors)"
    ),
)
