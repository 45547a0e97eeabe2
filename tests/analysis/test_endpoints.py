"""Endpoint summaries. Medians and quartiles are computed by hand with the type-7 rule
(h = (n − 1)p, value = x[floor h] + (h − floor h)(x[floor h + 1] − x[floor h]), 0-based)."""

from __future__ import annotations

import polars as pl
import pytest

from remission.analysis.endpoints import (
    BinarySummary,
    Endpoint,
    derive_change_from_baseline,
    endpoint_table,
    follow_up_days,
    summarise_binary,
    summarise_continuous,
    summarise_follow_up,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # n = 5: median x2 = 5; q1 h = 1 → 3; q3 h = 3 → 7; range 1–9
        ([1, 3, 5, 7, 9], (5.0, 3.0, 7.0, 1.0, 9.0)),
        # n = 4 sorted 2,4,10,20: median h = 1.5 → 4 + 0.5·6 = 7; q1 h = 0.75 → 2 + 0.75·2 = 3.5;
        # q3 h = 2.25 → 10 + 0.25·10 = 12.5
        ([20, 2, 10, 4], (7.0, 3.5, 12.5, 2.0, 20.0)),
        # missing values are left out: 0, 0, 4 → median 0, q1 0, q3 h = 1.5 → 0 + 0.5·4 = 2
        ([0, None, 0, 4], (0.0, 0.0, 2.0, 0.0, 4.0)),
        ([6], (6.0, 6.0, 6.0, 6.0, 6.0)),
    ],
    ids=["odd", "even", "missing", "single"],
)
def test_continuous_by_hand(values: list[float | None], expected: tuple[float, ...]) -> None:
    s = summarise_continuous(values)
    assert (s.median, s.q1, s.q3, s.minimum, s.maximum) == expected


def test_continuous_empty_is_a_dash() -> None:
    assert summarise_continuous([None]).text() == "—"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ([1, 1, 0, None], "2/3 (67%)"),  # missing is not counted in N
        ([1, 0], "1/2 (50%)"),
        ([1, 0, 0, 0, 0, 0, 0, 0], "1/8 (13%)"),  # 12.5 % rounds half away from zero → 13
        ([None, None], "0/0"),
        ([True, False, "1"], "2/3 (67%)"),
    ],
    ids=["missing", "half", "half-away", "none-known", "booleans"],
)
def test_binary_text(values: list[object], text: str) -> None:
    assert summarise_binary(values).text() == text


def test_binary_percent() -> None:
    assert BinarySummary(3, 4).percent == 75.0 and BinarySummary(0, 0).percent is None


def test_change_from_baseline_by_hand() -> None:
    visits = pl.DataFrame(
        {"patient_id": ["A", "A", "A", "B", "B"], "day": [-7, 90, 180, -3, 90], "v": [20, 15, None, 0, 2]}
    )
    out = derive_change_from_baseline(visits, "v")
    # A: baseline 20 → −5 (−25 %), missing stays missing; B: baseline 0 → +2, % empty (division by 0)
    assert out.select("v_change", "v_pct_change").rows() == [
        (0.0, 0.0),
        (-5.0, -25.0),
        (None, None),
        (0.0, None),
        (2.0, None),
    ]


def test_endpoint_table_marks_unavailable_rows() -> None:
    tp = pl.DataFrame({"timepoint": ["month 3", "month 3", "month 6"], "r": [1, None, 0], "s": [4.0, 2.0, 0.0]})
    table = endpoint_table(
        tp,
        [
            Endpoint("remission", "r"),
            Endpoint("score", "s", "continuous"),
            Endpoint("doris", "d", unavailable="doris not computed"),
        ],
        ["month 3", "month 6"],
    )
    assert table.rows() == [
        ("remission", "1/1 (100%)", "0/1 (0%)"),
        ("score", "3 (IQR 2.5 to 3.5; range 2 to 4)", "0 (IQR 0 to 0; range 0 to 0)"),
        ("doris", "not available: doris not computed", "not available: doris not computed"),
    ]


def test_follow_up_is_latest_record_day() -> None:
    a = pl.DataFrame({"patient_id": ["A", "B"], "day": [-7, 200]})
    b = pl.DataFrame({"patient_id": ["A", "A"], "day": [365, 30]})
    assert follow_up_days(a, b).rows() == [("A", 365), ("B", 200)]


def test_follow_up_summary_in_months() -> None:
    # 182.625 d = 6 months, 365.25 = 12, 547.875 = 18, 730.5 = 24: median 15, IQR 10.5–19.5 (type 7)
    assert summarise_follow_up([182.625, 365.25, 547.875, 730.5]) == "15 months (range 6–24; IQR 10.5–19.5)"
