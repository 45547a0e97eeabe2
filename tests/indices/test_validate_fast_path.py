"""The dense fast paths (integer 0/1 columns in validate_table, complete tables in SLEDAI-2K)
give what the general paths give: the oracle is the same table as text, which takes the
general, cell-by-cell parsing path."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import remission
from remission.errors import InvalidInputError
from remission.indices import get_index
from remission.indices._base import validate_table
from remission.indices.sledai2k import CODES


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.all().cast(pl.Utf8))


@pytest.mark.parametrize(
    ("values", "bad_rows"),
    [
        ([0, 1, 1, 0], []),
        ([0, None, 1, None], []),
        ([None, None, None, None], []),
        ([0, 2, 1, -1], [2, 4]),
        ([1, 1, 1, 5], [4]),
    ],
    ids=["clean", "with-missing", "all-missing", "out-of-range-both-sides", "one-bad"],
)
def test_integer_flags_validate_like_text(values: list[int | None], bad_rows: list[int]) -> None:
    frame = pl.DataFrame({"rash": values, "fever": [0, 0, 1, 1]}, schema={"rash": pl.Int8, "fever": pl.Int64})
    definition = get_index("sledai2k")
    fast, slow = validate_table(frame, definition), validate_table(as_text(frame), definition)
    assert [p.row for p in fast.problems] == bad_rows
    assert fast.problems == slow.problems
    assert_frame_equal(fast.typed, slow.typed)


def test_complete_integer_table_scores_like_text() -> None:
    # Row 1: every descriptor present = 105 (the maximum, SLEDAI-2K weights sum); row 2 none = 0.
    frame = pl.DataFrame({c: [1, 0, int(c in ("seizure", "rash", "low_complement"))] for c in CODES})
    frame = frame.with_columns(pl.all().cast(pl.Int8))
    fast = remission.score("sledai2k", frame)
    slow = remission.score("sledai2k", as_text(frame))
    assert fast["sledai2k"].to_list() == [105, 0, 12]  # seizure 8 + rash 2 + low_complement 2
    assert fast["clinical_sledai"].to_list() == [101, 0, 10]
    assert fast["sledai2k_category"].cast(pl.Utf8).to_list() == ["very_high", "none", "high"]
    assert_frame_equal(fast.drop(CODES), slow.drop(CODES))


def test_an_out_of_range_integer_still_names_row_and_value() -> None:
    frame = pl.DataFrame({c: [0, 0] for c in CODES}).with_columns(pl.Series("cva", [0, 3], dtype=pl.Int16))
    with pytest.raises(InvalidInputError, match="row 2, column cva: value 3: must be 0 or 1"):
        remission.score("sledai2k", frame)
