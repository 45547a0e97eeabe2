"""BILAG-2004: numeric conversion, counts, item-level grading rules, entered grades win."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import remission
from remission.indices import bilag2004
from remission.indices.bilag2004 import DOMAINS, NOT_ACTIVE_REST, RULES, item_code

OUT = ["bilag2004_numeric", "bilag2004_a_count", "bilag2004_b_count"]


def grades(**changes: Any) -> dict[str, Any]:
    return {**NOT_ACTIVE_REST, **{f"bilag_{k}": v for k, v in changes.items()}}


# Numeric scheme of Yee 2010 (A = 12, B = 8, C = 1, D = E = 0), sums by hand.
CASES = [
    ("all_e", grades(), (0, 0, 0), ""),
    (
        "one_a_one_b",
        grades(renal="A", musculoskeletal="B"),
        (20, 1, 1),
        "musculoskeletal=8; renal=12",
    ),
    (
        "lower_case_grades",
        grades(renal="a", mucocutaneous="c"),
        (13, 1, 0),
        "mucocutaneous=1; renal=12",
    ),
    ("all_a_is_108", {d: "A" for d in DOMAINS}, (108, 9, 0), None),
    ("d_scores_0", grades(renal="D", haematological="D"), (0, 0, 0), ""),
]


@pytest.mark.parametrize(
    ("row", "expected", "explain"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bilag_numeric_against_yee_2010_scheme(
    row: dict[str, Any], expected: tuple[int, ...], explain: str
) -> None:
    out = remission.score("bilag2004", pl.DataFrame([row]))
    assert tuple(out.select(OUT).row(0)) == expected
    if explain is not None:
        assert out["bilag2004_explain"][0] == explain


def test_bilag_missing_domain_makes_sum_and_counts_empty() -> None:
    out = remission.score(
        "bilag2004", pl.DataFrame([grades(renal=None)], schema_overrides={"bilag_renal": pl.Utf8})
    )
    assert tuple(out.select(OUT).row(0)) == (None, None, None)
    assert out["bilag2004_missing"][0] == "bilag_renal"


def test_bilag_invalid_grade_is_an_error() -> None:
    with pytest.raises(remission.InvalidInputError, match="row 1, column bilag_renal: value F"):
        remission.score("bilag2004", pl.DataFrame([grades(renal="F")]))


def items(numbers: range | tuple[int, ...], **scores: int | str) -> dict[str, Any]:
    row: dict[str, Any] = {item_code(n): 0 for n in numbers}
    row.update({item_code(int(k[1:])): v for k, v in scores.items()})
    return row


CONSTITUTIONAL = range(1, 5)
MUCO = range(5, 19)
# Item-level rules of bilag2004-grading.md, applied by hand: (domain, items, expected grade).
GRADING = [
    ("constitutional_a", "constitutional", items(CONSTITUTIONAL, i1=3, i2=2, i4=4), "A"),
    ("constitutional_b_pyrexia_alone", "constitutional", items(CONSTITUTIONAL, i1=2, i3=2), "B"),
    (
        "constitutional_b_two_without_pyrexia",
        "constitutional",
        items(CONSTITUTIONAL, i2=2, i3=4),
        "B",
    ),
    ("constitutional_c_pyrexia_improving", "constitutional", items(CONSTITUTIONAL, i1=1), "C"),
    ("constitutional_c_one_other", "constitutional", items(CONSTITUTIONAL, i3=3), "C"),
    ("constitutional_none", "constitutional", items(CONSTITUTIONAL), "D"),
    ("muco_a_severe_eruption", "mucocutaneous", items(MUCO, i5=4), "A"),
    ("muco_b_severe_improving", "mucocutaneous", items(MUCO, i5=1), "B"),
    ("muco_b_mild_eruption", "mucocutaneous", items(MUCO, i6=2), "B"),
    ("muco_c_mild_alopecia", "mucocutaneous", items(MUCO, i16=2), "C"),
    ("muco_highest_rule_wins", "mucocutaneous", items(MUCO, i16=2, i13=3), "A"),
    ("msk_c_arthralgia", "musculoskeletal", items(range(39, 44), i43=1), "C"),
    ("neuro_b_seizure_disorder", "neuropsychiatric", items(range(19, 39), i30=2), "B"),
    ("neuro_c_seizure_improving", "neuropsychiatric", items(range(19, 39), i30=1), "C"),
    ("cardio_a_pneumonitis", "cardiorespiratory", items(range(44, 56), i52=4), "A"),
    ("gi_b_hepatitis", "gastrointestinal", items(range(56, 65), i62=3), "B"),
    ("eye_c_episcleritis", "ophthalmic", items(range(65, 78), i71=2), "C"),
    ("not_done_counts_as_missing", "constitutional", items(CONSTITUTIONAL, i2="ND"), None),
    ("not_done_does_not_hide_a", "mucocutaneous", items(MUCO, i6="ND", i9=4), "A"),
]


@pytest.mark.parametrize(
    ("domain", "row", "expected"), [c[1:] for c in GRADING], ids=[c[0] for c in GRADING]
)
def test_bilag_item_grading_against_draft_rules(
    domain: str, row: dict[str, Any], expected: str | None
) -> None:
    code = f"bilag_{domain}"
    visit = {**NOT_ACTIVE_REST, code: None, **{k: str(v) for k, v in row.items()}}
    assert bilag2004.grade_domains(visit)[code] == expected
    out = remission.score("bilag2004", pl.DataFrame([visit], schema_overrides={code: pl.Utf8}))
    numeric = None if expected is None else bilag2004.NUMERIC[expected]
    assert out["bilag2004_numeric"][0] == numeric


def test_bilag_entered_grade_wins_over_items() -> None:
    visit = {**NOT_ACTIVE_REST, "bilag_mucocutaneous": "C", item_code(5): "4"}
    out = remission.score("bilag2004", pl.DataFrame([visit]))
    assert out["bilag2004_numeric"][0] == 1
    assert out["bilag2004_explain"][0] == "mucocutaneous=1"


def test_bilag_computed_grade_is_marked_in_explain() -> None:
    visit = {
        **NOT_ACTIVE_REST,
        "bilag_mucocutaneous": None,
        **{k: str(v) for k, v in items(MUCO, i6=2).items()},
    }
    assert bilag2004.score_visit(visit)["bilag2004_explain"] == "mucocutaneous=8 (computed: B)"


def test_bilag_haematological_rules_need_unverified_option() -> None:
    visit = {
        **NOT_ACTIVE_REST,
        "bilag_haematological": None,
        item_code(95): "0",
        "bilag_hb_g_dl": 7.5,
    }
    visit |= {
        "bilag_wcc_10e9_l": 5.0,
        "bilag_neutrophils_10e9_l": 3.0,
        "bilag_lymphocytes_10e9_l": 1.5,
    }
    visit |= {"bilag_platelets_10e9_l": 200.0, "bilag_coombs": 0}
    table = pl.DataFrame([visit], schema_overrides={"bilag_haematological": pl.Utf8})
    assert remission.score("bilag2004", table)["bilag2004_numeric"][0] is None
    assert remission.score("bilag2004", table, unverified_rules=True)["bilag2004_numeric"][0] == 12


def test_bilag_unverified_rules_are_only_haematological() -> None:
    assert {r.domain for r in RULES if not r.verified} == {"bilag_haematological"}


def test_bilag_renal_has_no_item_rules() -> None:
    assert bilag2004.grade_domains({"bilag_item_01": 0})["bilag_renal"] is None


score = st.sampled_from(["0", "1", "2", "3", "4", "ND", None])


@settings(max_examples=50, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            **{d: st.sampled_from(["A", "B", "C", "D", "E", None, None]) for d in DOMAINS},
            **{item_code(n): score for n in bilag2004.ITEM_NUMBERS},
            "bilag_hb_g_dl": st.sampled_from([7.0, 8.5, 10.0, 13.0, None]),
            "bilag_platelets_10e9_l": st.sampled_from([20.0, 100.0, 300.0, None]),
            "bilag_coombs": st.sampled_from([0, 1, None]),
        }
    ),
    st.booleans(),
)
def test_bilag_scalar_equals_vectorised(row: dict[str, Any], unverified: bool) -> None:
    table = pl.DataFrame([row], infer_schema_length=None)
    got = remission.score("bilag2004", table, unverified_rules=unverified).row(0, named=True)
    expected = bilag2004.score_visit(row, unverified_rules=unverified).values
    assert {k: got[k] for k in expected} == expected
    if expected["bilag2004_numeric"] is not None:
        assert 0 <= expected["bilag2004_numeric"] <= 108
