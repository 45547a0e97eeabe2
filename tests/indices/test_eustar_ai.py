"""EUSTAR-AI: Valentini 2017 weights by hand, strict thresholds, CRP units, missing data."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission import InvalidInputError, score
from remission.indices import eustar_ai

QUIET = {
    "delta_skin": 0,
    "mrss": 10,
    "digital_ulcers": 0,
    "tendon_friction_rubs": 0,
    "crp_mg_l": 2,
    "dlco_pct_pred": 90,
}


def _one(**cells) -> dict:
    row = {**QUIET, **cells}
    frame = pl.DataFrame({k: [v] for k, v in row.items() if v is not ...}, strict=False)
    return score("eustar-ai", frame).row(0, named=True)


# Hand sums of the Valentini 2017 weights (Δskin 1.5, mRSS > 18 1.5, DU 1.5, TFR 2.25,
# CRP > 10 mg/L 2.25, DLCO < 70 % 1.0).
CASES = [
    ({}, 0.0, 0),
    ({"mrss": 18, "crp_mg_l": 10, "dlco_pct_pred": 70}, 0.0, 0),  # every threshold is strict
    ({"mrss": 19}, 1.5, 0),
    ({"crp_mg_l": 10.1}, 2.25, 0),
    ({"dlco_pct_pred": 69.9}, 1.0, 0),
    ({"mrss": 18.5, "dlco_pct_pred": 69}, 2.5, 1),  # 2.5 is active
    ({"tendon_friction_rubs": 1}, 2.25, 0),
    ({"delta_skin": 1, "digital_ulcers": 1}, 3.0, 1),
    (
        {
            "delta_skin": 1,
            "mrss": 30,
            "digital_ulcers": 1,
            "tendon_friction_rubs": 1,
            "crp_mg_l": 25,
            "dlco_pct_pred": 50,
        },
        10.0,
        1,
    ),
]


@pytest.mark.parametrize(
    ("cells", "total", "active"),
    CASES,
    ids=[
        "none",
        "edges",
        "mrss19",
        "crp10.1",
        "dlco69.9",
        "active-2.5",
        "tfr",
        "skin-ulcers",
        "all",
    ],
)
def test_eustar_ai_against_hand_sum(cells, total, active):
    row = _one(**cells)
    assert (row["eustar_ai"], row["eustar_ai_active"]) == (total, active)


def test_crp_in_mg_dl_is_converted():
    assert _one(crp_mg_l=None, crp_mg_dl=1.0)["eustar_ai"] == 0.0  # 10 mg/L, strict
    row = _one(crp_mg_l=None, crp_mg_dl=1.1)
    assert row["eustar_ai"] == 2.25
    assert row["eustar_ai_explain"] == "crp_mg_l=2.25 (11 > 10, derived: crp_mg_dl=1.1)"


def test_crp_in_both_units_consistent_is_accepted():
    assert _one(crp_mg_l=15, crp_mg_dl=1.5)["eustar_ai"] == 2.25


def test_crp_in_both_units_inconsistent_is_an_error():
    with pytest.raises(InvalidInputError, match="row 1, column crp_mg_dl: value 15: disagrees"):
        _one(crp_mg_l=15, crp_mg_dl=15)


def test_missing_item_empties_the_sum_but_not_a_decided_activity():
    row = _one(delta_skin=1, digital_ulcers=1, dlco_pct_pred=None)
    assert row["eustar_ai"] is None
    assert row["eustar_ai_active"] == 1  # 3.0 known
    assert row["eustar_ai_missing"] == "dlco_pct_pred"
    low = _one(dlco_pct_pred=None)  # 0 known, at most 1.0
    assert low["eustar_ai_active"] == 0
    open_ = _one(tendon_friction_rubs=None, crp_mg_l=None)  # 0 known, up to 4.5
    assert open_["eustar_ai_active"] is None


def test_missing_absent_scores_missing_items_as_absent():
    frame = pl.DataFrame({"mrss": [25.0], "delta_skin": [None]}, strict=False)
    out = score("eustar-ai", frame, missing="absent", allow_missing_columns=True)
    assert out["eustar_ai"].to_list() == [1.5]


def test_out_of_range_mrss_is_an_error():
    with pytest.raises(InvalidInputError, match="column mrss: value 52"):
        _one(mrss=52)


flag = st.sampled_from([None, 0, 1])
cells = st.fixed_dictionaries(
    {
        "delta_skin": flag,
        "digital_ulcers": flag,
        "tendon_friction_rubs": flag,
        "mrss": st.one_of(st.none(), st.integers(0, 51)),
        "crp_mg_l": st.one_of(st.none(), st.floats(0, 50).map(lambda x: round(x, 1))),
        "dlco_pct_pred": st.one_of(st.none(), st.integers(30, 120)),
    }
)


@given(visit=cells, missing=st.sampled_from(["empty", "absent"]))
def test_scalar_equals_vectorised(visit, missing):
    frame = pl.DataFrame({k: [v] for k, v in visit.items()}, strict=False)
    row = score("eustar-ai", frame, missing=missing).row(0, named=True)
    scalar = eustar_ai.score_visit(visit, missing=missing)
    for code in eustar_ai.OUTPUTS:
        assert scalar[code] == row[code], code
    if row["eustar_ai"] is not None:
        assert 0 <= row["eustar_ai"] <= 10
        assert row["eustar_ai"] * 4 == int(row["eustar_ai"] * 4)  # steps of 0.25


@given(visit=cells, item=st.sampled_from(["delta_skin", "digital_ulcers", "tendon_friction_rubs"]))
def test_adding_an_item_never_lowers_the_score(visit, item):
    before = eustar_ai.score_visit({**visit, item: 0}, missing="absent")["eustar_ai"]
    after = eustar_ai.score_visit({**visit, item: 1}, missing="absent")["eustar_ai"]
    assert after >= before
