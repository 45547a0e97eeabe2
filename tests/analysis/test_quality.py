"""Data-quality checks at their thresholds' edges; expected values by hand from the rule sources.

Oracles: SLEDAI-2K descriptor definitions (Gladman 2002, specs/sledai2k.md: proteinuria > 0.5 g/24 h,
haematuria and pyuria > 5 /hpf, platelets < 100, WBC < 3.0 x10^9/L, C3/C4 below LLN, anti-dsDNA
above ULN; window: the visit and the 10 days before); CTCAE v5.0 grade limits (neutrophils
<LLN/1.5/1.0/0.5, platelets <LLN/75/50/25, lymphocytes <LLN/0.8/0.5/0.2 x10^9/L, haemoglobin
<LLN/10.0/8.0 g/dL).
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from remission.analysis.quality import (
    DATES_OUT_OF_ORDER,
    LAB_GRADE_RULES,
    VISIT_AFTER_DEATH,
    QualityTables,
    check_ae_grade_vs_lab,
    check_dates_in_order,
    check_form_vs_lab,
    check_visits_after_death,
    checked_rules,
    grade_from_lab,
    rule_sources,
    run_checks,
)

LAB_SCHEMA = {
    "patient_id": pl.String,
    "day": pl.Int64,
    "analyte": pl.String,
    "value": pl.Float64,
    "lln": pl.Float64,
    "uln": pl.Float64,
}


def labs(*rows: tuple[int, str, float, float | None, float | None]) -> pl.DataFrame:
    return pl.DataFrame([("P", *r) for r in rows], schema=LAB_SCHEMA, orient="row")


def visit(form: str = "sle", day: int = 30, **items: Any) -> pl.DataFrame:
    row = {"assessment_id": 1, "patient_id": "P", "day": day, "form": form, "visit": "month 1"}
    return pl.DataFrame([row | {k: (None if v is None else str(v)) for k, v in items.items()}])


def rules_of(found: list[Any]) -> list[str]:
    return [q.rule for q in found]


# ------------------------------------------------------------------ form item vs nearest lab


@pytest.mark.parametrize(
    ("item", "value", "analyte", "lab", "lln", "uln", "expected"),
    [
        ("proteinuria", 0, "proteinuria_g_24h", 0.5, None, 0.15, []),
        ("proteinuria", 0, "proteinuria_g_24h", 0.51, None, 0.15, ["sledai2k_proteinuria_vs_lab"]),
        ("proteinuria", 1, "proteinuria_g_24h", 0.5, None, 0.15, ["sledai2k_proteinuria_vs_lab"]),
        ("proteinuria", 1, "proteinuria_g_24h", 0.51, None, 0.15, []),
        ("hematuria", 0, "urine_rbc_hpf", 5.0, None, None, []),
        ("hematuria", 0, "urine_rbc_hpf", 6.0, None, None, ["sledai2k_hematuria_vs_lab"]),
        ("pyuria", 1, "urine_wbc_hpf", 5.0, None, None, ["sledai2k_pyuria_vs_lab"]),
        ("pyuria", 1, "urine_wbc_hpf", 6.0, None, None, []),
        ("thrombocytopenia", 0, "platelets_10e9_l", 100.0, 150.0, 400.0, []),
        ("thrombocytopenia", 0, "platelets_10e9_l", 99.0, 150.0, 400.0, ["sledai2k_thrombocytopenia_vs_lab"]),
        ("leukopenia", 1, "wbc_10e9_l", 3.0, 4.0, 10.0, ["sledai2k_leukopenia_vs_lab"]),
        ("leukopenia", 1, "wbc_10e9_l", 2.99, 4.0, 10.0, []),
        ("increased_dna_binding", 1, "anti_dsdna_iu_ml", 100.0, None, 100.0, ["sledai2k_increased_dna_binding_vs_lab"]),
        ("increased_dna_binding", 0, "anti_dsdna_iu_ml", 101.0, None, 100.0, ["sledai2k_increased_dna_binding_vs_lab"]),
        ("increased_dna_binding", 0, "anti_dsdna_iu_ml", 100.0, None, None, []),  # no ULN: unknown
        ("proteinuria", None, "proteinuria_g_24h", 2.0, None, 0.15, []),  # item not recorded
    ],
    ids=[
        "proteinuria-absent-0.5-ok",
        "proteinuria-absent-0.51",
        "proteinuria-present-0.5",
        "proteinuria-present-0.51-ok",
        "hematuria-absent-5-ok",
        "hematuria-absent-6",
        "pyuria-present-5",
        "pyuria-present-6-ok",
        "platelets-absent-100-ok",
        "platelets-absent-99",
        "wbc-present-3.0",
        "wbc-present-2.99-ok",
        "dsdna-present-at-uln",
        "dsdna-absent-above-uln",
        "dsdna-no-uln-missing",
        "item-missing",
    ],
)
def test_sledai_item_against_gladman_2002_thresholds(
    item: str, value: int | None, analyte: str, lab: float, lln: float | None, uln: float | None, expected: list[str]
) -> None:
    found = check_form_vs_lab(visit(**{item: value}), labs((28, analyte, lab, lln, uln)))
    assert rules_of(found) == expected


@pytest.mark.parametrize(
    ("item", "c3", "c4", "expected"),
    [
        (0, 0.9, 0.1, 0),  # both at their LLN: normal
        (0, 0.89, 0.1, 1),  # C3 below LLN
        (0, 0.9, 0.09, 1),  # C4 below LLN
        (1, 0.9, 0.1, 1),  # present, both normal
        (1, 0.9, None, 0),  # C4 not measured: state unknown
        (0, 0.89, None, 1),  # one low value is enough
    ],
    ids=[
        "absent-normal",
        "absent-c3-low",
        "absent-c4-low",
        "present-normal",
        "present-c4-missing",
        "c3-low-c4-missing",
    ],
)
def test_low_complement_is_c3_or_c4_below_lln(item: int, c3: float, c4: float | None, expected: int) -> None:
    rows = [(28, "c3_g_l", c3, 0.9, 1.8)] + ([(28, "c4_g_l", c4, 0.1, 0.4)] if c4 is not None else [])
    assert len(check_form_vs_lab(visit(low_complement=item), labs(*rows))) == expected


@pytest.mark.parametrize(
    ("lab_day", "days_before", "days_after", "expected"),
    [(20, 10, 0, 1), (19, 10, 0, 0), (30, 10, 0, 1), (31, 10, 0, 0), (31, 10, 1, 1), (25, 3, 0, 0)],
    ids=["day-10-in", "day-11-out", "same-day", "day-after-out", "day-after-allowed", "narrower-window"],
)
def test_nearest_lab_window_edges(lab_day: int, days_before: int, days_after: int, expected: int) -> None:
    table = labs((lab_day, "proteinuria_g_24h", 1.32, None, 0.15))
    found = check_form_vs_lab(visit(proteinuria=0), table, days_before=days_before, days_after=days_after)
    assert len(found) == expected


def test_equally_near_labs_take_the_earlier() -> None:
    """Day 28 (abnormal) and day 32 (normal) are both 2 days from the visit: the earlier counts."""
    table = labs((28, "proteinuria_g_24h", 1.32, None, 0.15), (32, "proteinuria_g_24h", 0.2, None, 0.15))
    found = check_form_vs_lab(visit(proteinuria=0), table, days_after=2)
    assert len(found) == 1 and found[0].values["labs"]["proteinuria_g_24h"] == {"value": 1.32, "day": 28, "limit": 0.5}


def test_nearer_lab_wins_over_an_older_one() -> None:
    table = labs((21, "proteinuria_g_24h", 1.32, None, 0.15), (29, "proteinuria_g_24h", 0.3, None, 0.15))
    assert check_form_vs_lab(visit(proteinuria=0), table) == []


def test_issue_example_message() -> None:
    """Issue 21: no proteinuria item with 1.32 g/24 h two days earlier."""
    [query] = check_form_vs_lab(visit(proteinuria=0), labs((28, "proteinuria_g_24h", 1.32, None, 0.15)))
    assert (query.patient_id, query.record_type, query.record_id) == ("P", "assessments", 1)
    assert query.message == (
        "proteinuria recorded absent on day 30, but proteinuria_g_24h = 1.32 on day 28 (proteinuria_g_24h > 0.5)"
    )


@pytest.mark.parametrize(
    ("ck", "lab", "expected"),
    [(171, 171.0, 0), (171, 170.0, 1), (170, 171.0, 1), (170, 170.0, 0), (None, 900.0, 0)],
    ids=["both-high", "form-high-lab-normal", "form-normal-lab-high", "both-normal", "form-missing"],
)
def test_myositis_form_ck_against_lab_ck_above_uln(ck: int | None, lab: float, expected: int) -> None:
    table = labs((28, "ck_u_l", lab, None, 170.0))
    found = check_form_vs_lab(visit("iim", ck_u_l=ck, ck_uln_u_l=170), table)
    assert rules_of(found) == ["myositis_form_ck_vs_lab"] * expected


def test_sledai_myositis_needs_evidence_but_high_ck_alone_is_no_query() -> None:
    high, normal = labs((28, "ck_u_l", 900.0, None, 170.0)), labs((28, "ck_u_l", 100.0, None, 170.0))
    assert check_form_vs_lab(visit(myositis=0), high) == []
    assert rules_of(check_form_vs_lab(visit(myositis=1), normal)) == ["sledai2k_myositis_vs_lab"]


def test_items_of_another_form_are_not_checked() -> None:
    table = labs((28, "proteinuria_g_24h", 1.32, None, 0.15))
    assert check_form_vs_lab(visit("ssc", proteinuria=0), table) == []


# ------------------------------------------------------------------ AE grade vs CTCAE nadir grade


@pytest.mark.parametrize(
    ("rule_index", "lln", "values_and_grades"),
    [
        (0, 1.8, [(1.8, 0), (1.79, 1), (1.5, 1), (1.49, 2), (1.0, 2), (0.99, 3), (0.5, 3), (0.49, 4)]),
        (1, 150.0, [(150.0, 0), (149.0, 1), (75.0, 1), (74.0, 2), (50.0, 2), (49.0, 3), (25.0, 3), (24.9, 4)]),
        (2, 120.0, [(120.0, 0), (119.0, 1), (100.0, 1), (99.0, 2), (80.0, 2), (79.0, 3), (40.0, 3)]),
        (3, 1.0, [(1.0, 0), (0.99, 1), (0.8, 1), (0.79, 2), (0.5, 2), (0.49, 3), (0.2, 3), (0.19, 4)]),
    ],
    ids=["neutrophils", "platelets", "haemoglobin-g-l", "lymphocytes"],
)
def test_grade_from_lab_against_ctcae_v5_limits(
    rule_index: int, lln: float, values_and_grades: list[tuple[float, int]]
) -> None:
    rule = LAB_GRADE_RULES[rule_index]
    assert [grade_from_lab(rule, v, lln) for v, _ in values_and_grades] == [g for _, g in values_and_grades]


def test_grade_without_lln_is_unknown_unless_a_fixed_limit_applies() -> None:
    neutrophils = LAB_GRADE_RULES[0]
    assert grade_from_lab(neutrophils, 1.6, None) is None
    assert grade_from_lab(neutrophils, 1.4, None) == 2


def ae(term: str, grade: int, onset: int = 3, resolution: int | None = 8, event_id: int = 7) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "id": event_id,
                "patient_id": "P",
                "term": term,
                "grade": grade,
                "onset_day": onset,
                "resolution_day": resolution,
            }
        ],
        schema={
            "id": pl.Int64,
            "patient_id": pl.String,
            "term": pl.String,
            "grade": pl.Int64,
            "onset_day": pl.Int64,
            "resolution_day": pl.Int64,
        },
    )


@pytest.mark.parametrize(
    ("term", "grade", "analyte", "nadir", "lln", "expected"),
    [
        ("neutropenia", 3, "anc_10e9_l", 0.5, 1.8, None),
        ("neutropenia", 3, "anc_10e9_l", 0.49, 1.8, 4),
        ("Neutropenia", 4, "anc_10e9_l", 0.5, 1.8, 3),  # over-graded, term in any case
        ("thrombocytopenia", 2, "platelets_10e9_l", 49.0, 150.0, 3),
        ("anaemia", 4, "hemoglobin_g_l", 70.0, 120.0, None),  # grade 4 is clinical above lab grade 3
        ("anemia", 2, "hemoglobin_g_l", 79.0, 120.0, 3),
        ("lymphopenia", 3, "lymphocytes_10e9_l", 0.19, 1.0, 4),
        ("neutropenia", 5, "anc_10e9_l", 0.1, 1.8, None),  # death is never queried
        ("hypogammaglobulinaemia", 2, "igg_g_l", 7.0, 7.0, 0),  # not below LLN
        ("hypogammaglobulinaemia", 2, "igg_g_l", 6.9, 7.0, None),
        ("pneumonia", 3, "anc_10e9_l", 0.1, 1.8, None),  # no rule for the term
    ],
    ids=[
        "anc-0.5-g3-ok",
        "anc-0.49-g3-vs-g4",
        "anc-0.5-g4-vs-g3",
        "plt-49-g2-vs-g3",
        "hb-g4-clinical-ok",
        "hb-79-g2-vs-g3",
        "alc-0.19-g3-vs-g4",
        "grade-5",
        "igg-at-lln",
        "igg-below-lln-ok",
        "other-term",
    ],
)
def test_ae_grade_against_ctcae_grade_of_the_nadir(
    term: str, grade: int, analyte: str, nadir: float, lln: float, expected: int | None
) -> None:
    table = labs((4, analyte, nadir * 1.5, lln, None), (6, analyte, nadir, lln, None))
    found = check_ae_grade_vs_lab(ae(term, grade), table)
    assert [q.values["lab_grade"] for q in found] == ([] if expected is None else [expected])


def test_nadir_is_taken_between_onset_and_resolution_only() -> None:
    table = labs(
        (2, "anc_10e9_l", 0.1, 1.8, None), (5, "anc_10e9_l", 0.7, 1.8, None), (9, "anc_10e9_l", 0.1, 1.8, None)
    )
    assert check_ae_grade_vs_lab(ae("neutropenia", 3), table) == []
    [unresolved] = check_ae_grade_vs_lab(ae("neutropenia", 3, resolution=None), table)
    assert (unresolved.values["nadir"], unresolved.values["nadir_day"]) == (0.1, 9)


def test_ae_without_lab_in_its_period_raises_nothing() -> None:
    assert check_ae_grade_vs_lab(ae("neutropenia", 3), labs((20, "anc_10e9_l", 0.1, 1.8, None))) == []


def test_neutropenia_query_says_both_grades() -> None:
    [query] = check_ae_grade_vs_lab(ae("neutropenia", 3), labs((4, "anc_10e9_l", 0.3, 1.8, 7.5)))
    assert query.record_type == "adverse_events" and query.record_id == 7
    assert query.message == "neutropenia recorded grade 3, but nadir anc_10e9_l 0.3 10^9/L on day 4 is CTCAE grade 4"


# ------------------------------------------------------------------ dates, visits after death


def test_resolution_before_onset_and_stop_before_start() -> None:
    events = pl.concat(
        [ae("rash", 1, onset=10, resolution=9, event_id=1), ae("fever", 1, onset=10, resolution=10, event_id=2)]
    )
    meds = pl.DataFrame(
        {
            "id": [5, 6],
            "patient_id": ["P", "P"],
            "drug": ["prednisone", "tacrolimus"],
            "start_day": [20, 20],
            "stop_day": [19, None],
        }
    )
    found = check_dates_in_order(events, meds)
    assert [(q.record_type, q.record_id, q.rule) for q in found] == [
        ("adverse_events", 1, DATES_OUT_OF_ORDER),
        ("medications", 5, DATES_OUT_OF_ORDER),
    ]
    assert found[1].message == "prednisone: stop day 19 is before start day 20"


def test_visit_on_the_day_of_death_is_not_after_it() -> None:
    visits = pl.DataFrame(
        {"assessment_id": [1, 2, 3], "patient_id": ["P", "P", "Q"], "day": [80, 81, 400], "visit": ["a", "b", "c"]}
    )
    events = pl.DataFrame({"patient_id": ["P", "P"], "grade": [5, 3], "onset_day": [80, 10]})
    found = check_visits_after_death(visits, events)
    assert [(q.patient_id, q.record_id, q.rule) for q in found] == [("P", 2, VISIT_AFTER_DEATH)]
    assert found[0].message == "b on day 81 is after death on day 80"


def test_every_rule_has_a_source_and_run_checks_is_sorted() -> None:
    sources = rule_sources()
    assert set(checked_rules()) == set(sources) and all(sources.values())
    tables = QualityTables(
        assessments=pl.concat([visit(proteinuria=0, leukopenia=1)], how="diagonal"),
        labs=labs((28, "proteinuria_g_24h", 1.32, None, 0.15), (28, "wbc_10e9_l", 4.5, 4.0, 10.0)),
        adverse_events=ae("neutropenia", 3),
        medications=pl.DataFrame(),
    )
    assert rules_of(run_checks(tables)) == ["sledai2k_leukopenia_vs_lab", "sledai2k_proteinuria_vs_lab"]
