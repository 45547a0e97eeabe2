"""CRS grade (ASTCT 2019, Lee 2019 Table 3); expected grades by hand from ../shared/specs/crs.md."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices.crs import HYPOTENSION, OXYGEN, score_visit

BASE = {
    "temperature_c": 38.5,
    "fever_other_cause": 0,
    "anti_cytokine_given": 0,
    "hypotension": "none",
    "oxygen": "none",
    "crs_death": 0,
}


# Every contribution row of the spec's table, with fever present (CRS present).
@pytest.mark.parametrize(
    ("changes", "grade"),
    [
        ({}, 1),
        ({"hypotension": "no_vasopressor"}, 2),
        ({"oxygen": "low_flow"}, 2),
        ({"hypotension": "one_vasopressor"}, 3),
        ({"oxygen": "high_flow"}, 3),
        ({"hypotension": "multiple_vasopressors"}, 4),
        ({"oxygen": "positive_pressure"}, 4),
        ({"hypotension": "no_vasopressor", "oxygen": "high_flow"}, 3),  # the more severe wins
        ({"temperature_c": 38.0}, 1),  # boundary: ≥ 38.0
        ({"temperature_c": 37.9}, 0),
        ({"temperature_c": 37.9, "oxygen": "high_flow"}, 0),  # hypoxia without fever/treatment
        ({"fever_other_cause": 1}, 0),
        ({"fever_other_cause": 1, "hypotension": "one_vasopressor"}, 0),
        ({"temperature_c": 37.0, "anti_cytokine_given": 1, "oxygen": "low_flow"}, 2),
        ({"temperature_c": 37.0, "anti_cytokine_given": 1}, 0),
        (
            {
                "temperature_c": 37.0,
                "anti_cytokine_given": 1,
                "hypotension": "multiple_vasopressors",
            },
            4,
        ),
        ({"crs_death": 1}, 5),
        ({"temperature_c": 36.5, "crs_death": 1}, 5),  # death due to CRS implies CRS
        ({"crs_death": None}, 1),  # optional: empty = no death
    ],
    ids=[
        "fever",
        "no_vasopressor",
        "low_flow",
        "one_vasopressor",
        "high_flow",
        "multiple_vaso",
        "positive_pressure",
        "max_of_organs",
        "t38_0",
        "t37_9",
        "hypoxia_afebrile_untreated",
        "other_cause",
        "other_cause_with_hypotension",
        "treated_low_flow",
        "treated_no_organ",
        "treated_multiple",
        "death",
        "death_afebrile",
        "death_empty",
    ],
)
def test_crs_contribution_rows(changes, grade):
    visit = {**BASE, **changes}
    assert score_visit(visit)["crs_grade"] == grade
    assert remission.score("crs", pl.DataFrame([visit]))["crs_grade"][0] == grade


@pytest.mark.parametrize(
    ("changes", "grade"),
    [
        ({"temperature_c": None}, None),
        ({"temperature_c": None, "oxygen": "positive_pressure", "anti_cytokine_given": 1}, 4),
        ({"hypotension": None}, None),
        ({"hypotension": None, "oxygen": "positive_pressure"}, 4),  # already the maximum
        ({"fever_other_cause": None}, None),
        ({"fever_other_cause": None, "temperature_c": 37.0}, 0),  # afebrile, untreated: no CRS
        (
            {
                "temperature_c": 37.0,
                "anti_cytokine_given": None,
                "oxygen": "none",
                "hypotension": "none",
            },
            0,
        ),
        ({"temperature_c": 37.0, "anti_cytokine_given": None, "oxygen": "low_flow"}, None),
    ],
    ids=[
        "temp_missing",
        "temp_missing_max_known",
        "hypotension_missing",
        "hyp_missing_pp",
        "other_cause_missing",
        "other_cause_missing_afebrile",
        "anti_missing_no_organ",
        "anti_missing_low_flow",
    ],
)
def test_crs_missing_inputs(changes, grade):
    visit = {**BASE, **changes}
    assert score_visit(visit)["crs_grade"] == grade
    assert remission.score("crs", pl.DataFrame([visit]))["crs_grade"].to_list() == [grade]


def test_crs_explain_and_missing_columns():
    out = remission.score("crs", pl.DataFrame([{**BASE, "oxygen": "low_flow", "hypotension": None}]))
    assert out["crs_explain"][0] == "fever=1 (temperature_c=38.5); oxygen=2 (low_flow)"
    assert out["crs_missing"][0] == "hypotension"
    assert score_visit({**BASE, "fever_other_cause": 1})["crs_explain"] == "no_crs"


def test_crs_absent_death_column_and_bad_value(tmp_path):
    frame = pl.DataFrame([{k: v for k, v in BASE.items() if k != "crs_death"}])
    assert remission.score("crs", frame)["crs_grade"][0] == 1
    with pytest.raises(remission.InvalidInputError, match="row 1, column oxygen: value mask"):
        remission.score("crs", pl.DataFrame([{**BASE, "oxygen": "mask"}]))
    with pytest.raises(remission.InvalidInputError, match="row 1, column temperature_c: value 46"):
        remission.score("crs", pl.DataFrame([{**BASE, "temperature_c": 46}]))


optional = lambda s: st.one_of(st.none(), s)  # noqa: E731
visits = st.fixed_dictionaries(
    {
        "temperature_c": optional(st.sampled_from([36.0, 37.9, 38.0, 39.5])),
        "fever_other_cause": optional(st.sampled_from([0, 1])),
        "anti_cytokine_given": optional(st.sampled_from([0, 1])),
        "hypotension": optional(st.sampled_from(HYPOTENSION)),
        "oxygen": optional(st.sampled_from(OXYGEN)),
        "crs_death": optional(st.sampled_from([0, 0, 0, 1])),
    }
)


@given(st.lists(visits, min_size=1, max_size=8))
def test_crs_scalar_equals_vectorised(rows):
    frame = pl.DataFrame(
        rows,
        schema={
            "temperature_c": pl.Float64,
            "fever_other_cause": pl.Int64,
            "anti_cytokine_given": pl.Int64,
            "hypotension": pl.Utf8,
            "oxygen": pl.Utf8,
            "crs_death": pl.Int64,
        },
    )
    out = remission.score("crs", frame)
    for i, row in enumerate(rows):
        scalar = score_visit(row)
        assert out["crs_grade"][i] == scalar["crs_grade"]
        assert out["crs_explain"][i] == scalar["crs_explain"]
        assert out["crs_missing"][i] == scalar["crs_missing"]
        if scalar["crs_grade"] is not None:
            assert 0 <= scalar["crs_grade"] <= 5


@given(visits, st.sampled_from(HYPOTENSION))
def test_crs_monotone_in_hypotension(visit, more):
    worse = {**visit, "hypotension": more}
    before, after = score_visit(visit)["crs_grade"], score_visit(worse)["crs_grade"]
    if (
        visit["hypotension"] is not None
        and before is not None
        and after is not None
        and HYPOTENSION.index(more) >= HYPOTENSION.index(visit["hypotension"])
    ):
        assert after >= before
