"""ICE score and ICANS grade (ASTCT 2019, Lee 2019 Tables 5–6); expected values by hand from
../shared/specs/icans.md."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices.icans import score_ice, score_visit

BASE = {
    "ice_score": 10,
    "consciousness": "normal",
    "seizure": "none",
    "motor_weakness": 0,
    "cerebral_edema": "none",
}


@pytest.mark.parametrize(
    ("changes", "grade"),
    [
        ({}, 0),
        ({"ice_score": 9}, 1),
        ({"ice_score": 7}, 1),
        ({"ice_score": 6}, 2),
        ({"ice_score": 3}, 2),
        ({"ice_score": 2}, 3),
        ({"ice_score": 0}, 3),
        ({"consciousness": "awakens_spontaneously"}, 1),
        ({"consciousness": "awakens_to_voice"}, 2),
        ({"consciousness": "awakens_to_touch"}, 3),
        ({"consciousness": "unarousable"}, 4),
        ({"seizure": "resolved"}, 3),
        ({"seizure": "prolonged"}, 4),
        ({"motor_weakness": 1}, 4),
        ({"cerebral_edema": "focal"}, 3),
        ({"cerebral_edema": "diffuse"}, 4),
        ({"ice_score": 5, "consciousness": "awakens_spontaneously"}, 2),  # most severe wins
    ],
    ids=[
        "none",
        "ice9",
        "ice7",
        "ice6",
        "ice3",
        "ice2",
        "ice0",
        "spontaneous",
        "voice",
        "touch",
        "unarousable",
        "seizure_resolved",
        "seizure_prolonged",
        "motor",
        "edema_focal",
        "edema_diffuse",
        "max_of_items",
    ],
)
def test_icans_contribution_rows(changes, grade):
    visit = {**BASE, **changes}
    assert score_visit(visit)["icans_grade"] == grade
    assert remission.score("icans", pl.DataFrame([visit]))["icans_grade"][0] == grade


@pytest.mark.parametrize(
    ("changes", "grade"),
    [
        ({"ice_score": None, "consciousness": "unarousable"}, 4),  # cannot do ICE: grade 4
        ({"ice_score": 8, "consciousness": "unarousable"}, 4),  # recorded ICE accepted
        ({"ice_score": None}, None),  # ICE could add up to 3
        ({"ice_score": None, "cerebral_edema": "focal"}, 3),  # others ≥ 3: that is the grade
        ({"ice_score": None, "consciousness": "awakens_to_voice"}, None),
        ({"ice_score": None, "seizure": "prolonged"}, 4),
        ({"consciousness": None}, None),
        ({"consciousness": None, "motor_weakness": 1}, 4),
        ({"motor_weakness": None, "ice_score": 8}, None),
    ],
    ids=[
        "unarousable_no_ice",
        "unarousable_with_ice",
        "ice_empty",
        "ice_empty_focal_edema",
        "ice_empty_voice",
        "ice_empty_prolonged_seizure",
        "consciousness_missing",
        "consciousness_missing_motor",
        "motor_missing",
    ],
)
def test_icans_missing_rules(changes, grade):
    visit = {**BASE, **changes}
    assert score_visit(visit)["icans_grade"] == grade
    assert remission.score("icans", pl.DataFrame([visit]))["icans_grade"].to_list() == [grade]


def test_icans_derives_ice_from_items_and_explains():
    visit = {
        **BASE,
        "ice_score": None,
        "ice_orientation": 3,
        "ice_naming": 3,
        "ice_commands": 1,
        "ice_writing": 0,
        "ice_attention": 1,
    }
    out = remission.score("icans", pl.DataFrame([visit]))
    assert out["icans_grade"][0] == 1  # 3+3+1+0+1 = 8 → 1
    assert out["icans_explain"][0] == "ice_score=1 (8, derived from ICE items)"
    assert score_visit(visit)["icans_explain"] == out["icans_explain"][0]


@pytest.mark.parametrize(
    ("items", "score"),
    [((4, 3, 1, 1, 1), 10), ((0, 0, 0, 0, 0), 0), ((2, 1, 1, 0, 1), 5), ((3, None, 1, 1, 1), None)],
    ids=["full", "zero", "five", "missing_item"],
)
def test_ice_score(items, score):
    codes = ("ice_orientation", "ice_naming", "ice_commands", "ice_writing", "ice_attention")
    visit = dict(zip(codes, items, strict=True))
    assert score_ice(visit)["ice_score"] == score
    assert remission.score("ice", pl.DataFrame([visit], schema={c: pl.Int64 for c in codes}))[
        "ice_score"
    ].to_list() == [score]


def test_ice_out_of_range_is_an_error():
    with pytest.raises(remission.InvalidInputError, match="row 1, column ice_naming: value 4"):
        remission.score("ice", pl.DataFrame({"ice_naming": [4]}), allow_missing_columns=True)


optional = lambda s: st.one_of(st.none(), s)  # noqa: E731
visits = st.fixed_dictionaries(
    {
        "ice_score": optional(st.integers(0, 10)),
        "consciousness": optional(
            st.sampled_from(
                [
                    "normal",
                    "awakens_spontaneously",
                    "awakens_to_voice",
                    "awakens_to_touch",
                    "unarousable",
                ]
            )
        ),
        "seizure": optional(st.sampled_from(["none", "resolved", "prolonged"])),
        "motor_weakness": optional(st.sampled_from([0, 1])),
        "cerebral_edema": optional(st.sampled_from(["none", "focal", "diffuse"])),
    }
)


@given(st.lists(visits, min_size=1, max_size=8))
def test_icans_scalar_equals_vectorised(rows):
    schema = {
        "ice_score": pl.Int64,
        "consciousness": pl.Utf8,
        "seizure": pl.Utf8,
        "motor_weakness": pl.Int64,
        "cerebral_edema": pl.Utf8,
    }
    out = remission.score("icans", pl.DataFrame(rows, schema=schema))
    for i, row in enumerate(rows):
        scalar = score_visit(row)
        assert out["icans_grade"][i] == scalar["icans_grade"]
        assert out["icans_explain"][i] == scalar["icans_explain"]
        assert out["icans_missing"][i] == scalar["icans_missing"]


@given(visits, st.integers(0, 10))
def test_icans_lower_ice_never_lowers_grade(visit, lower):
    if visit["ice_score"] is None or lower > visit["ice_score"]:
        return
    before, after = (
        score_visit(visit)["icans_grade"],
        score_visit({**visit, "ice_score": lower})["icans_grade"],
    )
    if before is not None and after is not None:
        assert after >= before
