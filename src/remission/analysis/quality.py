"""Data-quality checks that raise queries, as an EDC does: pure functions over the stored tables.

Each check reads record tables (polars frames with the store's columns) and returns one
:class:`~remission.model.queries.RaisedQuery` per record that breaks a rule. Nothing here changes a
record: a query asks the site to confirm or correct the source; scoring keeps reading the source as
it is (decisions in ``docs/decisions/quality.md``).

The rules are data, in two tables a protocol can replace:

- :data:`ITEM_LAB_RULES`: a form item against the nearest laboratory value (SLEDAI-2K items
  against their own definitions' thresholds, Gladman 2002; CK on the myositis form).
- :data:`LAB_GRADE_RULES`: an adverse event's grade against the CTCAE v5.0 grade of the worst
  (nadir) laboratory value during the event.

plus two fixed rules: :data:`DATES_OUT_OF_ORDER` (an end before its start) and
:data:`VISIT_AFTER_DEATH` (an assessment dated after the patient's death).

Inputs (the store's columns, as :func:`remission.store.read_table` and
:func:`remission.store.assessment_table` give them):

- ``assessments``: ``assessment_id``, ``patient_id``, ``day``, ``form``, one column per item code
  (values as text or numbers; empty = not recorded);
- ``labs``: ``patient_id``, ``day``, ``analyte``, ``value``, ``lln``, ``uln``;
- ``adverse_events``: ``id``, ``patient_id``, ``term``, ``grade``, ``onset_day``, ``resolution_day``;
- ``medications``: ``id``, ``patient_id``, ``drug``, ``start_day``, ``stop_day``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from remission.model.queries import RaisedQuery

#: Days before an assessment in which a laboratory value supports (or contradicts) a SLEDAI-2K
#: descriptor: "present at the time of the visit or in the preceding 10 days" (Gladman 2002).
DEFAULT_DAYS_BEFORE = 10
#: Days after an assessment a laboratory value may lie and still count (0: the SLEDAI-2K window
#: ends at the visit; a later value describes a later state).
DEFAULT_DAYS_AFTER = 0

SLEDAI_SOURCE = "SLEDAI-2K descriptor definition (Gladman DD et al., J Rheumatol 2002;29:288-91; specs/sledai2k.md)"
CTCAE_SOURCE = "CTCAE v5.0 (NCI, 27 Nov 2017), Investigations / Blood and lymphatic system disorders"


# --------------------------------------------------------------------------------------------
# Rule tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabCriterion:
    """A laboratory value that is abnormal when ``value <comparison> limit``.

    ``limit`` None: the lab row's own lower (``<``) or upper (``>``) limit of normal.
    """

    analyte: str
    comparison: Literal["<", ">"]
    limit: float | None = None

    def wording(self) -> str:
        bound = ("LLN" if self.comparison == "<" else "ULN") if self.limit is None else f"{self.limit:g}"
        return f"{self.analyte} {self.comparison} {bound}"


@dataclass(frozen=True)
class ItemLabRule:
    """A form item that should agree with the nearest laboratory value(s).

    The item is *present* when it is 1 (a 0/1 descriptor) or, with ``item_limit``, when its
    numeric value is above ``item_limit`` (a number, or the name of the form item holding it).
    The laboratory state is *abnormal* when any criterion's nearest value meets it, *normal* when
    every criterion has a nearest value and none meets it, unknown otherwise (no query).
    ``query_present``: query a present item with normal labs; ``query_absent``: query an absent
    item with abnormal labs (off where the item may rest on other evidence, e.g. EMG).
    """

    rule: str
    form: str
    item: str
    criteria: tuple[LabCriterion, ...]
    source: str
    item_limit: float | str | None = None
    query_present: bool = True
    query_absent: bool = True


def _sledai(item: str, *criteria: LabCriterion, query_absent: bool = True) -> ItemLabRule:
    return ItemLabRule(f"sledai2k_{item}_vs_lab", "sle", item, criteria, SLEDAI_SOURCE, query_absent=query_absent)


#: Form items against the laboratory: SLEDAI-2K descriptors with their definitions' thresholds
#: (specs/sledai2k.md) and the myositis form's CK against the laboratory's CK.
ITEM_LAB_RULES: tuple[ItemLabRule, ...] = (
    _sledai("proteinuria", LabCriterion("proteinuria_g_24h", ">", 0.5)),
    _sledai("hematuria", LabCriterion("urine_rbc_hpf", ">", 5.0)),
    _sledai("pyuria", LabCriterion("urine_wbc_hpf", ">", 5.0)),
    _sledai("thrombocytopenia", LabCriterion("platelets_10e9_l", "<", 100.0)),
    _sledai("leukopenia", LabCriterion("wbc_10e9_l", "<", 3.0)),
    _sledai("low_complement", LabCriterion("c3_g_l", "<"), LabCriterion("c4_g_l", "<")),
    _sledai("increased_dna_binding", LabCriterion("anti_dsdna_iu_ml", ">")),
    # "proximal muscle aching/weakness with elevated CK/aldolase, or EMG changes, or biopsy":
    # a present item needs evidence; an elevated CK alone does not make it present.
    _sledai("myositis", LabCriterion("ck_u_l", ">"), query_absent=False),
    ItemLabRule(
        "myositis_form_ck_vs_lab",
        "iim",
        "ck_u_l",
        (LabCriterion("ck_u_l", ">"),),
        "myositis form CK above its ULN vs the laboratory CK above its ULN (source data verification)",
        item_limit="ck_uln_u_l",
    ),
)


@dataclass(frozen=True)
class LabGradeRule:
    """An adverse event graded from the laboratory: the CTCAE grade of the nadir value.

    ``bands`` are (grade, limit): the value is at least ``grade`` when below ``limit`` (None: the
    lab row's LLN); ``scale`` converts the stored unit to the one of the limits. A recorded grade
    above ``max_lab_grade`` (e.g. anaemia grade 4, "life-threatening") rests on clinical criteria
    and is not queried when the laboratory reaches ``max_lab_grade``. ``presence_only``: the
    grade is not derived (no CTCAE term), only whether the value was abnormal at all.
    """

    rule: str
    terms: tuple[str, ...]
    analyte: str
    bands: tuple[tuple[int, float | None], ...]
    source: str
    unit: str
    scale: float = 1.0
    max_lab_grade: int = 4
    presence_only: bool = False


#: CTCAE v5.0 grades of the laboratory adverse events (lower limits per grade, SI units).
LAB_GRADE_RULES: tuple[LabGradeRule, ...] = (
    LabGradeRule(
        "ctcae_neutrophil_count_decreased",
        ("neutropenia", "neutrophil count decreased", "febrile neutropenia"),
        "anc_10e9_l",
        ((1, None), (2, 1.5), (3, 1.0), (4, 0.5)),
        CTCAE_SOURCE + ": Neutrophil count decreased (<LLN-1.5; <1.5-1.0; <1.0-0.5; <0.5 x10^9/L)",
        "10^9/L",
    ),
    LabGradeRule(
        "ctcae_platelet_count_decreased",
        ("thrombocytopenia", "platelet count decreased"),
        "platelets_10e9_l",
        ((1, None), (2, 75.0), (3, 50.0), (4, 25.0)),
        CTCAE_SOURCE + ": Platelet count decreased (<LLN-75; <75-50; <50-25; <25 x10^9/L)",
        "10^9/L",
    ),
    LabGradeRule(
        "ctcae_anemia",
        ("anaemia", "anemia", "hemoglobin decreased"),
        "hemoglobin_g_l",
        ((1, None), (2, 100.0), (3, 80.0)),
        CTCAE_SOURCE + ": Anemia (Hgb <LLN-10.0; <10.0-8.0; <8.0 g/dL; grade 4 life-threatening, clinical)",
        "g/L",
        max_lab_grade=3,
    ),
    LabGradeRule(
        "ctcae_lymphocyte_count_decreased",
        ("lymphopenia", "lymphocyte count decreased"),
        "lymphocytes_10e9_l",
        ((1, None), (2, 0.8), (3, 0.5), (4, 0.2)),
        CTCAE_SOURCE + ": Lymphocyte count decreased (<LLN-0.8; <0.8-0.5; <0.5-0.2; <0.2 x10^9/L)",
        "10^9/L",
    ),
    LabGradeRule(
        "igg_hypogammaglobulinemia",
        ("hypogammaglobulinaemia", "hypogammaglobulinemia", "blood immunoglobulin g decreased"),
        "igg_g_l",
        ((1, None),),
        "CTCAE v5.0 has no hypogammaglobulinaemia term; protocol definition IgG < LLN (specs/safety.md)",
        "g/L",
        presence_only=True,
    ),
)

DATES_OUT_OF_ORDER = "dates_out_of_order"
VISIT_AFTER_DEATH = "visit_after_death"
#: Source of the fixed rules (they need no table).
FIXED_RULE_SOURCES = {
    DATES_OUT_OF_ORDER: "an end cannot precede its start (CDISC SDTM: --ENDTC on or after --STDTC)",
    VISIT_AFTER_DEATH: "no assessment after death (death = an adverse event of grade 5, CTCAE v5.0 grade 5)",
}


def rule_sources() -> dict[str, str]:
    """Every rule's name with its source, for the report and the docs.

    >>> rule_sources()["ctcae_anemia"].startswith("CTCAE v5.0")
    True
    """
    found = {r.rule: r.source for r in ITEM_LAB_RULES}
    found |= {r.rule: r.source for r in LAB_GRADE_RULES}
    return found | FIXED_RULE_SOURCES


# --------------------------------------------------------------------------------------------
# Laboratory look-ups
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabValue:
    day: int
    value: float
    lln: float | None
    uln: float | None


class LabIndex:
    """The laboratory values of each (patient, analyte), sorted by day, for window look-ups."""

    def __init__(self, labs: pl.DataFrame) -> None:
        self._series: dict[tuple[str, str], list[LabValue]] = {}
        if labs.is_empty():
            return
        columns = ["patient_id", "analyte", "day", "value", "lln", "uln"]
        for patient, analyte, day, value, lln, uln in labs.select(columns).sort("day").iter_rows():
            if value is not None and day is not None:
                self._series.setdefault((patient, analyte), []).append(LabValue(day, value, lln, uln))
        self._days = {key: [v.day for v in series] for key, series in self._series.items()}

    def between(self, patient_id: str, analyte: str, first: int, last: int) -> list[LabValue]:
        """Values with ``first <= day <= last``, in day order."""
        key = (patient_id, analyte)
        if key not in self._series:
            return []
        days = self._days[key]
        return self._series[key][bisect.bisect_left(days, first) : bisect.bisect_right(days, last)]

    def nearest(self, patient_id: str, analyte: str, day: int, before: int, after: int) -> LabValue | None:
        """The value closest to ``day`` within ``[day - before, day + after]``; of two equally
        close, the earlier (it was known at the visit)."""
        values = self.between(patient_id, analyte, day - before, day + after)
        return min(values, key=lambda v: (abs(v.day - day), v.day), default=None)


def is_abnormal(criterion: LabCriterion, lab: LabValue) -> bool | None:
    """Whether ``lab`` meets ``criterion``; None when the limit is the lab's own and it has none.

    >>> is_abnormal(LabCriterion("proteinuria_g_24h", ">", 0.5), LabValue(0, 0.5, None, None))
    False
    >>> is_abnormal(LabCriterion("c3_g_l", "<"), LabValue(0, 0.89, 0.9, 1.8))
    True
    """
    limit = criterion.limit
    if limit is None:
        limit = lab.lln if criterion.comparison == "<" else lab.uln
    if limit is None:
        return None
    return lab.value < limit if criterion.comparison == "<" else lab.value > limit


# --------------------------------------------------------------------------------------------
# Check 1: form item vs the nearest laboratory value
# --------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def item_present(rule: ItemLabRule, row: Mapping[str, Any]) -> bool | None:
    """Whether the rule's item is present on an assessment row; None when not recorded.

    >>> rule = ITEM_LAB_RULES[0]
    >>> item_present(rule, {"proteinuria": "1"}), item_present(rule, {"proteinuria": "0"}), item_present(rule, {})
    (True, False, None)
    """
    value = _number(row.get(rule.item))
    if value is None:
        return None
    if rule.item_limit is None:
        return value == 1
    limit = rule.item_limit if isinstance(rule.item_limit, float) else _number(row.get(rule.item_limit))
    return None if limit is None else value > limit


def _lab_state(
    rule: ItemLabRule, labs: LabIndex, patient_id: str, day: int, before: int, after: int
) -> tuple[bool | None, dict[str, Any]]:
    """(abnormal?, what was found) for the rule's criteria around ``day``."""
    found: dict[str, Any] = {}
    verdicts: list[bool | None] = []
    for criterion in rule.criteria:
        lab = labs.nearest(patient_id, criterion.analyte, day, before, after)
        verdict = None if lab is None else is_abnormal(criterion, lab)
        verdicts.append(verdict)
        if lab is not None:
            limit = (
                criterion.limit
                if criterion.limit is not None
                else (lab.lln if criterion.comparison == "<" else lab.uln)
            )
            found[criterion.analyte] = {"value": lab.value, "day": lab.day, "limit": limit}
    if any(v is True for v in verdicts):
        return True, found
    if verdicts and all(v is False for v in verdicts):
        return False, found
    return None, found


def check_form_vs_lab(
    assessments: pl.DataFrame,
    labs: pl.DataFrame,
    *,
    rules: Sequence[ItemLabRule] = ITEM_LAB_RULES,
    days_before: int = DEFAULT_DAYS_BEFORE,
    days_after: int = DEFAULT_DAYS_AFTER,
) -> list[RaisedQuery]:
    """Queries for form items that contradict the nearest laboratory value.

    Rule source: each :class:`ItemLabRule` of ``rules`` (default :data:`ITEM_LAB_RULES`: the
    SLEDAI-2K descriptor thresholds of Gladman 2002, the myositis form's CK against the lab).
    The nearest value lies within ``[day - days_before, day + days_after]`` (default the
    SLEDAI-2K window: the visit and the 10 days before it); of two equally close, the earlier.
    A present item with normal labs, or an absent item with abnormal labs, is a query; an item
    not recorded, or labs missing in the window, raise none (missing is not a finding).

    Examples
    --------
    >>> visits = pl.DataFrame({"assessment_id": [1], "patient_id": ["P"], "day": [30], "form": ["sle"],
    ...                        "proteinuria": ["0"]})
    >>> labs = pl.DataFrame({"patient_id": ["P"], "day": [28], "analyte": ["proteinuria_g_24h"],
    ...                      "value": [1.32], "lln": [None], "uln": [0.15]})
    >>> [q.message for q in check_form_vs_lab(visits, labs)]
    ['proteinuria recorded absent on day 30, but proteinuria_g_24h = 1.32 on day 28 (proteinuria_g_24h > 0.5)']
    """
    if assessments.is_empty():
        return []
    index = LabIndex(labs)
    queries: list[RaisedQuery] = []
    for rule in rules:
        if rule.item not in assessments.columns:
            continue
        rows = assessments.filter(pl.col("form") == rule.form)
        for row in rows.iter_rows(named=True):
            query = _item_query(rule, row, index, days_before, days_after)
            if query is not None:
                queries.append(query)
    return queries


def _item_query(
    rule: ItemLabRule, row: Mapping[str, Any], labs: LabIndex, before: int, after: int
) -> RaisedQuery | None:
    present = item_present(rule, row)
    if present is None:
        return None
    abnormal, found = _lab_state(rule, labs, row["patient_id"], row["day"], before, after)
    if abnormal is None or present == abnormal:
        return None
    if (present and not rule.query_present) or (not present and not rule.query_absent):
        return None
    wording = " or ".join(c.wording() for c in rule.criteria)
    labs_text = ", ".join(f"{a} = {f['value']:g} on day {f['day']}" for a, f in found.items())
    if present:
        message = f"{rule.item} recorded present on day {row['day']}, but {labs_text} does not meet {wording}"
    else:
        message = f"{rule.item} recorded absent on day {row['day']}, but {labs_text} ({wording})"
    values = {"item": rule.item, "item_value": row.get(rule.item), "day": row["day"], "labs": found}
    return RaisedQuery(row["patient_id"], "assessments", int(row["assessment_id"]), rule.rule, message, values)


# --------------------------------------------------------------------------------------------
# Check 2: adverse-event grade vs the CTCAE grade of the nadir laboratory value
# --------------------------------------------------------------------------------------------


def grade_from_lab(rule: LabGradeRule, value: float, lln: float | None) -> int | None:
    """The CTCAE grade of one laboratory value (0 = not below the grade-1 limit); None when the
    grade depends on an LLN the lab row lacks and no higher band applies.

    >>> neutropenia = LAB_GRADE_RULES[0]
    >>> [grade_from_lab(neutropenia, v, 1.8) for v in (1.8, 1.79, 1.5, 1.49, 0.5, 0.49)]
    [0, 1, 1, 2, 3, 4]
    """
    scaled = value * rule.scale
    grade: int | None = 0
    for band, limit in rule.bands:
        if limit is None:
            if lln is None:
                grade = None
            elif scaled < lln * rule.scale:
                grade = band
        elif scaled < limit:
            grade = band
    return grade


def _event_window(event: Mapping[str, Any]) -> tuple[int, int]:
    """Onset to resolution (an unresolved event: onset onwards)."""
    onset = int(event["onset_day"])
    resolution = event.get("resolution_day")
    return onset, int(resolution) if resolution is not None and resolution >= onset else 10**6


def check_ae_grade_vs_lab(
    adverse_events: pl.DataFrame, labs: pl.DataFrame, *, rules: Sequence[LabGradeRule] = LAB_GRADE_RULES
) -> list[RaisedQuery]:
    """Queries for adverse events whose recorded grade differs from the CTCAE grade of the nadir
    laboratory value between onset and resolution.

    Rule source: each :class:`LabGradeRule` of ``rules`` (default :data:`LAB_GRADE_RULES`, the
    CTCAE v5.0 grade limits). An event without a laboratory value in its period raises none; a
    grade 5 (death) is never queried; a recorded grade above ``max_lab_grade`` is not queried
    when the laboratory reaches ``max_lab_grade``.

    Examples
    --------
    >>> ae = pl.DataFrame({"id": [7], "patient_id": ["P"], "term": ["neutropenia"], "grade": [3],
    ...                    "onset_day": [3], "resolution_day": [8]})
    >>> labs = pl.DataFrame({"patient_id": ["P", "P"], "day": [4, 9], "analyte": ["anc_10e9_l"] * 2,
    ...                      "value": [0.31, 0.1], "lln": [1.8, 1.8], "uln": [7.5, 7.5]})
    >>> [(q.values["recorded_grade"], q.values["lab_grade"]) for q in check_ae_grade_vs_lab(ae, labs)]
    [(3, 4)]
    """
    if adverse_events.is_empty():
        return []
    index = LabIndex(labs)
    by_term = {term: rule for rule in rules for term in rule.terms}
    queries: list[RaisedQuery] = []
    for event in adverse_events.iter_rows(named=True):
        rule = by_term.get(str(event["term"]).strip().lower())
        if rule is None:
            continue
        query = _grade_query(rule, event, index)
        if query is not None:
            queries.append(query)
    return queries


def _grade_query(rule: LabGradeRule, event: Mapping[str, Any], labs: LabIndex) -> RaisedQuery | None:
    first, last = _event_window(event)
    values = labs.between(event["patient_id"], rule.analyte, first, last)
    if not values:
        return None
    nadir = min(values, key=lambda v: (v.value, v.day))
    derived = grade_from_lab(rule, nadir.value, nadir.lln)
    recorded = int(event["grade"])
    if derived is None or recorded == 5 or _agrees(rule, recorded, derived):
        return None
    detail = {
        "term": event["term"],
        "recorded_grade": recorded,
        "lab_grade": derived,
        "analyte": rule.analyte,
        "nadir": nadir.value,
        "nadir_day": nadir.day,
        "lln": nadir.lln,
    }
    where = f"nadir {rule.analyte} {nadir.value:g} {rule.unit} on day {nadir.day}"
    if rule.presence_only:
        message = f"{event['term']} recorded, but {where} is not below the LLN ({nadir.lln})"
    else:
        message = f"{event['term']} recorded grade {recorded}, but {where} is CTCAE grade {derived}"
    return RaisedQuery(event["patient_id"], "adverse_events", int(event["id"]), rule.rule, message, detail)


def _agrees(rule: LabGradeRule, recorded: int, derived: int) -> bool:
    if rule.presence_only:
        return derived >= 1
    return recorded == derived or (recorded > rule.max_lab_grade and derived == rule.max_lab_grade)


# --------------------------------------------------------------------------------------------
# Check 3: dates out of order; check 4: visits after death
# --------------------------------------------------------------------------------------------


def _ends_before_starts(
    frame: pl.DataFrame, record_type: str, label: str, start: str, end: str, what: str
) -> Iterator[RaisedQuery]:
    if frame.is_empty() or end not in frame.columns:
        return
    rows = frame.filter(pl.col(end).is_not_null() & pl.col(start).is_not_null() & (pl.col(end) < pl.col(start)))
    for row in rows.iter_rows(named=True):
        message = f"{row[label]}: {what} day {row[end]} is before {start.removesuffix('_day')} day {row[start]}"
        values = {label: row[label], start: row[start], end: row[end]}
        yield RaisedQuery(row["patient_id"], record_type, int(row["id"]), DATES_OUT_OF_ORDER, message, values)


def check_dates_in_order(adverse_events: pl.DataFrame, medications: pl.DataFrame) -> list[RaisedQuery]:
    """Queries for an adverse event resolved before its onset and a medication stopped before it
    started (days relative to the infusion; both are stored from dates, so days order as dates).

    Rule source: :data:`FIXED_RULE_SOURCES` ``dates_out_of_order`` (SDTM: an end date is on or
    after its start date). The same day is in order.

    Examples
    --------
    >>> ae = pl.DataFrame({"id": [1, 2], "patient_id": ["P", "P"], "term": ["rash", "fever"],
    ...                    "onset_day": [10, 10], "resolution_day": [9, 10]})
    >>> [q.message for q in check_dates_in_order(ae, pl.DataFrame())]
    ['rash: resolution day 9 is before onset day 10']
    """
    found = list(
        _ends_before_starts(adverse_events, "adverse_events", "term", "onset_day", "resolution_day", "resolution")
    )
    found += _ends_before_starts(medications, "medications", "drug", "start_day", "stop_day", "stop")
    return found


def death_days(adverse_events: pl.DataFrame) -> dict[str, int]:
    """Each patient's day of death: the earliest onset of a grade-5 adverse event.

    >>> death_days(pl.DataFrame({"patient_id": ["P", "P", "Q"], "grade": [5, 5, 3], "onset_day": [90, 80, 5]}))
    {'P': 80}
    """
    if adverse_events.is_empty():
        return {}
    dead = adverse_events.filter(pl.col("grade") == 5).group_by("patient_id").agg(pl.col("onset_day").min())
    return dict(dead.sort("patient_id").iter_rows())


def check_visits_after_death(assessments: pl.DataFrame, adverse_events: pl.DataFrame) -> list[RaisedQuery]:
    """Queries for assessments dated after the patient's death (the day of death itself is not
    "after": a visit on that day may record the fatal event).

    Rule source: :data:`FIXED_RULE_SOURCES` ``visit_after_death``.

    Examples
    --------
    >>> visits = pl.DataFrame({"assessment_id": [1, 2], "patient_id": ["P", "P"], "day": [80, 81],
    ...                        "visit": ["month 3", "month 3b"]})
    >>> ae = pl.DataFrame({"patient_id": ["P"], "grade": [5], "onset_day": [80]})
    >>> [q.record_id for q in check_visits_after_death(visits, ae)]
    [2]
    """
    deaths = death_days(adverse_events)
    if not deaths or assessments.is_empty():
        return []
    queries = []
    for row in assessments.iter_rows(named=True):
        death = deaths.get(row["patient_id"])
        if death is None or row["day"] <= death:
            continue
        visit = row.get("visit") or "assessment"
        message = f"{visit} on day {row['day']} is after death on day {death}"
        values = {"day": row["day"], "death_day": death, "visit": row.get("visit")}
        queries.append(
            RaisedQuery(row["patient_id"], "assessments", int(row["assessment_id"]), VISIT_AFTER_DEATH, message, values)
        )
    return queries


# --------------------------------------------------------------------------------------------
# All checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityTables:
    """The record tables the checks read (empty frames where a table has no rows)."""

    assessments: pl.DataFrame
    labs: pl.DataFrame
    adverse_events: pl.DataFrame
    medications: pl.DataFrame


def run_checks(
    tables: QualityTables,
    *,
    days_before: int = DEFAULT_DAYS_BEFORE,
    days_after: int = DEFAULT_DAYS_AFTER,
    item_rules: Sequence[ItemLabRule] = ITEM_LAB_RULES,
    grade_rules: Sequence[LabGradeRule] = LAB_GRADE_RULES,
) -> list[RaisedQuery]:
    """Every check over ``tables``, queries sorted by patient, rule and record."""
    found: Iterable[RaisedQuery] = [
        *check_form_vs_lab(
            tables.assessments, tables.labs, rules=item_rules, days_before=days_before, days_after=days_after
        ),
        *check_ae_grade_vs_lab(tables.adverse_events, tables.labs, rules=grade_rules),
        *check_dates_in_order(tables.adverse_events, tables.medications),
        *check_visits_after_death(tables.assessments, tables.adverse_events),
    ]
    return sorted(found, key=lambda q: (q.patient_id, q.rule, q.record_type, q.record_id))


def checked_rules(
    item_rules: Sequence[ItemLabRule] = ITEM_LAB_RULES, grade_rules: Sequence[LabGradeRule] = LAB_GRADE_RULES
) -> tuple[str, ...]:
    """The rule names a :func:`run_checks` call with these tables evaluates (a stored query of
    another rule is left alone when the checks run again)."""
    return (*(r.rule for r in item_rules), *(r.rule for r in grade_rules), DATES_OUT_OF_ORDER, VISIT_AFTER_DEATH)
