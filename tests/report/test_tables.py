"""How the report prints its tables (remission.report.columns): human headers with units, Yes/No,
one number format, one summary convention; and the printed tables of a built report."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from remission.analysis.endpoints import summarise_continuous
from remission.report.columns import COLUMNS, column, format_cells, format_frame, format_value, summary_text


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("cells_per_kg", 1000000.0, "1.0 × 10⁶"),
        ("cells_per_kg", 25_000_000, "2.5 × 10⁷"),
        # 9.96 × 10⁶ rounds to 10.0: the exponent carries (1.0 × 10⁷, never 10.0 × 10⁶)
        ("cells_per_kg", 9_960_000.0, "1.0 × 10⁷"),
        ("serious", True, "Yes"),
        ("serious", False, "No"),
        ("glucocorticoid_stopped", 1, "Yes"),
        ("glucocorticoid_stopped", 0, "No"),
        ("ongoing", None, ""),
        ("follow_up_months", 15.0, "15"),
        ("follow_up_months", 21.73, "21.7"),
        ("immunosuppressant_stop_day", -14, "−14"),
        ("infusion_date", date(2022, 4, 19), "2022-04-19"),
        ("car_t_peak", 94.76, "94.8"),
        ("term", "cytokine release syndrome", "cytokine release syndrome"),
    ],
    ids=lambda v: str(v),
)
def test_cell_formats_by_hand(name: str, value: Any, expected: str) -> None:
    assert format_value(value, column(name)) == expected


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("cells_per_kg", "CAR-T dose (cells/kg)"),
        ("follow_up_days", "Follow-up (days)"),
        ("remission_day", "First remission (day)"),
        ("cd19_cells_ul_baseline", "CD19+ B cells, baseline (cells/µL)"),
        ("in_remission_at_last_visit", "In remission at last visit"),
        # not listed: written for people already, or made readable
        ("month 3", "Month 3"),
        ("SLE", "SLE"),
        ("icaht_late_grade", "Icaht late grade"),
    ],
    ids=lambda v: str(v),
)
def test_headers_are_labels_with_units(name: str, header: str) -> None:
    assert column(name).header == header


def test_every_listed_column_prints_without_snake_case() -> None:
    for name, rule in COLUMNS.items():
        assert "_" not in rule.header, name


def test_format_frame_prints_every_cell_as_text() -> None:
    frame = pl.DataFrame({"patient_id": ["A", "B"], "cells_per_kg": [1e6, None], "serious": [True, False]})
    assert format_frame(frame) == (
        ["Patient", "CAR-T dose (cells/kg)", "Serious"],
        [["A", "1.0 × 10⁶", "Yes"], ["B", "", "No"]],
        [True, False, False],  # words left, numbers and flags right
    )


@pytest.mark.parametrize(
    ("values", "cells", "expected"),
    [
        # type-7 quartiles of 1, 2, 4 (× 10⁶): 1.5 and 3
        ([1e6, 2e6, 4e6], True, "2.0 × 10⁶ (IQR 1.5 × 10⁶ to 3.0 × 10⁶; range 1.0 × 10⁶ to 4.0 × 10⁶)"),
        ([30, 41, 52], False, "41 (IQR 35.5 to 46.5; range 30 to 52)"),
        ([], False, "—"),
    ],
    ids=["cells", "years", "none"],
)
def test_one_summary_convention(values: list[float], cells: bool, expected: str) -> None:
    assert summary_text(summarise_continuous(values), cells=cells) == expected


def test_format_cells_of_zero_and_missing() -> None:
    assert (format_cells(0.0), format_cells(None), format_cells(float("nan"))) == ("0", "—", "—")
