"""mRSS: 17-area sum (Clements 1995), proximal involvement, missing areas, validation."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission import InvalidInputError, score
from remission.indices import mrss

NORMAL = dict.fromkeys(mrss.CODES, 0)


def _one(**cells) -> dict:
    row = {**NORMAL, **cells}
    return score("mrss", pl.DataFrame({k: [v] for k, v in row.items()}, strict=False)).row(0, named=True)


# Hand sums; proximal areas = upper arms, thighs, anterior chest, abdomen (spec).
CASES = [
    ({}, 0, 0),
    (dict.fromkeys(mrss.CODES, 3), 51, 1),
    ({"mrss_fingers_r": 3, "mrss_fingers_l": 3, "mrss_hand_dorsum_r": 2, "mrss_face": 1}, 9, 0),
    ({"mrss_forearm_r": 2, "mrss_forearm_l": 2, "mrss_lower_leg_r": 1}, 5, 0),  # limited
    ({"mrss_thigh_r": 1}, 1, 1),
    ({"mrss_abdomen": 2, "mrss_anterior_chest": 1, "mrss_upper_arm_l": 1}, 4, 1),
]


@pytest.mark.parametrize(
    ("cells", "total", "proximal"),
    CASES,
    ids=["normal", "maximum", "acral", "forearms", "thigh", "trunk"],
)
def test_mrss_against_hand_sum(cells, total, proximal):
    row = _one(**cells)
    assert (row["mrss"], row["mrss_proximal"]) == (total, proximal)


def test_explain_lists_thickened_areas():
    assert _one(mrss_face=1, mrss_thigh_l=2)["mrss_explain"] == "mrss_face=1; mrss_thigh_l=2 (proximal)"


def test_missing_area_empties_the_total_without_proration():
    row = _one(mrss_face=None)
    assert row["mrss"] is None and row["mrss_missing"] == "mrss_face"
    assert row["mrss_proximal"] == 0  # the six proximal areas are known and 0


def test_missing_proximal_area():
    assert _one(mrss_thigh_r=None)["mrss_proximal"] is None
    assert _one(mrss_thigh_r=None, mrss_abdomen=1)["mrss_proximal"] == 1


@pytest.mark.parametrize(("value", "reason"), [(4, "out of range"), (1.5, "whole number")], ids=["four", "half"])
def test_invalid_grade_is_an_error(value, reason):
    with pytest.raises(InvalidInputError, match=f"row 1, column mrss_face: value {value}: .*{reason}"):
        _one(mrss_face=value)


grades = st.fixed_dictionaries({c: st.one_of(st.none(), st.integers(0, 3)) for c in mrss.CODES})


@given(visit=grades)
def test_scalar_equals_vectorised(visit):
    row = score(
        "mrss",
        pl.DataFrame({k: [v] for k, v in visit.items()}, schema=dict.fromkeys(visit, pl.Int64)),
    ).row(0, named=True)
    scalar = mrss.score_visit(visit)
    for code in mrss.OUTPUTS:
        assert scalar[code] == row[code], code
    if row["mrss"] is not None:
        assert 0 <= row["mrss"] <= 51
