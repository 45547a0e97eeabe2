"""Myositis response: 2016 ACR/EULAR Total Improvement Score (adult and juvenile), IMACS DOI, CK.

Sources: Aggarwal R, Rider LG, Ruperto N, et al. 2016 ACR/EULAR criteria for minimal, moderate,
and major clinical response in adult dermatomyositis and polymyositis. Arthritis Rheumatol
2017;69:898–910 (doi:10.1002/art.40064). Juvenile: Rider LG, Aggarwal R, et al. Arthritis Rheumatol
2017;69:911–23. IMACS definition of improvement (DOI): Rider LG, Giannini EH, Brunner HI, et al.
Arthritis Rheum 2004;50:2281–90.

Each of the six IMACS core set measures (CSMs) scores points by its percent improvement from
baseline (:data:`MEASURES`; lower band edges exclusive, percent rounded to 4 decimals first);
``tis`` is their sum (0–100). Response: adult ``major`` ≥ 60, ``moderate`` ≥ 40, ``minimal`` ≥ 20;
juvenile (``population="juvenile"``) ≥ 70, ≥ 45, ≥ 30 (:data:`RESPONSE_BANDS`).

Inputs the way clinics record them (docs/decisions/myositis-ssc.md):

* MMT-8 as a ``mmt8`` total, or by muscle group (:data:`MMT8_GROUPS`, 0–10 each): one side per
  bilateral group gives the unilateral total (0–80), both sides the bilateral one (0–150). A
  recorded ``mmt8`` wins over the groups.
* the muscle enzyme as ``enzyme`` (U/L), or as several enzymes with their ULNs
  (:data:`ENZYMES`): the one most abnormal at baseline (value / ULN) is tracked for the patient.

Examples
--------
>>> base = {"phga": 6, "ptga": 7, "mmt8": 120, "haq_di": 1.5, "enzyme": 3000, "extramuscular": 4}
>>> now = {"phga": 1, "ptga": 2, "mmt8": 145, "haq_di": 0.5, "enzyme": 150, "extramuscular": 0.5}
>>> result = score_visit(now, base)
>>> result["tis"], result["tis_response"], result["imacs_doi"]
(95.0, 'major', 1)
>>> result["tis_explain"].split("; ")[:3]
['phga=20 (83.3333 %)', 'ptga=10 (71.4286 %)', 'mmt8=27.5 (20.8333 %)']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.indices._base import (
    ROW,
    Column,
    Context,
    IndexDefinition,
    Option,
    ScalarResult,
    as_flag,
    join_labels,
    validate_table,
    with_baseline,
)
from remission.indices._numbers import num_text, num_text_expr, round_expr, round_to


@dataclass(frozen=True)
class Measure:
    """A core set measure: code, direction, and its points per band of percent improvement.

    ``points[i]`` is scored when the percent is above ``edges[i - 1]`` and at most ``edges[i]``
    (``points[0]`` up to and including ``edges[0]``, which also covers worsening).
    """

    code: str
    name: str
    better: Literal["lower", "higher"]
    edges: tuple[float, ...]
    points: tuple[float, ...]

    @property
    def max_points(self) -> float:
        return max(self.points)


_EDGES = (5.0, 15.0, 25.0, 40.0)
#: The TIS point table (Aggarwal 2017, Table 3; same points for JDM, Rider 2017).
MEASURES: tuple[Measure, ...] = (
    Measure("phga", "physician global activity", "lower", _EDGES, (0, 7.5, 15, 17.5, 20)),
    Measure("ptga", "patient/parent global activity", "lower", _EDGES, (0, 2.5, 5, 7.5, 10)),
    Measure("mmt8", "manual muscle testing (MMT-8)", "higher", (2, 10, 20, 30), (0, 10, 20, 27.5, 32.5)),
    Measure("haq_di", "HAQ-DI (JDM: CHAQ)", "lower", _EDGES, (0, 5, 7.5, 7.5, 10)),
    Measure("enzyme", "most abnormal muscle enzyme", "lower", _EDGES, (0, 2.5, 5, 7.5, 7.5)),
    Measure("extramuscular", "extramuscular global activity", "lower", _EDGES, (0, 7.5, 12.5, 15, 20)),
)
CSM_CODES: tuple[str, ...] = tuple(m.code for m in MEASURES)

#: Lower bound of each response band, highest first (Aggarwal 2017; Rider 2017 for JDM).
RESPONSE_BANDS: dict[str, tuple[tuple[float, str], ...]] = {
    "adult": ((60, "major"), (40, "moderate"), (20, "minimal")),
    "juvenile": ((70, "major"), (45, "moderate"), (30, "minimal")),
}
NO_RESPONSE = "none"

#: IMACS DOI (Rider 2004): ≥ 3 CSMs improved ≥ 20 %, ≤ 2 worsened ≥ 25 %, MMT-8 not worsened.
DOI_IMPROVED_PCT = 20.0
DOI_WORSENED_PCT = 25.0
DOI_MIN_IMPROVED = 3
DOI_MAX_WORSENED = 2


@dataclass(frozen=True)
class MuscleGroup:
    """An MMT-8 muscle group (Kendall 0–10); bilateral groups have a right and a left column."""

    name: str
    bilateral: bool = True

    @property
    def codes(self) -> tuple[str, ...]:
        base = f"mmt8_{self.name}"
        return (f"{base}_r", f"{base}_l") if self.bilateral else (base,)


#: The eight MMT-8 groups (Rider LG, et al. Arthritis Care Res 2010;62:465–72): one axial, seven
#: tested on one side (unilateral total 0–80) or both sides (bilateral total 0–150).
MMT8_GROUPS: tuple[MuscleGroup, ...] = (
    MuscleGroup("neck_flexors", bilateral=False),
    MuscleGroup("deltoid"),
    MuscleGroup("biceps"),
    MuscleGroup("wrist_extensors"),
    MuscleGroup("gluteus_maximus"),
    MuscleGroup("gluteus_medius"),
    MuscleGroup("quadriceps"),
    MuscleGroup("ankle_dorsiflexors"),
)
MMT8_CODES: tuple[str, ...] = tuple(c for g in MMT8_GROUPS for c in g.codes)
MMT8_SCALES = (80, 150)


@dataclass(frozen=True)
class Enzyme:
    """A muscle enzyme column (U/L) and its upper-limit-of-normal column."""

    code: str
    uln: str
    name: str


#: Candidate enzymes, in the order that breaks a tie of value/ULN at baseline.
ENZYMES: tuple[Enzyme, ...] = (
    Enzyme("ck_u_l", "ck_uln_u_l", "creatine kinase"),
    Enzyme("aldolase_u_l", "aldolase_uln_u_l", "aldolase"),
    Enzyme("ldh_u_l", "ldh_uln_u_l", "lactate dehydrogenase"),
    Enzyme("alt_u_l", "alt_uln_u_l", "alanine aminotransferase"),
    Enzyme("ast_u_l", "ast_uln_u_l", "aspartate aminotransferase"),
)
ENZYME_CODES: tuple[str, ...] = tuple(c for e in ENZYMES for c in (e.code, e.uln))
UNDECIDABLE = "undecidable"
RECORDED = "enzyme"

COLUMNS: tuple[Column, ...] = (
    Column("phga", "float", "physician global activity (VAS/Likert)", "0–10", 0, 10),
    Column("ptga", "float", "patient (JDM: parent) global activity", "0–10", 0, 10),
    Column(
        "mmt8",
        "float",
        "MMT-8 total (unilateral 0–80 or bilateral 0–150)",
        "points",
        0,
        150,
        unless=MMT8_CODES,
    ),
    Column(
        "mmt8_max",
        "int",
        "MMT-8 scale maximum: 80 (unilateral) or 150 (bilateral)",
        "points",
        80,
        150,
        optional=True,
    ),
    *(Column(c, "int", f"MMT-8 {c[5:].replace('_', ' ')} (Kendall)", "0–10", 0, 10, optional=True) for c in MMT8_CODES),
    Column("haq_di", "float", "HAQ disability index (JDM: CHAQ)", "0–3", 0, 3),
    Column(
        "enzyme",
        "float",
        "the most abnormal muscle enzyme at baseline",
        "U/L",
        0,
        1e6,
        unless=tuple(e.code for e in ENZYMES),
    ),
    *(
        c
        for e in ENZYMES
        for c in (
            Column(e.code, "float", e.name, "U/L", 0, 1e6, optional=True),
            Column(
                e.uln,
                "float",
                f"{e.name} upper limit of normal",
                "U/L",
                0,
                1e6,
                exclusive_minimum=True,
                optional=True,
            ),
        )
    ),
    Column("extramuscular", "float", "MDAAT extramuscular global activity", "0–10", 0, 10),
)
OUTPUTS = ("tis", "tis_response", "imacs_doi", "ck_normal", "tis_explain", "tis_missing")
OPTIONS = (
    Option(
        "population",
        "choice",
        "adult",
        "response thresholds: adult (20/40/60) or juvenile (30/45/70)",
        ("adult", "juvenile"),
    ),
)


def points_for(measure: Measure, percent: float) -> float:
    """Points of a CSM for a percent improvement (already rounded to 4 decimals).

    Examples
    --------
    >>> phga = MEASURES[0]
    >>> [points_for(phga, p) for p in (-10, 5, 5.0001, 15, 15.0001, 25, 40, 40.0001)]
    [0, 0, 7.5, 7.5, 15, 15, 17.5, 20]
    """
    points = measure.points[0]
    for edge, value in zip(measure.edges, measure.points[1:], strict=True):
        if percent > edge:
            points = value
    return points


def response_of(tis: float, population: str = "adult") -> str:
    """The response category of a TIS.

    Examples
    --------
    >>> [response_of(t) for t in (19.9, 20, 40, 60)], response_of(60, "juvenile")
    (['none', 'minimal', 'moderate', 'major'], 'moderate')
    """
    return next((name for low, name in RESPONSE_BANDS[population] if tis >= low), NO_RESPONSE)


# ------------------------------------------------------------------------------------------
# Validation across columns (MMT-8 scale) — shared by both forms
# ------------------------------------------------------------------------------------------


def _group_exprs() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Row-level MMT-8 from the groups: (total or null, scale 80/150 or null, groups given)."""
    sides = [(pl.col(g.codes[0]), pl.col(g.codes[-1])) for g in MMT8_GROUPS if g.bilateral]
    neck = pl.col(MMT8_GROUPS[0].codes[0])
    given = pl.any_horizontal([pl.col(c).is_not_null() for c in MMT8_CODES])
    bilateral = pl.any_horizontal([r.is_not_null() & left.is_not_null() for r, left in sides])
    cells_bi = [neck, *(c for pair in sides for c in pair)]
    cells_uni = [neck, *(pl.coalesce([r, left]) for r, left in sides)]
    total_bi = pl.when(pl.all_horizontal([c.is_not_null() for c in cells_bi])).then(pl.sum_horizontal(cells_bi))
    total_uni = pl.when(pl.all_horizontal([c.is_not_null() for c in cells_uni])).then(pl.sum_horizontal(cells_uni))
    total = pl.when(given & bilateral).then(total_bi).when(given).then(total_uni)
    scale = pl.when(given & bilateral).then(pl.lit(150)).when(given).then(pl.lit(80))
    return total.cast(pl.Float64), scale, given


def _scale_expr() -> pl.Expr:
    _, group_scale, _ = _group_exprs()
    return pl.coalesce([pl.col("mmt8_max"), group_scale, pl.when(pl.col("mmt8") > 80).then(pl.lit(150))])


def check_inputs(typed: pl.DataFrame) -> list[Problem]:
    """Cross-column problems: MMT-8 scale not 80/150, total above it, or not the baseline's."""
    _, group_scale, _ = _group_exprs()
    frame = typed.with_columns(__group_scale=group_scale, __scale=_scale_expr())
    frame = with_baseline(frame, ["__scale"])
    rules: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "mmt8_max",
            ~pl.col("mmt8_max").is_in(MMT8_SCALES),
            pl.lit("expected 80 (unilateral MMT-8) or 150 (bilateral)"),
        ),
        (
            "mmt8",
            pl.col("mmt8") > pl.col("mmt8_max"),
            pl.format("exceeds mmt8_max = {}", pl.col("mmt8_max")),
        ),
        (
            "mmt8_max",
            pl.col("mmt8_max").is_in(MMT8_SCALES) & (pl.col("mmt8_max") != pl.col("__group_scale")),
            pl.format("the MMT-8 groups given make a 0–{} scale", pl.col("__group_scale")),
        ),
        (
            "mmt8",
            pl.col("is_followup") & (pl.col("__scale") != pl.col("__scale_base")),
            pl.format(
                "MMT-8 scale 0–{} differs from the baseline's 0–{}; percent change needs one scale",
                pl.col("__scale"),
                pl.col("__scale_base"),
            ),
        ),
    ]
    problems: list[Problem] = []
    for column, bad, reason in rules:
        hits = frame.filter(bad.fill_null(False)).select(ROW, pl.col(column).cast(pl.Utf8), reason.alias("why"))
        problems += [Problem(r + 1, column, v or "", w) for r, v, w in hits.iter_rows()]
    return problems


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _mmt8_of(values: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The MMT-8 total of one record and, when derived from the groups, how."""
    if values["mmt8"] is not None:
        return float(values["mmt8"]), None
    if all(values[c] is None for c in MMT8_CODES):
        return None, None
    pairs = [(values[g.codes[0]], values[g.codes[-1]]) for g in MMT8_GROUPS if g.bilateral]
    neck = values[MMT8_GROUPS[0].codes[0]]
    if any(r is not None and left is not None for r, left in pairs):
        cells, label = [neck, *(c for p in pairs for c in p)], "sum of 15 groups, bilateral 0–150"
    else:
        cells = [neck, *(r if r is not None else left for r, left in pairs)]
        label = "sum of 8 groups, unilateral 0–80"
    return (None if any(c is None for c in cells) else float(sum(cells))), label


def choose_enzyme(baseline: Mapping[str, Any]) -> tuple[str | None, float | None, int]:
    """The enzyme tracked for a patient: (its code, its value/ULN at baseline, candidates).

    ``enzyme`` when recorded at baseline; else the only enzyme given, or the most abnormal
    (value / ULN) of several; ``"undecidable"`` when several are given and a ULN is missing.

    Examples
    --------
    >>> choose_enzyme({"ck_u_l": 900, "ck_uln_u_l": 180,
    ...                "aldolase_u_l": 30, "aldolase_uln_u_l": 7.5})
    ('ck_u_l', 5.0, 2)
    """
    if baseline.get(RECORDED) is not None:
        return RECORDED, None, 0
    given = [e for e in ENZYMES if baseline.get(e.code) is not None]
    ratios = {
        e.code: float(baseline[e.code]) / float(baseline[e.uln]) for e in given if baseline.get(e.uln) is not None
    }
    if not given:
        return None, None, 0
    if len(given) == 1:
        return given[0].code, ratios.get(given[0].code), 1
    if len(ratios) < len(given):
        return UNDECIDABLE, None, len(given)
    best = max(ratios.values())
    return next(code for code, r in ratios.items() if r == best), best, len(given)


@dataclass(frozen=True)
class _Scored:
    points: float | None
    percent: float | None
    base_zero: bool
    label: str


def _score_measure(measure: Measure, now: float | None, base: float | None, suffix: str) -> _Scored:
    if now is None or base is None:
        return _Scored(None, None, False, f"{measure.code} missing{suffix}")
    if base == 0:
        return _Scored(0.0, None, True, f"{measure.code}=0 (baseline 0: percent undefined)")
    diff = base - now if measure.better == "lower" else now - base
    percent = round_to(diff / base * 100)
    points = points_for(measure, percent)
    return _Scored(points, percent, False, f"{measure.code}={points:g} ({num_text(percent)} %{suffix})")


def _enzyme_suffix(choice: str | None, ratio: float | None, candidates: int, missing: bool) -> str:
    if choice is None or choice == RECORDED:
        return ""
    if choice == UNDECIDABLE:
        return " (several enzymes at baseline, a ULN missing: cannot choose)"
    if candidates == 1:
        return f"; {choice}, the only enzyme at baseline" if not missing else f" ({choice})"
    why = f"{choice}, most abnormal at baseline: {num_text(round_to(ratio or 0.0, 2))} × ULN"
    return f" ({why})" if missing else f"; {why}"


def _validated_pair(visit: Mapping[str, Any], baseline: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    codes = [c.code for c in COLUMNS]
    rows = [{c: baseline.get(c) for c in codes}, {c: visit.get(c) for c in codes}]
    frame = pl.DataFrame(
        {
            "patient_id": ["p", "p"],
            "day": ["0", "1"],
            "baseline": ["1", "0"],
            **{c: ["" if r[c] is None else str(r[c]) for r in rows] for c in codes},
        }
    )
    checked = validate_table(frame, INDEX)
    if checked.problems:
        raise InvalidInputError(checked.problems)
    return tuple(checked.typed.row(i, named=True) for i in range(2))


def score_visit(
    visit: Mapping[str, Any], baseline: Mapping[str, Any], *, population: str = "adult", **_: Any
) -> ScalarResult:
    """Score one follow-up assessment against baseline: TIS, response, IMACS DOI, CK normal.

    Parameters
    ----------
    visit, baseline : mapping of code → value
        The six CSMs (``phga``, ``ptga``, ``extramuscular`` 0–10; ``haq_di`` 0–3; ``mmt8`` or its
        groups :data:`MMT8_CODES` 0–10; ``enzyme`` U/L or the enzymes of :data:`ENZYMES` with
        their ULNs, U/L); optionally ``mmt8_max`` (80 or 150) and ``ck_u_l``/``ck_uln_u_l``.
    population : {"adult", "juvenile"}
        Response thresholds of :data:`RESPONSE_BANDS`.

    Returns
    -------
    ScalarResult
        ``tis`` (0–100, None when a CSM is missing), ``tis_response``, ``imacs_doi`` (1/0/None),
        ``ck_normal`` (of ``visit``), ``tis_explain`` and ``tis_missing``.

    Examples
    --------
    >>> base = {"phga": 0, "ptga": 5, "mmt8": 70, "haq_di": 1, "enzyme": 500, "extramuscular": 2}
    >>> score_visit(base, base)["tis_explain"].split("; ")[0]
    'phga=0 (baseline 0: percent undefined)'
    """
    base, now = _validated_pair(visit, baseline)
    choice, ratio, candidates = choose_enzyme(base)
    scored: list[_Scored] = []
    for m in MEASURES:
        suffix = ""
        if m.code == "mmt8":
            (now_v, label), (base_v, _label) = _mmt8_of(now), _mmt8_of(base)
            suffix = f"; {label}" if label and now_v is not None and base_v is not None else ""
        elif m.code == "enzyme":
            code = choice if choice not in (None, UNDECIDABLE) else None
            now_v, base_v = (now[code], base[code]) if code else (None, None)
            missing = now_v is None or base_v is None
            suffix = _enzyme_suffix(choice, ratio, candidates, missing)
        else:
            now_v, base_v = now[m.code], base[m.code]
        scored.append(_score_measure(m, now_v, base_v, suffix))
    return _assemble(scored, now, population)


def _doi(scored: Sequence[_Scored]) -> tuple[int | None, int, int]:
    improved = sum(1 for s in scored if s.percent is not None and s.percent >= DOI_IMPROVED_PCT)
    worsened = sum(1 for s in scored if s.percent is not None and s.percent <= -DOI_WORSENED_PCT)
    unknown = sum(1 for s in scored if s.points is None)
    mmt8 = scored[CSM_CODES.index("mmt8")]
    mmt8_worse = None if mmt8.points is None else (mmt8.percent is not None and mmt8.percent <= -DOI_WORSENED_PCT)
    if improved >= DOI_MIN_IMPROVED and worsened + unknown <= DOI_MAX_WORSENED and mmt8_worse is False:
        return 1, improved, worsened
    if improved + unknown < DOI_MIN_IMPROVED or worsened > DOI_MAX_WORSENED or mmt8_worse:
        return 0, improved, worsened
    return None, improved, worsened


def _assemble(scored: Sequence[_Scored], now: Mapping[str, Any], population: str) -> ScalarResult:
    known = sum(s.points for s in scored if s.points is not None)
    missing = tuple(m.code for m, s in zip(MEASURES, scored, strict=True) if s.points is None)
    upper = known + sum(m.max_points for m in MEASURES if m.code in missing)
    low_band, high_band = response_of(known, population), response_of(upper, population)
    doi, improved, worsened = _doi(scored)
    ck, uln = now["ck_u_l"], now["ck_uln_u_l"]
    labels = [s.label for s in scored]
    labels.append(f"imacs_doi: {improved} improved ≥ 20 %, {worsened} worsened ≥ 25 %")
    return ScalarResult(
        values={
            "tis": None if missing else float(known),
            "tis_response": low_band if low_band == high_band else None,
            "imacs_doi": doi,
            "ck_normal": None if ck is None or uln is None else int(ck <= uln),
            "tis_explain": "; ".join(labels),
            "tis_missing": "; ".join(missing),
        },
        missing=missing,
    )


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _choice_exprs() -> list[pl.Expr]:
    """Row-level enzyme choice (as if this row were the baseline), its ratio and candidates."""
    values = [pl.col(e.code) for e in ENZYMES]
    ratios = [pl.col(e.code) / pl.col(e.uln) for e in ENZYMES]
    n = pl.sum_horizontal([v.is_not_null().cast(pl.Int32) for v in values])
    all_uln = pl.all_horizontal(
        [v.is_null() | pl.col(e.uln).is_not_null() for v, e in zip(values, ENZYMES, strict=True)]
    )
    best = pl.max_horizontal(ratios)
    only = pl.coalesce([pl.when(v.is_not_null()).then(pl.lit(e.code)) for v, e in zip(values, ENZYMES, strict=True)])
    top = pl.coalesce([pl.when(r == best).then(pl.lit(e.code)) for r, e in zip(ratios, ENZYMES, strict=True)])
    choice = (
        pl.when(pl.col(RECORDED).is_not_null())
        .then(pl.lit(RECORDED))
        .when(n == 0)
        .then(None)
        .when(n == 1)
        .then(only)
        .when(~all_uln)
        .then(pl.lit(UNDECIDABLE))
        .otherwise(top)
    )
    ratio = pl.when(pl.col(RECORDED).is_null() & (choice != UNDECIDABLE)).then(best)
    n_out = pl.when(pl.col(RECORDED).is_null()).then(n).otherwise(0)
    return [choice.alias("__choice"), ratio.alias("__ratio"), n_out.alias("__n")]


def _pick(choice: pl.Expr, suffix: str) -> pl.Expr:
    expr = pl.lit(None, pl.Float64)
    for code in (RECORDED, *(e.code for e in ENZYMES)):
        expr = pl.when(choice == code).then(pl.col(code + suffix)).otherwise(expr)
    return expr


def _prepare(visits: pl.DataFrame) -> pl.DataFrame:
    total, _, given = _group_exprs()
    label = pl.when(given & pl.col("mmt8").is_null()).then(
        pl.when(_group_exprs()[1] == 150)
        .then(pl.lit("sum of 15 groups, bilateral 0–150"))
        .otherwise(pl.lit("sum of 8 groups, unilateral 0–80"))
    )
    frame = visits.with_columns(
        pl.coalesce([pl.col("mmt8"), total]).alias("__mmt8"),
        label.alias("__mmt8_src"),
        *_choice_exprs(),
    )
    codes = [
        "phga",
        "ptga",
        "haq_di",
        "extramuscular",
        "__mmt8",
        RECORDED,
        *(e.code for e in ENZYMES),
        "__choice",
        "__ratio",
        "__n",
    ]
    frame = with_baseline(frame, codes)
    choice = pl.col("__choice_base")
    return frame.with_columns(_pick(choice, "").alias("__enzyme_now"), _pick(choice, "_base").alias("__enzyme_then"))


def _sources(m: Measure) -> tuple[pl.Expr, pl.Expr]:
    if m.code == "mmt8":
        return pl.col("__mmt8"), pl.col("__mmt8_base")
    if m.code == "enzyme":
        return pl.col("__enzyme_now"), pl.col("__enzyme_then")
    return pl.col(m.code), pl.col(f"{m.code}_base")


def _points_expr(m: Measure, percent: pl.Expr) -> pl.Expr:
    expr = pl.lit(float(m.points[0]))
    for edge, value in zip(m.edges, m.points[1:], strict=True):
        expr = pl.when(percent > edge).then(pl.lit(float(value))).otherwise(expr)
    return expr


def _suffix_expr(m: Measure, known: pl.Expr) -> pl.Expr:
    if m.code == "mmt8":
        return (
            pl.when(known & pl.col("__mmt8_src").is_not_null())
            .then(pl.format("; {}", pl.col("__mmt8_src")))
            .otherwise(pl.lit(""))
        )
    if m.code != "enzyme":
        return pl.lit("")
    choice, n = pl.col("__choice_base"), pl.col("__n_base")
    ratio_text = num_text_expr(round_expr(pl.col("__ratio_base").fill_null(0.0), 2))
    why_only = pl.format("{}, the only enzyme at baseline", choice)
    why_top = pl.format("{}, most abnormal at baseline: {} × ULN", choice, ratio_text)
    why = pl.when(n == 1).then(why_only).otherwise(why_top)
    return (
        pl.when(choice.is_null() | (choice == RECORDED))
        .then(pl.lit(""))
        .when(choice == UNDECIDABLE)
        .then(pl.lit(" (several enzymes at baseline, a ULN missing: cannot choose)"))
        .when(known)
        .then(pl.format("; {}", why))
        .when(n == 1)
        .then(pl.format(" ({})", choice))
        .otherwise(pl.format(" ({})", why))
    )


def _measure_exprs(m: Measure) -> dict[str, pl.Expr]:
    now, base = _sources(m)
    diff = base - now if m.better == "lower" else now - base
    percent = pl.when(base != 0).then(round_expr(diff / base * 100))
    known = now.is_not_null() & base.is_not_null()
    points = pl.when(known & (base == 0)).then(0.0).when(known).then(_points_expr(m, percent))
    suffix = _suffix_expr(m, known)
    label = (
        pl.when(~known)
        .then(pl.format(f"{m.code} missing{{}}", suffix))
        .when(base == 0)
        .then(pl.lit(f"{m.code}=0 (baseline 0: percent undefined)"))
        .otherwise(pl.format(f"{m.code}={{}} ({{}} %{{}})", num_text_expr(points), num_text_expr(percent), suffix))
    )
    return {"points": points, "percent": percent, "label": label}


def _doi_expr(parts: Sequence[dict[str, pl.Expr]]) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    improved = pl.sum_horizontal([(p["percent"] >= DOI_IMPROVED_PCT).fill_null(False).cast(pl.Int32) for p in parts])
    worsened = pl.sum_horizontal([(p["percent"] <= -DOI_WORSENED_PCT).fill_null(False).cast(pl.Int32) for p in parts])
    unknown = pl.sum_horizontal([p["points"].is_null().cast(pl.Int32) for p in parts])
    mmt8 = parts[CSM_CODES.index("mmt8")]
    mmt8_worse = pl.when(mmt8["points"].is_not_null()).then((mmt8["percent"] <= -DOI_WORSENED_PCT).fill_null(False))
    doi = (
        pl.when((improved >= DOI_MIN_IMPROVED) & (worsened + unknown <= DOI_MAX_WORSENED) & mmt8_worse.not_())
        .then(True)
        .when((improved + unknown < DOI_MIN_IMPROVED) | (worsened > DOI_MAX_WORSENED) | mmt8_worse.fill_null(False))
        .then(False)
    )
    return doi, improved, worsened


def _response_expr(low: pl.Expr, high: pl.Expr, population: str) -> pl.Expr:
    def band(score: pl.Expr) -> pl.Expr:
        expr = pl.lit(NO_RESPONSE)
        for bound, name in reversed(RESPONSE_BANDS[population]):
            expr = pl.when(score >= bound).then(pl.lit(name)).otherwise(expr)
        return expr

    return pl.when(band(low) == band(high)).then(band(low))


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised TIS, response, IMACS DOI and CK normal over a validated long table."""
    frame = _prepare(visits)
    parts = [_measure_exprs(m) for m in MEASURES]
    known = pl.sum_horizontal([p["points"].fill_null(0.0) for p in parts])
    upper = known + pl.sum_horizontal(
        [p["points"].is_null().cast(pl.Float64) * m.max_points for p, m in zip(parts, MEASURES, strict=True)]
    )
    any_missing = pl.any_horizontal([p["points"].is_null() for p in parts])
    doi, improved, worsened = _doi_expr(parts)
    follow = pl.col("is_followup")
    population = ctx.options.get("population", "adult")
    outputs = [
        pl.when(follow & ~any_missing).then(known).alias("tis"),
        pl.when(follow).then(_response_expr(known, upper, population)).alias("tis_response"),
        as_flag(pl.when(follow).then(doi)).alias("imacs_doi"),
        as_flag(pl.col("ck_u_l") <= pl.col("ck_uln_u_l")).alias("ck_normal"),
    ]
    if ctx.explain:
        doi_label = pl.format("imacs_doi: {} improved ≥ 20 %, {} worsened ≥ 25 %", improved, worsened)
        explain = (
            pl.when(pl.col("is_baseline"))
            .then(None)
            .when(pl.col("_base_day").is_null())
            .then(pl.lit("no baseline assessment for this patient"))
            .when(~follow)
            .then(pl.lit("before baseline: not scored"))
            .otherwise(join_labels([p["label"] for p in parts] + [doi_label]))
        )
        missing = join_labels(
            [pl.when(p["points"].is_null()).then(pl.lit(m.code)) for p, m in zip(parts, MEASURES, strict=True)]
        )
        outputs += [
            explain.alias("tis_explain"),
            pl.when(follow).then(missing).alias("tis_missing"),
        ]
    return frame.select(outputs)


INDEX = IndexDefinition(
    name="myositis-tis",
    forms=("iim",),
    title="2016 ACR/EULAR myositis response (Total Improvement Score), IMACS DOI, CK",
    source="Aggarwal R, Rider LG, Ruperto N, et al. Arthritis Rheumatol 2017;69:898–910.",
    doi="10.1002/art.40064",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    layout="long",
    options=OPTIONS,
    row_check=check_inputs,
    missing_rule=(
        "tis empty when a CSM is missing at the visit or at baseline; tis_response and imacs_doi "
        "are given when the known CSMs already decide them; a baseline of 0 scores 0 points "
        "(percent undefined); missing='absent' does not apply (all CSMs are measurements)"
    ),
)
