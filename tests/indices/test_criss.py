"""CRISS: Khanna 2016 coefficients with hand-computed probabilities, step 1, missing data."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission import InvalidInputError, score
from remission.indices import criss

BASE = {"mrss": 25, "fvc_pct_pred": 80, "ptga": 6, "mdga": 6, "haq_di": 1.5}
NO_EVENTS = {"renal_crisis": 0, "fvc_decline_ild": 0, "lv_failure": 0, "pah": 0}


def _pair(base: dict, now: dict, **options) -> pl.DataFrame:
    rows = [{"patient_id": "p", "day": -7, **base}, {"patient_id": "p", "day": 365, **now}]
    codes = list(dict.fromkeys(k for r in rows for k in r))
    table = pl.DataFrame({c: [r.get(c) for r in rows] for c in codes}, strict=False)
    return score("criss", table, **options)


# Hand computation with the Khanna 2016 model LP = −5.54 − 0.81ΔmRSS + 0.21ΔFVC − 0.40ΔPtGA
# − 0.44ΔMDGA − 3.41ΔHAQ, P = e^LP / (1 + e^LP) (probabilities by calculator from the LP).
HAND_CASES = [
    # Δ = −8, +2, −1, −2, −0.375: LP = −5.54 + 6.48 + 0.42 + 0.40 + 0.88 + 1.27875 = 3.91875
    ({"mrss": 17, "fvc_pct_pred": 82, "ptga": 5, "mdga": 4, "haq_di": 1.125}, 0.98052106, 1),
    # Δ = −5, 0, −1, −1, −0.25: LP = −5.54 + 4.05 + 0 + 0.40 + 0.44 + 0.8525 = 0.2025
    ({"mrss": 20, "fvc_pct_pred": 80, "ptga": 5, "mdga": 5, "haq_di": 1.25}, 0.55045271, 0),
    # no change: LP = −5.54
    (dict(BASE), 0.00391117, 0),
    # Δ = −5, 0, −1.5, −1, −0.25: LP = 0.4025 → P just below 0.60
    ({"mrss": 20, "fvc_pct_pred": 80, "ptga": 4.5, "mdga": 5, "haq_di": 1.25}, 0.59928816, 0),
    # as above with ΔFVC = +0.1: LP = 0.4235 → P just above 0.60
    ({"mrss": 20, "fvc_pct_pred": 80.1, "ptga": 4.5, "mdga": 5, "haq_di": 1.25}, 0.60432047, 1),
]


@pytest.mark.parametrize(
    ("now", "probability", "improved"),
    HAND_CASES,
    ids=[
        "published-example-P",
        "below-threshold",
        "no-change",
        "just-below-0.60",
        "just-above-0.60",
    ],
)
def test_criss_against_khanna_2016_hand_computation(now, probability, improved):
    out = _pair(BASE, {**now, **NO_EVENTS})
    assert out["criss_probability"][1] == pytest.approx(probability, abs=1e-8)
    assert out["criss_improved"][1] == improved
    assert out["criss_probability"][0] is None and out["criss_improved"][0] is None


def test_criss_explain_lists_each_delta_and_lp():
    out = _pair(BASE, {**HAND_CASES[0][0], **NO_EVENTS})
    # contributions: −0.81·−8 = 6.48 ... and LP 3.91875 rounded to 4 decimals
    assert out["criss_explain"][1] == (
        "Δmrss=-8 (+6.48); Δfvc_pct_pred=2 (+0.42); Δptga=-1 (+0.4); Δmdga=-2 (+0.88); "
        "Δhaq_di=-0.375 (+1.2788); LP=3.9188"
    )


@pytest.mark.parametrize("event", list(NO_EVENTS), ids=list(NO_EVENTS))
def test_step1_event_gives_probability_zero(event):
    out = _pair(BASE, {**HAND_CASES[0][0], **NO_EVENTS, event: 1})
    assert out["criss_probability"][1] == 0.0
    assert out["criss_improved"][1] == 0
    assert out["criss_explain"][1] == f"step 1: {event}"


def test_step1_event_decides_even_with_missing_measures():
    out = _pair(
        BASE,
        {
            "mrss": None,
            "fvc_pct_pred": None,
            "ptga": 5,
            "mdga": 4,
            "haq_di": 1,
            **NO_EVENTS,
            "pah": 1,
        },
    )
    assert out["criss_probability"][1] == 0.0
    assert out["criss_improved"][1] == 0


def test_event_recorded_earlier_is_carried_forward():
    rows = {
        "patient_id": ["p", "p", "p"],
        "day": [-7, 90, 180],
        "mrss": [25, 20, 17],
        "fvc_pct_pred": [80, 81, 82],
        "ptga": [6, 5, 5],
        "mdga": [6, 5, 4],
        "haq_di": [1.5, 1.25, 1.125],
        "renal_crisis": [0, 1, 0],
        "fvc_decline_ild": [0, 0, 0],
        "lv_failure": [0, 0, 0],
        "pah": [0, 0, 0],
    }
    out = score("criss", pl.DataFrame(rows))
    assert out["criss_probability"].to_list()[1:] == [0.0, 0.0]
    assert out["criss_explain"][2] == "step 1: renal_crisis (recorded at an earlier visit)"


MISSING_CASES = [
    # mdga missing now (Δ in [−6, 4]); other Δ = 0: LP ≤ −5.54 + 0.44·6 = −2.90 → P < 0.6
    (dict(BASE, mdga=None), None, 0),
    # example P with mdga missing: LP ≥ 3.03875 − 0.44·4 = 1.27875 → P ≥ 0.78 → improved
    ({"mrss": 17, "fvc_pct_pred": 82, "ptga": 5, "mdga": None, "haq_di": 1.125}, None, 1),
    # mdga missing with LP from the others = −0.2375 + [−1.76, 2.64]: undecided
    ({"mrss": 20, "fvc_pct_pred": 80, "ptga": 5, "mdga": None, "haq_di": 1.25}, None, None),
]


@pytest.mark.parametrize(
    ("now", "probability", "improved"),
    MISSING_CASES,
    ids=["cannot-reach", "already-reached", "undecided"],
)
def test_missing_measure_bounds(now, probability, improved):
    out = _pair(BASE, {**now, **NO_EVENTS})
    assert out["criss_probability"][1] is probability
    assert out["criss_improved"][1] == improved
    assert out["criss_missing"][1] == "mdga"


def test_missing_event_leaves_probability_empty_unless_absent():
    now = {**HAND_CASES[0][0], **NO_EVENTS, "renal_crisis": None}
    out = _pair(BASE, now)
    assert out["criss_probability"][1] is None
    assert out["criss_improved"][1] is None
    assert out["criss_missing"][1] == "renal_crisis"
    absent = _pair(BASE, now, missing="absent")
    assert absent["criss_probability"][1] == pytest.approx(0.98052106, abs=1e-8)


def test_rows_before_baseline_and_without_baseline_are_empty():
    table = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "day": [-30, -7, 30],
            **{k: [v, v, v] for k, v in BASE.items()},
            **{k: [0, 0, 0] for k in NO_EVENTS},
        }
    )
    out = score("criss", table)
    assert out["criss_probability"].to_list() == [None, None, None]
    assert out["criss_explain"].to_list() == [
        "before baseline: not scored",
        None,
        "no baseline assessment for this patient",
    ]


def test_out_of_range_is_an_error():
    with pytest.raises(InvalidInputError, match=r"row 2, column haq_di: value 3\.5"):
        _pair(BASE, {**BASE, "haq_di": 3.5, **NO_EVENTS})


measure = st.one_of(st.none(), st.floats(0, 10, allow_nan=False))
event = st.sampled_from([None, 0, 1])


@given(
    base=st.fixed_dictionaries(
        {
            "mrss": st.integers(0, 51),
            "fvc_pct_pred": st.floats(30, 130),
            "ptga": measure,
            "mdga": st.floats(0, 10),
            "haq_di": st.floats(0, 3),
        }
    ),
    now=st.fixed_dictionaries(
        {
            "mrss": st.one_of(st.none(), st.integers(0, 51)),
            "fvc_pct_pred": st.floats(30, 130),
            "ptga": measure,
            "mdga": measure,
            "haq_di": st.floats(0, 3),
            **{k: event for k in NO_EVENTS},
        }
    ),
)
def test_scalar_equals_vectorised(base, now):
    out = _pair(base, now)
    scalar = criss.score_visit(now, base)
    for code in criss.OUTPUTS:
        got = out[code][1]
        if isinstance(got, float):
            assert scalar[code] == pytest.approx(got, rel=1e-12, abs=1e-15)
        else:
            assert scalar[code] == got, code
    if got_p := out["criss_probability"][1]:
        assert 0.0 <= got_p <= 1.0


@given(drop=st.floats(0, 20), more=st.floats(0, 20))
def test_probability_rises_as_mrss_falls(drop, more):
    low = _pair({**BASE, "mrss": 45}, {**BASE, "mrss": 45 - drop, **NO_EVENTS})
    high = _pair({**BASE, "mrss": 45}, {**BASE, "mrss": 45 - drop - more, **NO_EVENTS})
    assert high["criss_probability"][1] >= low["criss_probability"][1]
    assert math.isfinite(high["criss_probability"][1])
