"""LLDAS: criteria boundaries, comparison with the previous assessment, missing data."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices import lldas
from remission.indices._sle import SLEDAI_CODES

QUIET = {c: 0 for c in SLEDAI_CODES} | {
    "hemolytic_anemia": 0,
    "gi_activity": 0,
    "pga": 0.5,
    "prednisone_mg_day": 5.0,
    "investigational_drug": 0,
}


def visit(**changes: Any) -> dict[str, Any]:
    return {**QUIET, **changes}


def pair(now: dict[str, Any], before: dict[str, Any] | None = None) -> pl.DataFrame:
    """The patient's previous assessment (day 0) and the assessment under test (day 90)."""
    first = {"patient_id": "P1", "day": 0, **(before or now)}
    return pl.DataFrame([first, {"patient_id": "P1", "day": 90, **now}], infer_schema_length=None)


# Expected lldas / lldas_failed by hand from lldas.md (Franklyn 2016 criteria 1–5).
CASES = [
    ("all_criteria_met", visit(), 1, ""),
    ("sledai_4_passes", visit(rash=1, alopecia=1), 1, ""),
    ("sledai_6_fails", visit(rash=1, arthritis=1), 0, "1"),
    ("serology_4_passes", visit(low_complement=1, increased_dna_binding=1), 1, ""),
    ("major_organ_pleurisy_fails", visit(pleurisy=1), 0, "1"),
    ("fever_fails", visit(fever=1), 0, "1"),
    ("hemolytic_anemia_fails", visit(hemolytic_anemia=1), 0, "1"),
    ("gi_activity_fails", visit(gi_activity=1), 0, "1"),
    ("pga_1.0_passes", visit(pga=1.0), 1, ""),
    ("pga_1.1_fails", visit(pga=1.1), 0, "3"),
    ("prednisone_7.5_passes", visit(prednisone_mg_day=7.5), 1, ""),
    ("prednisone_7.6_fails", visit(prednisone_mg_day=7.6), 0, "4"),
    ("investigational_drug_fails", visit(investigational_drug=1), 0, "5"),
    ("several_fail", visit(arthritis=1, rash=1, pga=2.0), 0, "1;3"),
]


@pytest.mark.parametrize(("row", "expected", "failed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lldas_against_hand_computation_from_franklyn_2016(row: dict[str, Any], expected: int, failed: str) -> None:
    out = remission.score("lldas", pair(row))
    assert out["lldas"].to_list()[1] == expected
    assert out["lldas_failed"].to_list()[1] == failed
    assert lldas.score_visit(row, previous=row)["lldas"] == expected


def test_lldas_new_activity_since_previous_fails_criterion_2() -> None:
    out = remission.score("lldas", pair(visit(rash=1), before=visit()))
    assert out["lldas"].to_list() == [None, 0]
    assert out["lldas_failed"][1] == "2"
    assert out["lldas_explain"][1] == "2: new rash"


def test_lldas_persistent_item_is_not_new() -> None:
    out = remission.score("lldas", pair(visit(rash=1), before=visit(rash=1)))
    assert out["lldas"][1] == 1


def test_lldas_first_assessment_is_empty_unless_a_known_criterion_fails() -> None:
    table = pl.DataFrame(
        [
            {"patient_id": "A", "day": -5, **visit()},
            {"patient_id": "B", "day": -5, **visit(pga=2.0)},
        ]
    )
    out = remission.score("lldas", table)
    assert out["lldas"].to_list() == [None, 0]
    assert out["lldas_missing"][0] == "previous_assessment"


def test_lldas_previous_is_by_day_not_input_order() -> None:
    rows = [
        {"patient_id": "P", "day": 60, **visit(rash=1)},
        {"patient_id": "P", "day": 0, **visit()},
        {"patient_id": "P", "day": 30, **visit(rash=1)},
    ]
    out = remission.score("lldas", pl.DataFrame(rows))
    # day 30 has new rash vs day 0; day 60 keeps it (not new).
    assert out["lldas"].to_list() == [1, None, 0]


MISSING = [
    ("pga_missing_is_empty", visit(pga=None), None, "pga"),
    ("pga_missing_but_prednisone_fails", visit(pga=None, prednisone_mg_day=10.0), 0, "pga"),
    ("item_missing_is_empty", visit(rash=None), None, "rash"),
    (
        "item_missing_but_sledai_already_over_4",
        visit(rash=None, arthritis=1, alopecia=1),
        0,
        "rash",
    ),
]


@pytest.mark.parametrize(("row", "expected", "missing"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_lldas_missing_three_valued(row: dict[str, Any], expected: int | None, missing: str) -> None:
    out = remission.score("lldas", pair(row, before=visit()))
    assert out["lldas"][1] == expected
    assert out["lldas_missing"][1] == missing


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                **{c: st.sampled_from([0, 0, 0, 1, None]) for c in SLEDAI_CODES},
                "hemolytic_anemia": st.sampled_from([0, 1, None]),
                "gi_activity": st.sampled_from([0, 0, 1, None]),
                "pga": st.sampled_from([0.0, 1.0, 1.1, 2.25, None]),
                "prednisone_mg_day": st.sampled_from([0.0, 7.5, 7.6, None]),
                "investigational_drug": st.sampled_from([0, 0, 1, None]),
            }
        ),
        min_size=2,
        max_size=2,
    )
)
def test_lldas_scalar_equals_vectorised(rows: list[dict[str, Any]]) -> None:
    first, second = rows
    out = remission.score("lldas", pair(second, before=first))
    got = out.iter_rows(named=True)
    for row, previous, vector in zip((first, second), (None, first), got, strict=True):
        expected = lldas.score_visit(row, previous=previous).values
        assert {k: vector[k] for k in expected} == expected
