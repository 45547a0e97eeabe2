"""Imputation bounds (analysis/bounds.py): each partially dated record read at the other end of its
known period. Expected days are counted by hand from DAY0 = 2024-01-15 (day 0): 2024-05-31 is day
137 (16 + 29 + 31 + 30 + 31), 2024-05-01 day 107, 2024-05-20 day 126, 2024-03-31 day 76,
2024-02-01 day 17, 2024-02-29 day 45 (2024 is a leap year), 2024-01-01 day −14, 2024-12-31 day
351, 2023-06-01 day −228."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from remission.analysis.bounds import (
    Bounds,
    derive_first_day_bounds,
    derive_medication_bounds,
    derive_onset_bounds,
    derive_treatment_emergent_bounds,
    drug_free_stop_bounds,
    has_imputed_dates,
    opposite_medications,
    patients_with_changed_flags,
    responsible_medications,
    summarise_treatment_emergent_bounds,
    summary_with_bounds,
)
from remission.analysis.durations import derive_drug_free
from remission.analysis.endpoints import BinarySummary

DAY0 = date(2024, 1, 15)


def _day(when: date | None) -> int | None:
    return None if when is None else (when - DAY0).days


def _course(
    start_dtc: str | None,
    start_flag: str | None,
    start: date | None,
    stop_dtc: str | None,
    stop_flag: str | None,
    stop: date | None,
    drug: str = "prednisone",
    patient: str = "A",
) -> dict[str, object]:
    return {
        "patient_id": patient,
        "drug": drug,
        "start_date": start,
        "start_day": _day(start),
        "stop_date": stop,
        "stop_day": _day(stop),
        "start_dtc": start_dtc,
        "start_date_flag": start_flag,
        "stop_dtc": stop_dtc,
        "stop_date_flag": stop_flag,
        "source_key": f"CM/{patient}/{drug}/{start_dtc}",
    }


#: (id, course, expected (start_day_opposite, stop_day_opposite)), counted by hand.
MEDICATION_CASES = [
    (
        "complete dates: unchanged",
        _course("2023-06-01", None, date(2023, 6, 1), "2024-05-20", None, date(2024, 5, 20)),
        (-228, 126),
    ),
    (
        "end month: first day",
        _course("2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31)),
        (-228, 107),
    ),
    (
        "end year: 1 January",
        _course("2023-06-01", None, date(2023, 6, 1), "2024", "M", date(2024, 12, 31)),
        (-228, -14),
    ),
    ("start month, ongoing: last day", _course("2024-02", "D", date(2024, 2, 1), None, None, None), (45, None)),
    # start and end in May: the end on 1 May, the start not after it.
    (
        "start and end in one month",
        _course("2024-05", "D", date(2024, 5, 1), "2024-05", "D", date(2024, 5, 31)),
        (107, 107),
    ),
    # the end's month holds the exact start: the end is not moved before it.
    (
        "end month holds the exact start",
        _course("2024-05-20", None, date(2024, 5, 20), "2024-05", "D", date(2024, 5, 31)),
        (126, 126),
    ),
    # no start at all (no known period): stays empty; the end moves.
    ("unknown start", _course(None, None, None, "2024-05", "D", date(2024, 5, 31)), (None, 107)),
    # the text decides the period: "2024-03" although the stored end is 31 March.
    (
        "end month from the text",
        _course("2023-06-01", None, date(2023, 6, 1), "2024-03", "D", date(2024, 3, 31)),
        (-228, 46),
    ),
]


@pytest.mark.parametrize(
    ("course", "expected"), [c[1:] for c in MEDICATION_CASES], ids=[c[0] for c in MEDICATION_CASES]
)
def test_medication_opposite_days_counted_by_hand(
    course: dict[str, object], expected: tuple[int | None, int | None]
) -> None:
    row = derive_medication_bounds(pl.DataFrame([course], infer_schema_length=None)).row(0, named=True)
    assert (row["start_day_opposite"], row["stop_day_opposite"]) == expected


def test_without_any_flag_the_two_rules_agree() -> None:
    table = pl.DataFrame(
        [_course("2023-06-01", None, date(2023, 6, 1), None, None, None), _course(None, None, None, None, None, None)],
        infer_schema_length=None,
    )
    assert not has_imputed_dates(table, "start_date_flag", "stop_date_flag")
    assert opposite_medications(table).select("start_day", "stop_day").equals(table.select("start_day", "stop_day"))
    assert derive_medication_bounds(table)["imputed"].to_list() == [0, 0]


def test_opposite_medications_feed_the_drug_free_rule() -> None:
    # End "2024-05": stored day 137, opposite day 107. Visit on day 160: 23 vs 53 days free.
    meds = pl.DataFrame([_course("2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31))])
    visits = pl.DataFrame({"patient_id": ["A"], "day": [160]})
    assert derive_drug_free(visits, meds)["drug_free"].to_list() == [0]
    assert derive_drug_free(visits, opposite_medications(meds))["drug_free"].to_list() == [1]


def _event(dtc: str, flag: str | None, stored: date, patient: str = "A") -> dict[str, object]:
    return {
        "patient_id": patient,
        "term": "infection",
        "onset_date": stored,
        "onset_day": _day(stored),
        "onset_dtc": dtc,
        "onset_date_flag": flag,
    }


#: (id, event, (onset_day_opposite, TEAE reported, TEAE opposite)).
ONSET_CASES = [
    # the infusion month: stored on day 0 (not before the infusion), read on 1 January.
    ("infusion month", _event("2024-01", "D", DAY0), (-14, 1, 0)),
    ("infusion year", _event("2024", "M", DAY0), (-14, 1, 0)),
    ("month after", _event("2024-02", "D", date(2024, 2, 1)), (17, 1, 1)),
    ("month before", _event("2023-12", "D", date(2023, 12, 1)), (-45, 0, 0)),
    ("complete date", _event("2024-01-20", None, date(2024, 1, 20)), (5, 1, 1)),
    ("date and time", _event("2024-01-15T10:30", None, DAY0), (0, 1, 1)),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in ONSET_CASES], ids=[c[0] for c in ONSET_CASES])
def test_onset_and_treatment_emergent_bounds_by_hand(event: dict[str, object], expected: tuple[int, int, int]) -> None:
    row = derive_treatment_emergent_bounds(pl.DataFrame([event])).row(0, named=True)
    assert (row["onset_day_opposite"], row["treatment_emergent"], row["treatment_emergent_opposite"]) == expected


def test_treatment_emergent_counts() -> None:
    events = pl.DataFrame(
        [
            _event("2024-01", "D", DAY0, "A"),
            _event("2024-02", "D", date(2024, 2, 1), "A"),
            _event("2024-01", "D", DAY0, "B"),
            _event("2023-12", "D", date(2023, 12, 1), "C"),
        ]
    )
    # Reported: A (2), B → 3 events, 2 patients. Opposite: A's February only → 1 event, 1 patient.
    assert summarise_treatment_emergent_bounds(events) == (Bounds(3, 1), Bounds(2, 1))
    assert derive_onset_bounds(events)["imputed"].to_list() == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("reported", "opposite", "text"),
    [
        (BinarySummary(6, 8), BinarySummary(7, 8), "6/8 (75%); 6–7 depending on partially dated medications"),
        (BinarySummary(6, 8), BinarySummary(5, 8), "6/8 (75%); 5–6 depending on partially dated medications"),
        (BinarySummary(6, 8), BinarySummary(6, 8), "6/8 (75%)"),
        (BinarySummary(0, 0), BinarySummary(0, 0), "0/0"),
        (BinarySummary(2, 3), BinarySummary(3, 4), "2/3 (67%); 2/3–3/4 depending on partially dated medications"),
    ],
    ids=["opposite higher", "opposite lower", "agree", "nobody", "denominators differ"],
)
def test_summary_with_bounds_wording(reported: BinarySummary, opposite: BinarySummary, text: str) -> None:
    assert summary_with_bounds(reported, opposite) == text


def test_first_day_bounds_and_changed_patients() -> None:
    reported = pl.DataFrame({"patient_id": ["A", "A", "B", "C"], "day": [91, 183, 91, 91], "f": [0, 1, 1, None]})
    opposite = pl.DataFrame({"patient_id": ["A", "A", "B", "C"], "day": [91, 183, 91, 91], "f": [1, 1, 1, 0]})
    days = derive_first_day_bounds(reported, opposite, "f")
    assert days.rows() == [("A", 183, 91), ("B", 91, 91), ("C", None, None)]
    # C: unknown vs 0 is a change too (NRI counts them alike, observed cases do not).
    assert patients_with_changed_flags(reported, opposite, ["f"])["patient_id"].to_list() == ["A", "C"]


def test_records_responsible_are_moved_maintenance_records() -> None:
    meds = pl.DataFrame(
        [
            _course("2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31)),
            _course("2024-02", "D", date(2024, 2, 1), "2024-03", "D", date(2024, 3, 31), drug="paracetamol"),
            _course("2023-06-01", None, date(2023, 6, 1), "2024-04-30", None, date(2024, 4, 30), drug="azathioprine"),
            # cyclophosphamide "2024-01", ongoing: stored 1 January (day −14, lymphodepletion, not
            # maintenance); read on 31 January (day 16) it is maintenance: responsible.
            _course("2024-01", "D", date(2024, 1, 1), None, None, None, drug="cyclophosphamide"),
            _course("2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31), patient="Z"),
        ],
        infer_schema_length=None,
    )
    rows = responsible_medications(meds, pl.DataFrame({"patient_id": ["A"]}))
    assert rows.select("drug", "start_day", "start_day_opposite", "stop_day", "stop_day_opposite").rows() == [
        ("prednisone", -228, -228, 137, 107),
        ("cyclophosphamide", -14, 16, None, None),
    ]


def test_patient_page_bounds_name_the_record() -> None:
    rows = [_course("2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31))]
    bounds = drug_free_stop_bounds(rows)
    assert (bounds["reported"]["drug_free_stop_day"], bounds["opposite"]["drug_free_stop_day"]) == (137, 107)
    assert [r["stop_dtc"] for r in bounds["records"]] == ["2024-05"]
    complete = [_course("2023-06-01", None, date(2023, 6, 1), "2024-05-20", None, date(2024, 5, 20))]
    assert drug_free_stop_bounds(complete)["records"] == []
