"""The pipeline's preparation of stored assessments for an index."""

from __future__ import annotations

import polars as pl

from remission.indices import get_index
from remission.pipeline import with_previous_values


def test_previous_renal_values_come_from_the_patients_previous_assessment_by_day() -> None:
    rows = pl.DataFrame(
        {
            "assessment_id": [1, 2, 3, 4],
            "patient_id": ["A", "A", "B", "A"],
            "day": [30, -7, 0, 90],
            "bilag_creatinine_umol_l": ["150", "100", "90", "140"],
            "bilag_creatinine_umol_l_prev": [None, None, None, "120"],  # recorded: kept
        }
    )
    out = with_previous_values(get_index("bilag2004"), rows)
    assert out["assessment_id"].to_list() == [1, 2, 3, 4]  # input order kept
    # A's visits by day: -7 (100), 30 (150), 90 (140, its own previous value 120 recorded)
    assert out["bilag_creatinine_umol_l_prev"].to_list() == ["100", None, None, "120"]


def test_indices_without_previous_columns_are_untouched() -> None:
    rows = pl.DataFrame({"assessment_id": [1], "patient_id": ["A"], "day": [0], "rash": ["1"]})
    assert with_previous_values(get_index("sledai2k"), rows).equals(rows)
