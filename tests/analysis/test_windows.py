"""Visit windows (report.md): target day round(30.4375 × m), nearest assessment within ±14 days
(m ≤ 3) or ±30 days (m > 3). Expected values are worked out by hand from that rule."""

from __future__ import annotations

import polars as pl
import pytest

from remission.analysis.windows import (
    WindowRule,
    assign_windows,
    baseline_visits,
    derive_timepoints,
    last_visits,
)


@pytest.mark.parametrize(
    ("month", "target"),
    [
        (1, 30),  # 30.4375 → 30
        (3, 91),  # 91.3125 → 91
        (6, 183),  # 182.625 → 183
        (8, 244),  # 243.5 → 244 (half away from zero)
        (12, 365),  # 365.25 → 365
        (18, 548),  # 547.875 → 548
        (24, 731),  # 730.5 → 731 (half away from zero; Python's round would give 730)
    ],
    ids=lambda v: str(v),
)
def test_target_day_by_hand(month: int, target: int) -> None:
    assert WindowRule().target_day(month) == target


def _one(days: list[int], month: int, **rule: object) -> int | None:
    visits = pl.DataFrame({"patient_id": ["A"] * len(days), "day": days})
    out = assign_windows(visits, [month], WindowRule(**rule))  # type: ignore[arg-type]
    return None if out.is_empty() else int(out["day"][0])


@pytest.mark.parametrize(
    ("days", "month", "expected"),
    [
        ([91 - 14], 3, 77),  # exactly −14 days: inside (inclusive)
        ([91 + 14], 3, 105),  # exactly +14 days: inside
        ([91 - 15], 3, None),  # −15: outside the ±14 window of month 3
        ([91 + 15], 3, None),
        ([183 - 30], 6, 153),  # exactly −30 days: inside for month 6
        ([183 + 30], 6, 213),
        ([183 + 31], 6, None),  # +31: outside
        ([122 + 30], 4, 152),  # month 4 already uses ±30 (m > 3)
        ([183 - 31], 6, None),  # day 152: −31, outside month 6 by one day
        ([365 - 30, 365 + 31], 12, 335),  # month 12: −30 inside, +31 outside
        ([365 - 31], 12, None),
        ([365 + 30], 12, 395),
        ([86, 96], 3, 86),  # tie at distance 5: the earlier one by default (does not favour response)
        ([183 - 5, 183 + 5], 6, 178),
        ([80, 95, 100], 3, 95),  # nearest wins (distance 4)
        ([], 3, None),
    ],
    ids=[
        "m3-minus14",
        "m3-plus14",
        "m3-minus15",
        "m3-plus15",
        "m6-minus30",
        "m6-plus30",
        "m6-plus31",
        "m4-wide-window",
        "m6-day152-minus31",
        "m12-minus30-in-plus31-out",
        "m12-minus31",
        "m12-plus30",
        "tie-earlier-default",
        "tie-earlier-m6",
        "nearest",
        "no-visit",
    ],
)
def test_window_edges(days: list[int], month: int, expected: int | None) -> None:
    assert _one(days, month) == expected


def test_tie_later_is_a_parameter() -> None:
    assert _one([86, 96], 3, tie="later") == 96


def test_one_row_per_patient_and_month_and_other_columns_kept() -> None:
    visits = pl.DataFrame({"patient_id": ["A", "A", "B", "B"], "day": [90, 185, 100, 400], "score": [4, 0, 2, 1]})
    out = assign_windows(visits, [3, 6, 12])
    # A: month 3 → 90, month 6 → 185; B: month 3 → 100, month 12 (365 ± 30) → none (400 is 35 away)
    assert out.select("patient_id", "month", "day", "score").rows() == [
        ("A", 3, 90, 4),
        ("A", 6, 185, 0),
        ("B", 3, 100, 2),
    ]


def test_baseline_is_latest_day_le_0_and_last_visit_latest_after() -> None:
    visits = pl.DataFrame({"patient_id": ["A", "A", "A", "A"], "day": [-30, 0, 45, 300]})
    assert baseline_visits(visits)["day"].to_list() == [0]
    assert last_visits(visits)["day"].to_list() == [300]


def test_timepoints_stack_baseline_months_last() -> None:
    visits = pl.DataFrame({"patient_id": ["A"] * 4, "day": [-7, 91, 180, 500]})
    out = derive_timepoints(visits, [3, 6, 12])
    assert out.select("timepoint", "day").rows() == [
        ("baseline", -7),
        ("month 3", 91),
        ("month 6", 180),
        ("last visit", 500),
    ]
