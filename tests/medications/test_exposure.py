"""Daily exposure from medication records: prednisone equivalents, class flags, drug-free days."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission.errors import InvalidInputError
from remission.medications import derive_drug_free_days, derive_medication_exposure

SCHEMA = {
    "patient_id": pl.Utf8,
    "drug": pl.Utf8,
    "dose": pl.Float64,
    "unit": pl.Utf8,
    "frequency": pl.Utf8,
    "route": pl.Utf8,
    "start_day": pl.Int64,
    "stop_day": pl.Int64,
}


def record(
    drug: str,
    dose: float | None = None,
    frequency: str | None = "daily",
    start: int = -100,
    stop: int | None = None,
    unit: str | None = "mg",
    route: str | None = "oral",
    patient: str = "p1",
) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "drug": drug,
        "dose": dose,
        "unit": unit,
        "frequency": frequency,
        "route": route,
        "start_day": start,
        "stop_day": stop,
    }


def meds(*records: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(records), schema=SCHEMA)


def at(day: int, *records: dict[str, Any]) -> dict[str, Any]:
    visits = pl.DataFrame({"patient_id": ["p1"], "day": [day]})
    return derive_medication_exposure(visits, meds(*records)).row(0, named=True)


# prednisone_mg_day = dose × per-day × 5 / equivalent (medications.md), by hand.
PREDNISONE = [
    ("prednisolone_7.5", [record("prednisolone", 7.5)], 7.5),
    ("methylpred_4_is_5", [record("methylprednisolone", 4.0)], 5.0),
    ("methylpred_8_bid_is_20", [record("Medrol", 8.0, "bid")], 20.0),
    ("hydrocortisone_20_is_5", [record("hydrocortisone", 20.0)], 5.0),
    ("dexamethasone_0.75_is_5", [record("dexamethasone", 0.75)], 5.0),
    (
        "methylpred_pulse_1g_once",
        [record("methylprednisolone", 1.0, "once", start=0, unit="g")],
        1250.0,
    ),
    ("two_records_sum", [record("prednisone", 5.0), record("hydrocortisone", 10.0)], 7.5),
    ("stopped_before", [record("prednisone", 5.0, stop=-1)], 0.0),
    ("stop_day_inclusive", [record("prednisone", 5.0, stop=0)], 5.0),
    ("starts_later", [record("prednisone", 5.0, start=1)], 0.0),
    ("topical_not_counted", [record("hydrocortisone", 100.0, route="topical")], 0.0),
    ("unknown_dose_is_empty", [record("prednisone", None)], None),
    ("budesonide_no_equivalent_is_empty", [record("budesonide", 9.0)], None),
    ("unknown_frequency_is_empty", [record("prednisone", 5.0, None)], None),
    ("no_records", [record("hydroxychloroquine", 200.0)], 0.0),
]


@pytest.mark.parametrize(("records", "expected"), [c[1:] for c in PREDNISONE], ids=[c[0] for c in PREDNISONE])
def test_prednisone_mg_day_against_hand_computation(records: list[dict[str, Any]], expected: float | None) -> None:
    got = at(0, *records)["prednisone_mg_day"]
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_class_flags_per_day() -> None:
    records = [
        record("HCQ", 200.0, stop=None),
        record("MMF", 1000.0, "bid", stop=10),
        record("rituximab", 1000.0, "once", start=-60),
        record("IVIG", 2.0, start=5, stop=6, unit="g"),
    ]
    visits = pl.DataFrame({"patient_id": ["p1"] * 4, "day": [-60, 0, 5, 30]})
    out = derive_medication_exposure(visits, meds(*records))
    assert out["antimalarial"].to_list() == [1, 1, 1, 1]
    # MMF until day 10, IVIG (immunomodulator, counts as immunosuppressant) on days 5–6.
    assert out["immunosuppressant"].to_list() == [1, 1, 1, 0]
    # single rituximab infusion on day -60 only (no stop day given).
    assert out["biologic"].to_list() == [1, 0, 0, 0]


def test_other_patients_records_do_not_leak() -> None:
    visits = pl.DataFrame({"patient_id": ["p1", "p2"], "day": [0, 0]})
    out = derive_medication_exposure(visits, meds(record("prednisone", 10.0, patient="p2")))
    assert out["prednisone_mg_day"].to_list() == [0.0, 10.0]


def test_unknown_drug_and_bad_stop_are_reported_with_rows() -> None:
    with pytest.raises(InvalidInputError) as err:
        at(
            0,
            record("prednisone", 5.0),
            record("predisone", 5.0),
            record("MMF", 500.0, start=10, stop=5),
        )
    text = str(err.value)
    assert "row 2, column drug: value predisone: unknown drug; did you mean prednisone" in text
    assert "row 3, column stop_day: value 5: before start_day" in text


def test_drug_free_days_against_hand_computation() -> None:
    records = [
        record("prednisolone", 5.0, start=-200, stop=20),
        record("MMF", 1000.0, "bid", start=-300, stop=-10),
        record("HCQ", 200.0, start=-400, stop=60),
    ]
    visits = pl.DataFrame({"patient_id": ["p1"] * 3, "day": [0, 90, 200]})
    out = derive_drug_free_days(visits, meds(*records))
    assert out["last_glucocorticoid_day"].to_list() == [0, 20, 20]
    assert out["immunosuppression_stop_day"].to_list() == [0, 20, 20]
    # HCQ until day 60 breaks drug-free time unless allowed.
    assert out["drug_free_days"].to_list() == [0, 30, 140]
    allowed = derive_drug_free_days(visits, meds(*records), allow_antimalarial=True)
    assert allowed["drug_free_days"].to_list() == [0, 70, 180]


def test_drug_free_days_empty_without_records() -> None:
    visits = pl.DataFrame({"patient_id": ["p9"], "day": [30]})
    out = derive_drug_free_days(visits, meds(record("prednisone", 5.0)))
    assert out.row(0, named=True)["drug_free_days"] is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["prednisone", "hydrocortisone", "dexamethasone"]),
            st.sampled_from([1.0, 2.5, 10.0]),
            st.integers(-50, 50),
            st.integers(0, 40),
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(-60, 100),
)
def test_prednisone_is_non_negative_and_zero_outside_all_records(
    rows: list[tuple[str, float, int, int]], day: int
) -> None:
    records = [record(d, dose, start=s, stop=s + length) for d, dose, s, length in rows]
    got = at(day, *records)["prednisone_mg_day"]
    assert got >= 0
    if all(not (s <= day <= s + length) for _, _, s, length in rows):
        assert got == 0


def test_a_record_of_unknown_start_covers_every_day_up_to_its_stop() -> None:
    meds = pl.DataFrame(
        {
            "patient_id": ["p1", "p1"],
            "drug": ["prednisone", "rituximab"],
            "dose": [5.0, 1000.0],
            "unit": ["mg", "mg"],
            "frequency": ["daily", "once"],
            "route": ["oral", "iv"],
            "start_day": [None, None],
            "stop_day": [20, None],
        },
        schema_overrides={"start_day": pl.Int64, "stop_day": pl.Int64},
    )
    visits = pl.DataFrame({"patient_id": ["p1"] * 3, "day": [-400, 10, 300]})
    out = derive_medication_exposure(visits, meds)
    assert out["prednisone_mg_day"].to_list() == [5.0, 5.0, 0.0]
    # a single dose of unknown date could be any day: it counts on every day
    assert out["biologic"].to_list() == [1, 1, 1]
