"""The scalar form of the treatment stop days (:func:`stop_days_of`, one patient's status in the
web app) equals the table form (:func:`summarise_stop_days`) on generated courses."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remission.analysis.treatment import maintenance_class, stop_days_of, summarise_stop_days

_DRUGS = [
    "prednisone",
    " Prednisolone ",
    "methotrexate",
    "hydroxychloroquine",
    "rituximab",
    "belimumab",
    "cyclophosphamide",
    "fludarabine",
    "tocilizumab",
    "anakinra",
    "ivig",
    "mycophenolate mofetil",
    "paracetamol",
    "unknown-drug",
    "AZATHIOPRINE\u00a0",
]
_DAYS = st.one_of(st.none(), st.integers(-30, 400))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_DRUGS), _DAYS, _DAYS), max_size=8))
def test_stop_days_of_one_patient_equal_the_table_form(courses: list[tuple[str, int | None, int | None]]) -> None:
    table = pl.DataFrame(
        [("A", *c) for c in courses],
        schema={"patient_id": pl.String, "drug": pl.String, "start_day": pl.Int64, "stop_day": pl.Int64},
        orient="row",
    )
    expected = summarise_stop_days(table, pl.DataFrame({"patient_id": ["A"]})).to_dicts()[0]
    assert {"patient_id": "A", **stop_days_of(courses)} == expected


@pytest.mark.parametrize(
    ("drug", "start", "kind"),
    [
        ("cyclophosphamide", -3, None),
        ("cyclophosphamide", -100, "immunosuppressant"),
        ("cyclophosphamide", None, None),
        ("tocilizumab", 2, None),
        ("tocilizumab", -60, "biologic"),
        ("fludarabine", -300, None),
        ("Prednisone ", 0, "glucocorticoid"),
        ("paracetamol", 1, "other"),
    ],
)
def test_maintenance_class_leaves_out_conditioning_and_crs_treatment(
    drug: str, start: int | None, kind: str | None
) -> None:
    assert maintenance_class(drug, start) == kind
