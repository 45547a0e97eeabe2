"""BILAG-2004 — domain grades, numeric score and data-driven item-level grading.

Sources: Isenberg DA, Rahman A, Allen E, et al. BILAG 2004. Development and initial validation
of an updated version of the British Isles Lupus Assessment Group's disease activity index for
patients with systemic lupus erythematosus. Rheumatology 2005;44:902–6
(doi:10.1093/rheumatology/keh624). Yee CS, et al. Arthritis Rheum 2007;56:4113–9. Numeric
conversion A = 12, B = 8, C = 1, D = E = 0: Yee CS, Cresswell L, Farewell V, et al. Numerical
scoring for the BILAG-2004 index. Rheumatology 2010;49:1665–9 (doi:10.1093/rheumatology/keq026).

Nine domain grades ``bilag_<domain>`` (A–E, case-insensitive) are the input the clinician
enters; they always win. Where a domain's grade is empty, it is computed from the form's items
(``bilag_item_NN``, scored 0 not present, 1 improving, 2 same, 3 worse, 4 new, ND not done) by
the rules of :data:`RULES` (draft rules of bilag2004-grading.md; see docs/decisions/sle.md).
A domain's computed grade is the highest grade any of its rules reaches. The haematological
rules are unverified and apply only with option ``unverified_rules``.

Renal (items 78–89) is graded from measurements with their units in the codes
(:data:`RENAL_COLUMNS`: ``bilag_creatinine_umol_l``, ``bilag_upcr_mg_mmol``,
``bilag_uacr_mg_mmol``, ``bilag_urine_protein_g_24h``, ``bilag_egfr_ml_min``, blood pressure,
dipstick, yes/no items) compared with the previous assessment's values, given as the same code
with ``_prev`` (:data:`RENAL_PREV_COLUMNS`, e.g. ``bilag_creatinine_umol_l_prev``). Criteria
c1–c6 (:data:`RENAL_CRITERIA`) are data; A = ≥ 2 criteria, one of them c1, c4 or c5; B = any
criterion or moderate proteinuria / creatinine rise; C = mild proteinuria or rising BP. An
empty previous value makes a rule empty only when the answer depends on it.

Examples
--------
>>> r = score_visit({**NOT_ACTIVE_REST, "bilag_renal": "A", "bilag_musculoskeletal": "b"})
>>> r["bilag2004_numeric"], r["bilag2004_a_count"], r["bilag2004_b_count"]
(20, 1, 1)
>>> r["bilag2004_explain"]
'musculoskeletal=8; renal=12'
>>> items = {"bilag_constitutional": None, "bilag_item_01": 3, "bilag_item_02": 2,
...          "bilag_item_04": 4}
>>> score_visit({**NOT_ACTIVE_REST, "bilag_renal": "D", **items})["bilag2004_explain"]
'constitutional=12 (computed: A)'
>>> renal = {"bilag_renal": None, "bilag_upcr_mg_mmol": 150.0, "bilag_upcr_mg_mmol_prev": 120.0,
...          "bilag_active_sediment": 1, "bilag_accelerated_hypertension": 0,
...          "bilag_nephrotic_syndrome": 0, "bilag_nephritis_histology": 0,
...          "bilag_creatinine_umol_l": 70.0, "bilag_egfr_ml_min": 110.0}
>>> score_visit({**NOT_ACTIVE_REST, **renal})["bilag2004_explain"]
'renal=12 (computed: A; criteria c1, c4)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import polars as pl

from remission.indices._base import (
    Column,
    Context,
    IndexDefinition,
    MissingRule,
    Option,
    ScalarResult,
    join_labels,
    validate_record,
)
from remission.indices._sle import all3, any3

GRADES = ("A", "B", "C", "D", "E")
#: Numeric conversion of Yee 2010.
NUMERIC: dict[str, int] = {"A": 12, "B": 8, "C": 1, "D": 0, "E": 0}
#: Version of the item-level rules (bilag2004-grading.md, form revision of 1 Sep 2009), recorded
#: with every computed grade; at most 32 characters (``scores.rule_version``).
RULES_VERSION = "draft-2 (form 2009-09-01)"

ACTIVE = frozenset({2, 3, 4})
IMPROVING = frozenset({1})
SCORED = frozenset({1, 2, 3, 4})


@dataclass(frozen=True)
class Domain:
    """A BILAG-2004 organ domain: grade column, short name, form items and rule confidence."""

    code: str
    name: str
    items: tuple[int, ...]
    confidence: str


DOMAIN_TABLE: tuple[Domain, ...] = (
    Domain("bilag_constitutional", "constitutional", tuple(range(1, 5)), "moderate"),
    Domain("bilag_mucocutaneous", "mucocutaneous", tuple(range(5, 19)), "moderate"),
    Domain("bilag_neuropsychiatric", "neuropsychiatric", tuple(range(19, 39)), "moderate"),
    Domain("bilag_musculoskeletal", "musculoskeletal", tuple(range(39, 44)), "moderate"),
    Domain("bilag_cardiorespiratory", "cardiorespiratory", tuple(range(44, 56)), "moderate"),
    Domain("bilag_gastrointestinal", "gastrointestinal", tuple(range(56, 65)), "moderate–high"),
    Domain("bilag_ophthalmic", "ophthalmic", tuple(range(65, 78)), "moderate–high"),
    Domain("bilag_renal", "renal", (), "moderate–high"),
    Domain("bilag_haematological", "haematological", (95,), "low, unverified"),
)
DOMAINS: tuple[str, ...] = tuple(d.code for d in DOMAIN_TABLE)
DOMAIN_COLUMNS: tuple[Column, ...] = tuple(
    Column(d.code, "category", f"BILAG-2004 {d.name} grade", choices=GRADES, case="upper") for d in DOMAIN_TABLE
)

#: Form items 1–77 and 95 (scored 0–4/ND), names of the BILAG-2004 form (revision 1 Sep 2009).
ITEM_NAMES: dict[int, str] = {
    1: "pyrexia > 37.5 °C",
    2: "weight loss > 5 %",
    3: "lymphadenopathy/splenomegaly",
    4: "anorexia",
    5: "skin eruption - severe",
    6: "skin eruption - mild",
    7: "angio-oedema - severe",
    8: "angio-oedema - mild",
    9: "mucosal ulceration - severe",
    10: "mucosal ulceration - mild",
    11: "panniculitis/bullous lupus - severe",
    12: "panniculitis/bullous lupus - mild",
    13: "major cutaneous vasculitis/thrombosis",
    14: "digital infarcts or nodular vasculitis",
    15: "alopecia - severe",
    16: "alopecia - mild",
    17: "peri-ungual erythema/chilblains",
    18: "splinter haemorrhages",
    19: "aseptic meningitis",
    20: "cerebral vasculitis",
    21: "demyelinating syndrome",
    22: "myelopathy",
    23: "acute confusional state",
    24: "psychosis",
    25: "acute inflammatory demyelinating polyradiculoneuropathy",
    26: "mononeuropathy",
    27: "cranial neuropathy",
    28: "plexopathy",
    29: "polyneuropathy",
    30: "seizure disorder",
    31: "status epilepticus",
    32: "cerebrovascular disease (not vasculitis)",
    33: "cognitive dysfunction",
    34: "movement disorder",
    35: "autonomic disorder",
    36: "cerebellar ataxia (isolated)",
    37: "lupus headache - severe unremitting",
    38: "headache from intracranial hypertension",
    39: "myositis - severe",
    40: "myositis - mild",
    41: "arthritis (severe)",
    42: "arthritis (moderate)/tendonitis/tenosynovitis",
    43: "arthritis (mild)/arthralgia/myalgia",
    44: "myocarditis - mild",
    45: "myocarditis/endocarditis + cardiac failure",
    46: "arrhythmia",
    47: "new valvular dysfunction",
    48: "pleurisy/pericarditis",
    49: "cardiac tamponade",
    50: "pleural effusion with dyspnoea",
    51: "pulmonary haemorrhage/vasculitis",
    52: "interstitial alveolitis/pneumonitis",
    53: "shrinking lung syndrome",
    54: "aortitis",
    55: "coronary vasculitis",
    56: "lupus peritonitis",
    57: "abdominal serositis or ascites",
    58: "lupus enteritis/colitis",
    59: "malabsorption",
    60: "protein losing enteropathy",
    61: "intestinal pseudo-obstruction",
    62: "lupus hepatitis",
    63: "acute lupus cholecystitis",
    64: "acute lupus pancreatitis",
    65: "orbital inflammation/myositis/proptosis",
    66: "keratitis - severe",
    67: "keratitis - mild",
    68: "anterior uveitis",
    69: "posterior uveitis/retinal vasculitis - severe",
    70: "posterior uveitis/retinal vasculitis - mild",
    71: "episcleritis",
    72: "scleritis - severe",
    73: "scleritis - mild",
    74: "retinal/choroidal vaso-occlusive disease",
    75: "isolated cotton-wool spots",
    76: "optic neuritis",
    77: "anterior ischaemic optic neuropathy",
    95: "thrombotic thrombocytopenic purpura",
}
ITEM_CHOICES = ("0", "1", "2", "3", "4", "ND")


def item_code(number: int) -> str:
    """Column code of form item ``number`` (e.g. 5 → ``bilag_item_05``)."""
    return f"bilag_item_{number:02d}"


#: Haematological measurements (form items 90–94) and yes/no items (96, 97).
HAEM_COLUMNS: tuple[Column, ...] = (
    Column("bilag_hb_g_dl", "float", "haemoglobin (item 90), due to SLE", "g/dL", 0, 30),
    Column("bilag_wcc_10e9_l", "float", "white cell count (item 91), due to SLE", "10^9/L", 0, 1000),
    Column("bilag_neutrophils_10e9_l", "float", "neutrophils (item 92), due to SLE", "10^9/L", 0, 1000),
    Column("bilag_lymphocytes_10e9_l", "float", "lymphocytes (item 93), due to SLE", "10^9/L", 0, 1000),
    Column("bilag_platelets_10e9_l", "float", "platelets (item 94), due to SLE", "10^9/L", 0, 5000),
    Column("bilag_haemolysis", "bool", "evidence of active haemolysis (item 96)"),
    Column("bilag_coombs", "bool", "direct Coombs test positive, isolated (item 97)"),
)


#: Renal measurements and yes/no items (form items 78–89) of the current assessment. The units
#: are part of the codes: creatinine µmol/L, UACR/UPCR mg/mmol, urine protein g/24 h.
SBP, DBP = "bilag_systolic_mmhg", "bilag_diastolic_mmhg"
DIPSTICK, UACR, UPCR = "bilag_dipstick_protein", "bilag_uacr_mg_mmol", "bilag_upcr_mg_mmol"
PROTEIN_24H, CREATININE, EGFR = (
    "bilag_urine_protein_g_24h",
    "bilag_creatinine_umol_l",
    "bilag_egfr_ml_min",
)
RENAL_COLUMNS: tuple[Column, ...] = (
    Column(SBP, "float", "systolic blood pressure (item 78)", "mmHg", 0, 400),
    Column(DBP, "float", "diastolic blood pressure (item 79)", "mmHg", 0, 300),
    Column("bilag_accelerated_hypertension", "bool", "accelerated hypertension (item 80)"),
    Column(
        DIPSTICK,
        "int",
        "urine dipstick protein (item 81): 0 negative/trace, 1 = +, 2 = ++, 3 = +++, 4 = ++++",
        "level",
        0,
        4,
    ),
    Column(UACR, "float", "urine albumin:creatinine ratio (item 82)", "mg/mmol", 0, 100000),
    Column(UPCR, "float", "urine protein:creatinine ratio (item 83)", "mg/mmol", 0, 100000),
    Column(PROTEIN_24H, "float", "24-hour urine protein (item 84)", "g/24 h", 0, 100),
    Column("bilag_nephrotic_syndrome", "bool", "nephrotic syndrome (item 85)"),
    Column(CREATININE, "float", "plasma/serum creatinine (item 86)", "µmol/L", 0, 5000),
    Column(EGFR, "float", "GFR, calculated (item 87)", "mL/min/1.73 m²", 0, 300),
    Column("bilag_active_sediment", "bool", "active urinary sediment (item 88)"),
    Column(
        "bilag_nephritis_histology",
        "bool",
        "histological evidence of active nephritis within 3 months (item 89)",
    ),
)
#: Suffix of the previous assessment's value of a measurement (``bilag_creatinine_umol_l_prev``).
PREV = "_prev"
#: The measurements the renal rules compare with the previous assessment.
RENAL_COMPARED = (SBP, DBP, DIPSTICK, UACR, UPCR, PROTEIN_24H, CREATININE, EGFR)
RENAL_PREV_COLUMNS: tuple[Column, ...] = tuple(
    Column(
        c.code + PREV,
        c.kind,
        f"previous assessment: {c.description}",
        c.unit,
        c.minimum,
        c.maximum,
    )
    for c in RENAL_COLUMNS
    if c.code in RENAL_COMPARED
)
#: Quantitative proteinuria measures; the dipstick counts only when none of them is given.
QUANTITATIVE = (PROTEIN_24H, UPCR, UACR)
#: Alternative measures of one quantity: an empty one is "not measured" when another is given.
PROTEINURIA_GROUP = (*QUANTITATIVE, DIPSTICK)
FUNCTION_GROUP = (CREATININE, EGFR)


@dataclass(frozen=True)
class Count:
    """At least ``at_least`` (and at most ``at_most``) of ``items`` are in one of ``states``."""

    items: tuple[int, ...]
    states: frozenset[int]
    at_least: int = 1
    at_most: int | None = None


@dataclass(frozen=True)
class Below:
    """A measurement below a limit (``measure < limit``), or a yes/no item that is yes."""

    measure: str
    limit: float | None = None


Op = Literal[">", ">=", "<"]


@dataclass(frozen=True)
class Measure:
    """A current measurement against a limit (``measure op limit``).

    ``group`` names the alternative measures of the same quantity (24-h protein, UPCR, UACR,
    dipstick): an empty ``measure`` is "not measured" (False) when another of the group is
    given, and unknown when none is.
    """

    measure: str
    op: Op
    limit: float
    group: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """The current value against the previous assessment's: ``current op factor × prev + offset``.

    Compared with a tolerance of 1e-9 (:data:`TOLERANCE`), so that a fall of exactly 25 % or a
    rise to exactly 130 % is met in floating point. Empty when either value is empty.
    """

    measure: str
    op: Op
    factor: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class Previous:
    """The previous assessment's value against a limit; ``if_missing`` answers an empty one."""

    measure: str
    op: Op
    limit: float
    if_missing: bool | None = None


@dataclass(frozen=True)
class NoneGiven:
    """None of ``measures`` is given (e.g. no quantitative proteinuria); never unknown."""

    measures: tuple[str, ...]


@dataclass(frozen=True)
class Criterion:
    """A named criterion (renal c1–c6): met when all conditions of any alternative hold."""

    name: str
    wording: str
    alternatives: tuple[tuple[Condition, ...], ...]


@dataclass(frozen=True)
class Criteria:
    """At least ``at_least`` of ``criteria`` are met (Kleene count, like :class:`Count`)."""

    criteria: tuple[Criterion, ...]
    at_least: int = 1


Condition = Count | Below | Measure | Change | Previous | NoneGiven | Criteria
#: Tolerance of :class:`Change` comparisons (absolute, in the measure's unit).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Rule:
    """One grading rule: the domain reaches ``grade`` when all ``conditions`` hold."""

    domain: str
    grade: str
    conditions: tuple[Condition, ...]
    wording: str
    verified: bool = True


def _any_active(*items: int) -> tuple[Count, ...]:
    return (Count(items, ACTIVE),)


def _any_improving(*items: int) -> tuple[Count, ...]:
    return (Count(items, IMPROVING),)


def _any_scored(*items: int) -> tuple[Count, ...]:
    return (Count(items, SCORED),)


_MUCO_A = (5, 7, 9, 11, 13)
_MUCO_B = (6, 12, 14, 15)
_NEURO_A = (*range(19, 30), 31, 36)
_NEURO_B = (30, 32, 33, 34, 35, 37, 38)
_MSK_A, _MSK_B = (39, 41), (40, 42)
_CARDIO_A, _CARDIO_B = (45, 46, 47, 49, 50, 51, 52, 53, 54, 55), (44, 48)
_GI_A, _GI_B = (56, 58, 61, 63, 64), (57, 59, 60, 62)
_EYE_A, _EYE_B = (65, 66, 69, 72, 74, 76, 77), (67, 68, 70, 73)
_C, _M, _N, _K = (
    "bilag_constitutional",
    "bilag_mucocutaneous",
    "bilag_neuropsychiatric",
    "bilag_musculoskeletal",
)
_R, _G, _O, _H = (
    "bilag_cardiorespiratory",
    "bilag_gastrointestinal",
    "bilag_ophthalmic",
    "bilag_haematological",
)


def _standard(domain: str, a: tuple[int, ...], b: tuple[int, ...], c: tuple[int, ...] = ()) -> tuple[Rule, ...]:
    """The common pattern: A = an A item active; B = an A item improving or a B item active;
    C = a B item improving or a C item scored 1–4."""
    rules = [
        Rule(domain, "A", _any_active(*a), f"active: items {_items(a)}"),
        Rule(domain, "B", _any_improving(*a), f"improving: items {_items(a)}"),
        Rule(domain, "C", _any_improving(*b), f"improving: items {_items(b)}"),
    ]
    if b:
        rules.insert(2, Rule(domain, "B", _any_active(*b), f"active: items {_items(b)}"))
    if c:
        rules.append(Rule(domain, "C", _any_scored(*c), f"scored 1–4: items {_items(c)}"))
    return tuple(rules)


def _items(numbers: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in numbers)


def _not_fallen(measure: str) -> Change:
    """Not fallen by ≥ 25 % from the previous value: current > 0.75 × previous."""
    return Change(measure, ">", 0.75)


def _protein(measure: str, op: Op, limit: float) -> Measure:
    return Measure(measure, op, limit, PROTEINURIA_GROUP)


_NO_QUANT = NoneGiven(QUANTITATIVE)
_REN = "bilag_renal"
#: Renal criteria c1–c6 (bilag2004-grading.md), compared with the previous assessment.
C1 = Criterion(
    "c1",
    "deteriorating proteinuria",
    (
        (_protein(PROTEIN_24H, ">", 1.0), _not_fallen(PROTEIN_24H)),
        (_protein(UPCR, ">", 100.0), _not_fallen(UPCR)),
        (_protein(UACR, ">", 100.0), _not_fallen(UACR)),
        (_NO_QUANT, _protein(DIPSTICK, ">=", 2.0), Change(DIPSTICK, ">=", 1.0, 2.0)),
    ),
)
C2 = Criterion("c2", "accelerated hypertension", ((Below("bilag_accelerated_hypertension"),),))
C3 = Criterion(
    "c3",
    "deteriorating renal function",
    (
        (Measure(CREATININE, ">", 130.0, FUNCTION_GROUP), Change(CREATININE, ">=", 1.3)),
        (Measure(EGFR, "<", 80.0, FUNCTION_GROUP), Change(EGFR, "<", 0.67)),
        (Measure(EGFR, "<", 50.0, FUNCTION_GROUP), Previous(EGFR, ">", 50.0, if_missing=True)),
    ),
)
C4 = Criterion("c4", "active urinary sediment", ((Below("bilag_active_sediment"),),))
C5 = Criterion(
    "c5",
    "histology of active nephritis within 3 months",
    ((Below("bilag_nephritis_histology"),),),
)
C6 = Criterion("c6", "nephrotic syndrome", ((Below("bilag_nephrotic_syndrome"),),))
RENAL_CRITERIA: tuple[Criterion, ...] = (C1, C2, C3, C4, C5, C6)

_RENAL_RULES: tuple[Rule, ...] = (
    Rule(
        _REN,
        "A",
        (Criteria(RENAL_CRITERIA, 2), Criteria((C1, C4, C5), 1)),
        "≥ 2 criteria, at least one of c1, c4, c5",
    ),
    Rule(_REN, "B", (Criteria(RENAL_CRITERIA, 1),), "any single criterion c1–c6"),
    Rule(
        _REN,
        "B",
        (_protein(PROTEIN_24H, ">=", 0.5), _not_fallen(PROTEIN_24H)),
        "24-h protein ≥ 0.5 g, not fallen ≥ 25 %",
    ),
    Rule(_REN, "B", (_protein(UPCR, ">=", 50.0), _not_fallen(UPCR)), "UPCR ≥ 50, not fallen ≥ 25 %"),
    Rule(_REN, "B", (_protein(UACR, ">=", 50.0), _not_fallen(UACR)), "UACR ≥ 50, not fallen ≥ 25 %"),
    Rule(
        _REN,
        "B",
        (_NO_QUANT, _protein(DIPSTICK, ">=", 2.0), Change(DIPSTICK, ">=", 1.0, 1.0)),
        "dipstick risen by 1 level to ≥ 2+ (no quantitative measure)",
    ),
    Rule(
        _REN,
        "B",
        (Measure(CREATININE, ">", 130.0, FUNCTION_GROUP), Change(CREATININE, ">=", 1.15)),
        "creatinine > 130 µmol/L and ≥ 115 % of previous",
    ),
    Rule(_REN, "C", (_protein(PROTEIN_24H, ">", 0.25),), "24-h protein > 0.25 g"),
    Rule(_REN, "C", (_protein(UPCR, ">", 25.0),), "UPCR > 25 mg/mmol"),
    Rule(_REN, "C", (_protein(UACR, ">", 25.0),), "UACR > 25 mg/mmol"),
    Rule(
        _REN,
        "C",
        (_NO_QUANT, _protein(DIPSTICK, ">=", 1.0)),
        "dipstick ≥ 1+ (no quantitative measure)",
    ),
    Rule(
        _REN,
        "C",
        (
            Measure(SBP, ">", 140.0),
            Measure(DBP, ">", 90.0),
            Change(SBP, ">=", 1.0, 30.0),
            Change(DBP, ">=", 1.0, 15.0),
        ),
        "BP > 140/90 mmHg, risen ≥ 30 systolic and ≥ 15 diastolic",
    ),
)

#: The item-level grading rules, one row per rule (bilag2004-grading.md, draft; confidence per
#: domain in :data:`DOMAIN_TABLE`). Haematological rules are unverified.
RULES: tuple[Rule, ...] = (
    Rule(
        _C,
        "A",
        (Count((1,), ACTIVE), Count((2, 3, 4), ACTIVE, 2)),
        "pyrexia active and ≥ 2 of items 2–4 active",
    ),
    Rule(
        _C,
        "B",
        (Count((1,), ACTIVE), Count((2, 3, 4), ACTIVE, 0, 1)),
        "pyrexia active, < 2 of items 2–4 active",
    ),
    Rule(
        _C,
        "B",
        (Count((1,), ACTIVE, 0, 0), Count((2, 3, 4), ACTIVE, 2)),
        "≥ 2 of items 2–4 active, no pyrexia",
    ),
    Rule(_C, "C", _any_improving(1), "pyrexia improving"),
    Rule(_C, "C", _any_scored(2, 3, 4), "any of items 2–4 scored 1–4"),
    *_standard(_M, _MUCO_A, _MUCO_B, (8, 10, 16, 17, 18)),
    *_standard(_N, _NEURO_A, _NEURO_B),
    *_standard(_K, _MSK_A, _MSK_B, (43,)),
    *_standard(_R, _CARDIO_A, _CARDIO_B),
    *_standard(_G, _GI_A, _GI_B),
    *_standard(_O, _EYE_A, _EYE_B, (71, 75)),
    *_RENAL_RULES,
    Rule(_H, "A", _any_active(95), "TTP active", verified=False),
    Rule(_H, "A", (Below("bilag_hb_g_dl", 8.0),), "Hb < 8 g/dL", verified=False),
    Rule(_H, "A", (Below("bilag_wcc_10e9_l", 1.0),), "WCC < 1.0", verified=False),
    Rule(_H, "A", (Below("bilag_neutrophils_10e9_l", 0.5),), "neutrophils < 0.5", verified=False),
    Rule(_H, "A", (Below("bilag_platelets_10e9_l", 25.0),), "platelets < 25", verified=False),
    Rule(_H, "B", _any_improving(95), "TTP improving", verified=False),
    Rule(_H, "B", (Below("bilag_hb_g_dl", 9.0),), "Hb 8–8.9 g/dL", verified=False),
    Rule(_H, "B", (Below("bilag_wcc_10e9_l", 2.0),), "WCC 1–1.9", verified=False),
    Rule(_H, "B", (Below("bilag_neutrophils_10e9_l", 1.0),), "neutrophils 0.5–0.9", verified=False),
    Rule(_H, "B", (Below("bilag_platelets_10e9_l", 50.0),), "platelets 25–49", verified=False),
    Rule(_H, "C", (Below("bilag_hb_g_dl", 11.0),), "Hb 9–10.9 g/dL", verified=False),
    Rule(_H, "C", (Below("bilag_wcc_10e9_l", 4.0),), "WCC 2–3.9", verified=False),
    Rule(_H, "C", (Below("bilag_neutrophils_10e9_l", 2.0),), "neutrophils 1–1.9", verified=False),
    Rule(_H, "C", (Below("bilag_lymphocytes_10e9_l", 1.0),), "lymphocytes < 1.0", verified=False),
    Rule(_H, "C", (Below("bilag_platelets_10e9_l", 150.0),), "platelets 50–149", verified=False),
    Rule(_H, "C", (Below("bilag_coombs"),), "isolated Coombs positive", verified=False),
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "unverified_rules",
        "bool",
        False,
        "also compute grades with the unverified (haematological) item rules",
    ),
)
ITEM_NUMBERS: tuple[int, ...] = tuple(sorted(ITEM_NAMES))
#: The form's items and measurements: optional in a header (a table of entered grades has none).
FORM_COLUMNS: tuple[Column, ...] = tuple(
    replace(c, optional=True)
    for c in (
        *(
            Column(
                item_code(n),
                "category",
                f"item {n}: {ITEM_NAMES[n]}",
                choices=ITEM_CHOICES,
                case="upper",
            )
            for n in ITEM_NUMBERS
        ),
        *HAEM_COLUMNS,
        *RENAL_COLUMNS,
        *RENAL_PREV_COLUMNS,
    )
)
#: Header contract: a domain grade column may be absent when the header has the form's items
#: (the grade is then computed from them).
COLUMNS: tuple[Column, ...] = (
    *(replace(c, unless=tuple(f.code for f in FORM_COLUMNS)) for c in DOMAIN_COLUMNS),
    *FORM_COLUMNS,
)
OUTPUTS = (
    "bilag2004_numeric",
    "bilag2004_a_count",
    "bilag2004_b_count",
    "bilag2004_explain",
    "bilag2004_missing",
)

#: Every domain graded E (never involved), for examples and tests.
NOT_ACTIVE_REST: dict[str, str | None] = {d: "E" for d in DOMAINS}


def _rules(options: Mapping[str, Any]) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.verified or options.get("unverified_rules", False))


def _graded_domains(options: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(r.domain for r in _rules(options))


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _state(value: Any) -> int | None:
    return None if value is None or value == "ND" else int(value)


def _compare(value: float, op: Op, limit: float) -> bool:
    if op == ">":
        return value > limit
    if op == ">=":
        return value >= limit
    return value < limit


def _difference_meets(diff: float, op: Op) -> bool:
    """``current op reference`` from ``diff = current - reference``, within :data:`TOLERANCE`."""
    if op == ">":
        return diff > TOLERANCE
    if op == ">=":
        return diff >= -TOLERANCE
    return diff < -TOLERANCE


def _kleene_count(hits: int, unknown: int, at_least: int, at_most: int) -> bool | None:
    if hits >= at_least and hits + unknown <= at_most:
        return True
    if hits + unknown < at_least or hits > at_most:
        return False
    return None


def _criterion(criterion: Criterion, values: Mapping[str, Any]) -> bool | None:
    return any3(all3(_condition(c, values) for c in alt) for alt in criterion.alternatives)


def _measure_condition(cond: Condition, values: Mapping[str, Any]) -> bool | None:
    """The renal condition kinds (Measure, Change, Previous, NoneGiven, Criteria)."""
    if isinstance(cond, Measure):
        value = values[cond.measure]
        if value is None:
            given = any(values[m] is not None for m in cond.group if m != cond.measure)
            return False if given else None
        return _compare(value, cond.op, cond.limit)
    if isinstance(cond, Change):
        current, previous = values[cond.measure], values[cond.measure + PREV]
        if current is None or previous is None:
            return None
        return _difference_meets(current - (cond.factor * previous + cond.offset), cond.op)
    if isinstance(cond, Previous):
        previous = values[cond.measure + PREV]
        return cond.if_missing if previous is None else _compare(previous, cond.op, cond.limit)
    if isinstance(cond, NoneGiven):
        return all(values[m] is None for m in cond.measures)
    assert isinstance(cond, Criteria)
    met = [_criterion(c, values) for c in cond.criteria]
    hits = sum(1 for m in met if m)
    return _kleene_count(hits, met.count(None), cond.at_least, len(met))


def _condition(cond: Condition, values: Mapping[str, Any]) -> bool | None:
    if not isinstance(cond, Count | Below):
        return _measure_condition(cond, values)
    if isinstance(cond, Below):
        value = values[cond.measure]
        if value is None:
            return None
        return bool(value) if cond.limit is None else value < cond.limit
    states = [_state(values[item_code(i)]) for i in cond.items]
    hits = sum(1 for s in states if s is not None and s in cond.states)
    unknown = sum(1 for s in states if s is None)
    high = cond.at_most if cond.at_most is not None else len(states)
    return _kleene_count(hits, unknown, cond.at_least, high)


def _reached(domain: str, values: Mapping[str, Any], rules: tuple[Rule, ...]) -> dict[str, bool | None]:
    entered = values[domain]
    if entered is not None:
        return {g: GRADES.index(entered) <= GRADES.index(g) for g in ("A", "B", "C")}
    if domain not in {r.domain for r in rules}:
        return dict.fromkeys(("A", "B", "C"))
    return {
        g: any3(all3(_condition(c, values) for c in r.conditions) for r in rules if r.domain == domain and r.grade == g)
        for g in ("A", "B", "C")
    }


def _grade_of(reached: Mapping[str, bool | None]) -> str | None:
    """Highest reached grade; 'D' for no activity (D or E: both 0); None when not fixed."""
    for grade in ("A", "B", "C"):
        if reached[grade] is None:
            return None
        if reached[grade]:
            return grade
    return "D"


def score_visit(visit: Mapping[str, Any], *, missing: MissingRule = "empty", **options: Any) -> ScalarResult:
    """BILAG-2004 numeric score and A/B counts of one assessment, with computed domain grades.

    Parameters
    ----------
    visit : mapping of code → value
        Domain grades ``bilag_<domain>`` (A–E) and, for domains without a grade, the form items
        ``bilag_item_NN`` (0–4 or ND), haematological measurements of :data:`HAEM_COLUMNS`,
        renal measurements of :data:`RENAL_COLUMNS` (creatinine µmol/L, UACR/UPCR mg/mmol,
        urine protein g/24 h, eGFR mL/min/1.73 m², BP mmHg, dipstick 0–4, yes/no items) and
        the previous assessment's renal values (:data:`RENAL_PREV_COLUMNS`, ``<code>_prev``).
    missing : {"empty", "absent"}
        Accepted for symmetry with the other indices; a missing grade is never taken as E.
    **options
        ``unverified_rules`` (bool, default False): also apply the unverified haematological
        rules.

    Returns
    -------
    ScalarResult
        ``bilag2004_numeric`` (0–108), ``bilag2004_a_count``, ``bilag2004_b_count`` (None when a
        missing grade could change them), ``bilag2004_explain`` (non-zero domains, computed ones
        marked), ``bilag2004_missing`` (domains whose grade is unknown).

    Examples
    --------
    >>> items = {item_code(n): 0 for n in range(5, 19)} | {"bilag_item_06": 1}  # improving
    >>> score_visit({**NOT_ACTIVE_REST, "bilag_mucocutaneous": None, **items})["bilag2004_explain"]
    'mucocutaneous=1 (computed: C)'
    >>> partial = {**NOT_ACTIVE_REST, "bilag_mucocutaneous": None, "bilag_item_06": 1}
    >>> score_visit(partial)["bilag2004_missing"]
    'bilag_mucocutaneous'
    """
    opts = INDEX.parse_options(options)
    values = validate_record(visit, INDEX)
    rules = _rules(opts)
    grades = {d: _grade_of(_reached(d, values, rules)) for d in DOMAINS}
    known = all(g is not None for g in grades.values())
    explain = []
    for domain in DOMAIN_TABLE:
        grade = grades[domain.code]
        if grade is not None and NUMERIC[grade]:
            mark = "" if values[domain.code] is not None else f" (computed: {grade}{_met(domain, values)})"
            explain.append(f"{domain.name}={NUMERIC[grade]}{mark}")
    return ScalarResult(
        values={
            "bilag2004_numeric": sum(NUMERIC[g] for g in grades.values() if g) if known else None,
            "bilag2004_a_count": _count(grades, "A"),
            "bilag2004_b_count": _count(grades, "B"),
            "bilag2004_explain": "; ".join(explain),
            "bilag2004_missing": "; ".join(d for d, g in grades.items() if g is None),
        },
        missing=tuple(d for d, g in grades.items() if g is None),
    )


def _met(domain: Domain, values: Mapping[str, Any]) -> str:
    """``; criteria c1, c4``: the named criteria met in a computed grade (renal only)."""
    if domain.code != _REN:
        return ""
    met = [c.name for c in RENAL_CRITERIA if _criterion(c, values)]
    return f"; criteria {', '.join(met)}" if met else ""


def _count(grades: Mapping[str, str | None], letter: str) -> int | None:
    """How many domains are graded ``letter``; None when an unknown grade could change it."""
    if any(g is None for g in grades.values()):
        return None
    return sum(1 for g in grades.values() if g == letter)


def grade_domains(visit: Mapping[str, Any], **options: Any) -> dict[str, str | None]:
    """Each domain's grade: entered, else computed from items ('D' = D or E, None = unknown).

    Examples
    --------
    >>> grade_domains({"bilag_item_39": 1, "bilag_item_40": 0, "bilag_item_41": 0,
    ...                "bilag_item_42": 0, "bilag_item_43": 0})["bilag_musculoskeletal"]
    'B'
    """
    values = validate_record(visit, INDEX)
    rules = _rules(INDEX.parse_options(options))
    return {d: _grade_of(_reached(d, values, rules)) for d in DOMAINS}


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _state_expr(number: int) -> pl.Expr:
    return pl.col(item_code(number)).cast(pl.Int8, strict=False)


def _compare_expr(value: pl.Expr, op: Op, limit: float) -> pl.Expr:
    if op == ">":
        return value > limit
    if op == ">=":
        return value >= limit
    return value < limit


def _difference_expr(diff: pl.Expr, op: Op) -> pl.Expr:
    if op == ">":
        return diff > TOLERANCE
    if op == ">=":
        return diff >= -TOLERANCE
    return diff < -TOLERANCE


def _kleene_count_expr(hits: pl.Expr, unknown: pl.Expr, at_least: int, at_most: int) -> pl.Expr:
    return (
        pl.when((hits >= at_least) & (hits + unknown <= at_most))
        .then(True)
        .when((hits + unknown < at_least) | (hits > at_most))
        .then(False)
        .otherwise(None)
    )


def _criterion_expr(criterion: Criterion) -> pl.Expr:
    return pl.any_horizontal([pl.all_horizontal([_condition_expr(c) for c in alt]) for alt in criterion.alternatives])


def _measure_condition_expr(cond: Condition) -> pl.Expr:
    """Vectorised :func:`_measure_condition`."""
    if isinstance(cond, Measure):
        value = pl.col(cond.measure)
        others = [pl.col(m).is_not_null() for m in cond.group if m != cond.measure]
        given = pl.any_horizontal(others) if others else pl.lit(False)
        return (
            pl.when(value.is_not_null())
            .then(_compare_expr(value, cond.op, cond.limit))
            .when(given)
            .then(False)
            .otherwise(None)
        )
    if isinstance(cond, Change):
        current, previous = pl.col(cond.measure), pl.col(cond.measure + PREV)
        return _difference_expr(current - (cond.factor * previous + cond.offset), cond.op)
    if isinstance(cond, Previous):
        previous = pl.col(cond.measure + PREV)
        return (
            pl.when(previous.is_null())
            .then(pl.lit(cond.if_missing, pl.Boolean))
            .otherwise(_compare_expr(previous, cond.op, cond.limit))
        )
    if isinstance(cond, NoneGiven):
        return pl.all_horizontal([pl.col(m).is_null() for m in cond.measures])
    assert isinstance(cond, Criteria)
    met = [_criterion_expr(c) for c in cond.criteria]
    hits = pl.sum_horizontal([m.fill_null(False).cast(pl.Int32) for m in met])
    unknown = pl.sum_horizontal([m.is_null().cast(pl.Int32) for m in met])
    return _kleene_count_expr(hits, unknown, cond.at_least, len(met))


def _condition_expr(cond: Condition) -> pl.Expr:
    if not isinstance(cond, Count | Below):
        return _measure_condition_expr(cond)
    if isinstance(cond, Below):
        col = pl.col(cond.measure)
        return col if cond.limit is None else col < cond.limit
    states = [_state_expr(i) for i in cond.items]
    hits = pl.sum_horizontal([s.is_in(list(cond.states)).fill_null(False).cast(pl.Int32) for s in states])
    unknown = pl.sum_horizontal([s.is_null().cast(pl.Int32) for s in states])
    high = cond.at_most if cond.at_most is not None else len(states)
    return _kleene_count_expr(hits, unknown, cond.at_least, high)


def _reached_exprs(domain: str, rules: tuple[Rule, ...]) -> dict[str, pl.Expr]:
    entered = pl.col(domain)
    reached = {}
    for g in ("A", "B", "C"):
        own = [
            pl.all_horizontal([_condition_expr(c) for c in r.conditions])
            for r in rules
            if r.domain == domain and r.grade == g
        ]
        computed = pl.any_horizontal(own) if own else pl.lit(None, pl.Boolean)
        if not own and any(r.domain == domain for r in rules):
            computed = pl.lit(False)
        at_or_above = list(GRADES[: GRADES.index(g) + 1])
        reached[g] = pl.when(entered.is_not_null()).then(entered.is_in(at_or_above)).otherwise(computed)
    return reached


def _grade_expr(reached: Mapping[str, pl.Expr]) -> pl.Expr:
    a, b, c = reached["A"], reached["B"], reached["C"]
    return (
        pl.when(a.is_null())
        .then(None)
        .when(a)
        .then(pl.lit("A"))
        .when(b.is_null())
        .then(None)
        .when(b)
        .then(pl.lit("B"))
        .when(c.is_null())
        .then(None)
        .when(c)
        .then(pl.lit("C"))
        .otherwise(pl.lit("D"))
    )


def _met_expr(domain: Domain) -> pl.Expr:
    """Vectorised :func:`_met`."""
    if domain.code != _REN:
        return pl.lit("")
    names = join_labels([pl.when(_criterion_expr(c)).then(pl.lit(c.name)) for c in RENAL_CRITERIA], ", ")
    return pl.when(names != "").then(pl.format("; criteria {}", names)).otherwise(pl.lit(""))


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised BILAG-2004 over a validated wide table (one row per assessment)."""
    rules = _rules(ctx.options)
    scratch = visits.with_columns([_grade_expr(_reached_exprs(d, rules)).alias(f"__g_{d}") for d in DOMAINS])
    grades = [pl.col(f"__g_{d}") for d in DOMAINS]
    numeric = [g.replace_strict(NUMERIC, return_dtype=pl.Int32, default=None) for g in grades]
    known = pl.all_horizontal([g.is_not_null() for g in grades])
    outputs = [
        pl.when(known).then(pl.sum_horizontal(numeric)).alias("bilag2004_numeric"),
        pl.when(known).then(pl.sum_horizontal([(g == "A").cast(pl.Int32) for g in grades])).alias("bilag2004_a_count"),
        pl.when(known).then(pl.sum_horizontal([(g == "B").cast(pl.Int32) for g in grades])).alias("bilag2004_b_count"),
    ]
    if ctx.explain:
        labels = []
        for domain in DOMAIN_TABLE:
            g = pl.col(f"__g_{domain.code}")
            value = g.replace_strict(NUMERIC, return_dtype=pl.Int32, default=None).cast(pl.Utf8)
            met = _met_expr(domain)
            text = (
                pl.when(pl.col(domain.code).is_not_null())
                .then(pl.format(f"{domain.name}={{}}", value))
                .otherwise(pl.format(f"{domain.name}={{}} (computed: {{}}{{}})", value, g, met))
            )
            labels.append(pl.when(g.is_in(["A", "B", "C"])).then(text))
        missing = [pl.when(pl.col(f"__g_{d}").is_null()).then(pl.lit(d)) for d in DOMAINS]
        outputs += [
            join_labels(labels).alias("bilag2004_explain"),
            join_labels(missing).alias("bilag2004_missing"),
        ]
    return scratch.select(outputs)


INDEX = IndexDefinition(
    name="bilag2004",
    forms=("sle",),
    title="BILAG-2004 index — domain grades and numeric score",
    source=("Isenberg DA, et al. Rheumatology 2005;44:902–6; Yee CS, et al. Rheumatology 2010;49:1665–9."),
    doi="10.1093/rheumatology/keh624",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    options=OPTIONS,
    version=RULES_VERSION,
    missing_rule=(
        "an entered domain grade always wins; an empty grade is computed from the items "
        "where rules exist; "
        "numeric score and counts are empty when a domain grade stays unknown"
    ),
)
