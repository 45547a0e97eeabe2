"""ICAHT (EHA/EBMT 2023, Rejeski 2023); worked series by hand from ../shared/specs/icaht.md."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices.icaht import score_patient


def daily(values: dict[range, float]) -> list[tuple[int, float]]:
    return [(d, v) for days, v in values.items() for d in days]


# Each case: measurements (day, ANC), expected (early grade, late grade, days ≤ 0.5, days ≤ 0.1).
CASES = {
    "never_neutropenic": ([(0, 2.0), (10, 3.0), (35, 2.5)], (0, 0, 0, 0)),
    "one_day": ([(0, 2.0), (3, 0.4), (4, 1.0), (35, 2.0)], (1, 0, 1, 0)),
    "six_days": (daily({range(0, 2): 2.0, range(2, 8): 0.3, range(8, 9): 1.2}), (1, None, 6, 0)),
    "seven_days": (daily({range(0, 1): 2.0, range(1, 8): 0.3, range(8, 9): 1.2}), (2, None, 7, 0)),
    # runs days 2–6 and 9–14 separated by 2 recovery days (7, 8) → joined 2–14 = 13 days → 2
    "joined_two_day_gap": ([(0, 2.0), (2, 0.4), (7, 0.8), (9, 0.3), (15, 1.5)], (2, None, 13, 0)),
    # the same with 3 recovery days (7, 8, 9): runs 5 and 6 days stay apart → longest 6 → 1
    "split_three_day_gap": ([(0, 2.0), (2, 0.4), (7, 0.8), (10, 0.3), (16, 1.5)], (1, None, 6, 0)),
    "fourteen_days": ([(0, 0.4), (14, 0.6)], (3, None, 14, 0)),
    # ≤ 0.1 for 7 days (grade 3 by the second column) within 8 days ≤ 0.5
    "profound_seven": ([(0, 1.0), (1, 0.05), (8, 0.3), (9, 2.0)], (3, None, 8, 7)),
    "profound_fourteen": ([(0, 0.05), (14, 0.3), (15, 2.0)], (4, None, 15, 14)),
    # ≤ 0.5 on every day 0–30 → 31 days → 4 (the day-31 measurement extends the series to day 30);
    # late: only one measurement ≤ 1.5 in days 31–100 → 0
    "all_31_days": ([(0, 0.3), (31, 0.4)], (4, 0, 31, 0)),
    "all_31_days_late_two": ([(0, 0.3), (31, 0.4), (50, 1.1)], (4, 3, 31, 0)),
    # run from day 5 still open at day 30: graded by its length 26 → 3 (not 4)
    "open_at_day_30": ([(0, 1.0), (5, 0.3), (40, 0.3)], (3, 0, 26, 0)),  # one late value ≤ 1.5 only
    # series ends at the last measurement (day 10) when none falls after day 30
    "ends_at_last": ([(0, 1.0), (6, 0.2), (10, 0.2)], (1, None, 5, 0)),
    "late_two_low": ([(0, 2.0), (45, 1.4), (60, 0.9)], (0, 2, 0, 0)),
    "late_one_low": ([(0, 2.0), (45, 1.4), (60, 2.0)], (0, 0, 0, 0)),
    "late_grade4": ([(0, 2.0), (45, 0.08), (60, 0.4)], (0, 4, 0, 0)),
    "late_grade3": ([(0, 2.0), (45, 0.5), (60, 0.9)], (0, 3, 0, 0)),
    "late_outside_window": ([(0, 2.0), (120, 0.2), (130, 0.2)], (0, None, 0, 0)),
}


@pytest.mark.parametrize(("points", "expected"), list(CASES.values()), ids=list(CASES))
def test_icaht_worked_series(points, expected):
    rows = [{"day": d, "anc_10e9_l": a} for d, a in points]
    scalar = score_patient(rows)
    got = (
        scalar["icaht_early_grade"],
        scalar["icaht_late_grade"],
        scalar["icaht_early_days_anc_le_0_5"],
        scalar["icaht_early_days_anc_le_0_1"],
    )
    assert got == expected
    frame = pl.DataFrame(
        {
            "patient_id": ["p"] * len(points),
            "day": [d for d, _ in points],
            "anc_10e9_l": [a for _, a in points],
        }
    )
    out = remission.score("icaht", frame)
    assert out.row(0)[:5] == ("p", *expected)


def test_icaht_one_row_per_patient_in_order_with_missing():
    frame = pl.DataFrame(
        {
            "patient_id": ["b", "a", "b", "c", "a"],
            "day": [0, 0, 5, 3, 31],
            "anc_10e9_l": ["0.3", "2.0", "2.0", "", "1.0"],
        }
    )
    out = remission.score("icaht", frame)
    assert out["patient_id"].to_list() == ["b", "a", "c"]
    assert out["icaht_early_grade"].to_list() == [1, 0, None]  # c has no measurement
    assert out["icaht_late_grade"].to_list() == [None, 0, None]  # a: one value ≤ 1.5 only


def test_icaht_unknown_first_days_make_grade_empty_only_when_they_matter():
    # First measurement on day 3: days 0–2 unknown. ANC 0.3 from day 3 to 20 = 18 days (grade 3);
    # with days 0–2 also ≤ 0.1 it would be 21 days, still 3 → grade given, days empty.
    r = score_patient([{"day": 3, "anc_10e9_l": 0.3}, {"day": 21, "anc_10e9_l": 2.0}])
    assert (r["icaht_early_grade"], r["icaht_early_days_anc_le_0_5"]) == (3, None)
    # ANC 0.3 on days 3–7 (5 days, grade 1) vs up to 8 days (grade 2) → empty.
    r = score_patient([{"day": 3, "anc_10e9_l": 0.3}, {"day": 8, "anc_10e9_l": 2.0}])
    assert r["icaht_early_grade"] is None


def test_icaht_error_names_row():
    frame = pl.DataFrame({"patient_id": ["a", "a"], "day": [0, 1], "anc_10e9_l": [1.0, -0.1]})
    with pytest.raises(remission.InvalidInputError, match=r"row 2, column anc_10e9_l: value -0\.1"):
        remission.score("icaht", frame)


series = st.lists(
    st.tuples(
        st.integers(-5, 110),
        st.one_of(st.none(), st.sampled_from([0.05, 0.1, 0.3, 0.5, 0.8, 1.2, 2.0])),
    ),
    min_size=1,
    max_size=25,
)


@given(st.lists(series, min_size=1, max_size=4))
def test_icaht_scalar_equals_vectorised(patients):
    rows = [(f"p{i}", d, a) for i, pts in enumerate(patients) for d, a in pts]
    frame = pl.DataFrame(
        rows,
        schema={"patient_id": pl.Utf8, "day": pl.Int64, "anc_10e9_l": pl.Float64},
        orient="row",
    )
    out = remission.score("icaht", frame)
    for i, pts in enumerate(patients):
        scalar = score_patient([{"day": d, "anc_10e9_l": a} for d, a in pts])
        row = out.filter(pl.col("patient_id") == f"p{i}").row(0, named=True)
        for key in (
            "icaht_early_grade",
            "icaht_late_grade",
            "icaht_early_days_anc_le_0_5",
            "icaht_early_days_anc_le_0_1",
            "icaht_explain",
        ):
            assert row[key] == scalar[key], key
        if row["icaht_early_grade"] is not None:
            assert 0 <= row["icaht_early_grade"] <= 4


@given(series, st.integers(0, 24))
def test_icaht_lower_anc_never_lowers_early_grade(points, index):
    known = [(d, a) for d, a in points if a is not None]
    if not known:
        return
    index %= len(known)
    worse = [(d, 0.05 if i == index else a) for i, (d, a) in enumerate(known)]
    before = score_patient([{"day": d, "anc_10e9_l": a} for d, a in known])["icaht_early_grade"]
    after = score_patient([{"day": d, "anc_10e9_l": a} for d, a in worse])["icaht_early_grade"]
    if before is not None and after is not None:
        assert after >= before
