"""SSc change from baseline: change, meaningful mRSS improvement, visit windows, cohort summary."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission import InvalidInputError
from remission.analysis.ssc_change import (
    VisitWindows,
    assign_visit_months,
    derive_change_from_baseline,
    derive_mrss_improvement,
    summarise_change_by_month,
)


def test_change_and_percent_by_hand():
    t = pl.DataFrame(
        {
            "patient_id": ["a"] * 4,
            "day": [-30, -2, 90, 180],
            "eustar_ai": [5.0, 4.0, 2.5, None],
            "mrss": [30, 24, 18, 26],
        }
    )
    out = derive_change_from_baseline(t)
    # baseline = day −2 (latest ≤ 0); day −30 is before baseline → empty
    assert out["eustar_ai_change"].to_list() == [None, 0.0, -1.5, None]
    assert out["eustar_ai_pct_change"].to_list() == [None, 0.0, -37.5, None]
    assert out["mrss_change"].to_list() == [None, 0.0, -6.0, 2.0]
    assert out["mrss_pct_change"].to_list() == [None, 0.0, -25.0, 8.3333]  # 2/24 = 8.3333 %
    assert out["mrss_baseline"].to_list() == [None, 24.0, 24.0, 24.0]


def test_marked_baseline_and_zero_baseline():
    t = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a"],
            "day": [-30, -2, 60],
            "baseline": [1, 0, 0],
            "mrss": [0, 4, 6],
        }
    )
    out = derive_change_from_baseline(t, ["mrss"])
    assert out["mrss_change"].to_list() == [0.0, 4.0, 6.0]
    assert out["mrss_pct_change"].to_list() == [None, None, None]  # baseline 0: undefined


# (baseline, now, improved): ≥ 5 points and ≥ 25 % (Khanna 2006), both inclusive.
IMPROVEMENT = [
    (20, 15, 1),
    (24, 19, 0),
    (12, 8, 0),
    (40, 30, 1),
    (20, 16, 0),
    (0, 0, 0),
    (20, None, None),
]


@pytest.mark.parametrize(
    ("base", "now", "improved"),
    IMPROVEMENT,
    ids=["5pts-25pct", "5pts-20.8pct", "4pts-33pct", "10pts", "4pts", "zero", "missing"],
)
def test_meaningful_mrss_improvement(base, now, improved):
    t = pl.DataFrame({"patient_id": ["a", "a"], "day": [0, 180], "mrss": [base, now]}, strict=False)
    out = derive_mrss_improvement(t)
    assert out["mrss_improved"].to_list() == [None, improved]


def test_improvement_thresholds_are_parameters():
    t = pl.DataFrame({"patient_id": ["a", "a"], "day": [0, 180], "mrss": [20, 16]})
    assert derive_mrss_improvement(t, min_points=4, min_percent=20)["mrss_improved"][1] == 1


@pytest.mark.parametrize(
    ("month", "target", "half"),
    [(1, 30, 14), (3, 91, 14), (4, 122, 30), (6, 183, 30), (12, 365, 30), (24, 731, 30)],
)
def test_target_days_round_30_4375_m(month, target, half):
    # 30.4375·m: 30.4375, 91.3125, 121.75, 182.625, 365.25, 730.5 (half rounded up)
    w = VisitWindows()
    assert (w.target_day(month), w.half_width(month)) == (target, half)


def test_window_edges_and_nearest_with_tie_rule():
    t = pl.DataFrame({"patient_id": ["a"] * 5 + ["b"] * 2, "day": [0, 105, 152, 184, 186, 0, 106]})
    out = assign_visit_months(t, [3, 4, 6])
    got = {(r["patient_id"], r["month"]): r["day"] for r in out.iter_rows(named=True)}
    # a: month 3 (91 ± 14) takes 105 (+14, the edge); month 4 (122 ± 30): 105 (−17) is nearer
    # than 152 (+30); month 6 (183 ± 30): 184 (+1); 152 (−31) is outside.
    # b: 106 is 15 days from 91 → no month 3; month 4: 106 (−16).
    assert got == {("a", 3): 105, ("a", 4): 105, ("a", 6): 184, ("b", 4): 106}
    tie = assign_visit_months(pl.DataFrame({"patient_id": ["c", "c"], "day": [180, 186]}), [6])
    assert tie["day"].to_list() == [180]  # both 3 days from 183: the earlier (WindowRule default, as in the report)
    later = assign_visit_months(
        pl.DataFrame({"patient_id": ["c", "c"], "day": [180, 186]}), [6], windows=VisitWindows(tie="later")
    )
    assert later["day"].to_list() == [186]


def test_windows_are_parameters():
    t = pl.DataFrame({"patient_id": ["a"], "day": [106]})
    wide = VisitWindows(early_half_width=21)
    assert assign_visit_months(t, [3], windows=wide)["day"].to_list() == [106]


def test_bad_month_is_an_error():
    with pytest.raises(InvalidInputError, match="column months: value 0"):
        assign_visit_months(pl.DataFrame({"patient_id": ["a"], "day": [1]}), [0])


def test_summary_median_iqr_per_cohort_by_hand():
    t = pl.DataFrame(
        {
            "disease": ["ssc"] * 8 + ["myositis"] * 2,
            "patient_id": [*list("aabbccdd"), "e", "e"],
            "day": [0, 180, 0, 185, 0, 170, 0, 400, 0, 175],
            "mrss": [20, 10, 30, 27, 16, 12, 20, 20, 8, 6],
            "eustar_ai": [4.0, 1.0, 3.0, 2.5, 2.0, 2.0, 1.0, 1.0, 2.0, 0.0],
        }
    )
    out = summarise_change_by_month(t, months=[6])
    ssc = out.filter(pl.col("disease") == "ssc")
    # month 6 (183 ± 30): a, b, c; d's day 400 is outside. mRSS changes −10, −3, −4:
    # median −4, Q1 −7 (linear between −10 and −4), Q3 −3.5.
    mrss_row = ssc.filter(pl.col("measure") == "mrss").row(0, named=True)
    assert (
        mrss_row["n"],
        mrss_row["change_median"],
        mrss_row["change_q1"],
        mrss_row["change_q3"],
    ) == (3, -4.0, -7.0, -3.5)
    assert mrss_row["change_text"] == "-4 (-7 to -3.5)"
    # % changes −50, −10, −25 → median −25
    assert mrss_row["pct_change_median"] == -25.0
    # EUSTAR-AI changes −3, −0.5, 0 → median −0.5
    assert ssc.filter(pl.col("measure") == "eustar_ai")["change_median"].to_list() == [-0.5]
    myo = out.filter(pl.col("disease") == "myositis")
    assert myo["n"].to_list() == [1, 1]
    assert out["measure"].to_list()[:2] == ["eustar_ai", "mrss"]


def test_missing_cohort_column_is_an_error():
    with pytest.raises(InvalidInputError, match="column disease"):
        summarise_change_by_month(pl.DataFrame({"patient_id": ["a"], "day": [0], "mrss": [1]}))


@given(base=st.integers(1, 51), now=st.integers(0, 51))
def test_change_properties(base, now):
    t = pl.DataFrame({"patient_id": ["a", "a"], "day": [0, 90], "mrss": [base, now]})
    out = derive_mrss_improvement(derive_change_from_baseline(t, ["mrss"]))
    assert out["mrss_change"][1] == now - base
    assert out["mrss_pct_change"][1] == pytest.approx(100 * (now - base) / base, abs=5e-5)
    if out["mrss_improved"][1] == 1:
        assert base - now >= 5
