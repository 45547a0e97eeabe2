"""Remission over time from per-visit DORIS flags: first, drug-free, sustained, ongoing."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from remission.analysis.sle_remission import derive_sle_remission
from remission.errors import InvalidInputError


def course(days: list[int], remission: list[Any], drug_free: list[Any] | None = None, pid: str = "a") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": [pid] * len(days),
            "day": days,
            "doris_remission": remission,
            "drug_free_remission": drug_free if drug_free is not None else [0] * len(days),
        },
        schema_overrides={"doris_remission": pl.Int8, "drug_free_remission": pl.Int8},
    )


COLS = [
    "first_remission_day",
    "sustained_remission",
    "sustained_remission_from_day",
    "remission_ongoing",
]
# Expected by hand from the definitions in sle_remission.py (run span first→last assessment).
CASES = [
    ("sustained_exactly_180", [30, 90, 210], [1, 1, 1], (30, 1, 30, 1)),
    ("span_179_not_sustained", [30, 90, 209], [1, 1, 1], (30, 0, None, 1)),
    ("interrupted_run", [30, 120, 180, 240], [1, 0, 1, 1], (30, 0, None, 1)),
    ("relapse_at_last_visit", [30, 120, 240, 300], [1, 1, 1, 0], (30, 1, 30, 0)),
    ("never", [30, 90], [0, 0], (None, 0, None, 0)),
    ("unknown_in_run_is_unknown", [30, 120, 240], [1, None, 1], (30, None, None, 1)),
    ("unknown_before_first_is_unknown", [30, 90, 300], [None, 1, 1], (None, 1, 90, 1)),
    ("pre_infusion_ignored", [-30, 10, 200], [1, 0, 1], (200, 0, None, 1)),
]


@pytest.mark.parametrize(("days", "flags", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sle_remission_against_hand_computation(days: list[int], flags: list[Any], expected: tuple[Any, ...]) -> None:
    got = derive_sle_remission(course(days, flags))
    assert tuple(got.select(COLS).row(0)) == expected


def test_first_drug_free_day_and_sustained_parameter() -> None:
    got = derive_sle_remission(course([30, 90, 120], [1, 1, 1], [0, 1, 1]), sustained_days=90)
    row = got.row(0, named=True)
    assert row["first_drug_free_remission_day"] == 90
    assert row["sustained_remission"] == 1


def test_input_order_and_several_patients() -> None:
    visits = pl.concat([course([200, 10], [1, 1], pid="b"), course([50], [0], pid="a")])
    got = derive_sle_remission(visits)
    assert got["patient_id"].to_list() == ["a", "b"]
    assert got["sustained_remission"].to_list() == [0, 1]
    assert got["n_assessments"].to_list() == [1, 2]


def test_bad_flag_is_reported_with_row() -> None:
    visits = pl.DataFrame({"patient_id": ["a"], "day": [1], "doris_remission": ["2"], "drug_free_remission": ["0"]})
    with pytest.raises(InvalidInputError, match="row 1, column doris_remission: value 2"):
        derive_sle_remission(visits)
