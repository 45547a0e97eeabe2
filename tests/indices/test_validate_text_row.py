"""The one-row validator (:func:`validate_text_row`) decides a row exactly as the table validator
(:func:`validate_table`) does on the same all-text row — typed values, problems and messages —
or declines (None). Checked for every index of the registry on generated cells."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remission.errors import InvalidInputError, Problem
from remission.indices import get_index, registry
from remission.indices._base import IndexDefinition, validate_record, validate_table, validate_text_row

NAMES = sorted(registry())

#: Cells people type, plain and odd: words, numbers with comma decimals, spaces, bounds, junk.
CELLS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "1",
            "2",
            "-1",
            "1.0",
            "0.0",
            " yes ",
            "No",
            "TRUE",
            "f",
            "y",
            "maybe",
            "1,5",
            "0,25",
            "3.7",
            "-0",
            "10",
            "100",
            "1000",
            "999999",
            "0.5",
            "12.25",
            "abc",
            "1e3",
            "007",
            "nan",
            "inf",
            ".5",
            "1.",
            "+1",
            " 2 ",
            "1 0",
            "\t1",
            "1\u00a0",
            "é",
            "a",
            "A",
            "b",
            "adult",
            "JUVENILE",
            "mg/l",
            "mg/dL",
            "A",
            "B",
            "C",
            "D",
            "E",
            "x\x1fy",
        ]
    ),
    st.integers(-5, 200).map(str),
    st.floats(-10, 1e4, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.text(max_size=4),
)


def _cells(definition: IndexDefinition, data: st.DataObject) -> dict[str, str | None]:
    columns = definition.all_columns()
    picked = data.draw(st.lists(st.sampled_from(columns), min_size=1, max_size=12, unique=True))
    cells = {c.code: data.draw(CELLS) for c in picked}
    for column in columns:
        if column.required and column.code not in cells:
            cells[column.code] = data.draw(CELLS)
        if column.choices and data.draw(st.booleans()):
            cells[column.code] = data.draw(st.sampled_from(column.choices))
    return cells


def _by_table(cells: dict[str, str | None], definition: IndexDefinition) -> tuple[dict[str, Any], list[Problem]]:
    frame = pl.DataFrame({k: [v] for k, v in cells.items()}, schema={k: pl.Utf8 for k in cells})
    checked = validate_table(frame, definition)
    return {c.code: checked.typed[c.code][0] for c in definition.all_columns()}, checked.problems


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_one_row_validator_agrees_with_the_table_validator(name: str, data: st.DataObject) -> None:
    definition = get_index(name)
    cells = _cells(definition, data)
    decided = validate_text_row(cells, definition)
    if decided is None:
        return
    typed, problems = decided
    expected_typed, expected_problems = _by_table(cells, definition)
    assert problems == expected_problems
    assert [(k, v, type(v)) for k, v in typed.items()] == [(k, v, type(v)) for k, v in expected_typed.items()]


def test_plain_cells_are_decided_by_the_one_row_validator() -> None:
    definition = get_index("sledai2k")
    typed, problems = validate_text_row({"rash": " Yes", "seizure": "0", "cva": "2"}, definition) or ({}, [])
    assert typed["rash"] is True and typed["seizure"] is False and typed["arthritis"] is None
    assert [str(p) for p in problems] == ["row 1, column cva: value 2: must be 0 or 1 (also true/false, yes/no)"]


@pytest.mark.parametrize("cell", ["1e3", "007", "\u00a01", "nan", "+1"])
def test_unusual_cells_are_left_to_the_table_validator(cell: str) -> None:
    assert validate_text_row({"temperature_c": cell}, get_index("sledai2k")) is None


def test_validate_record_raises_the_table_validators_message_on_either_path() -> None:
    definition = get_index("sledai2k")
    for value in ("3", "3e0"):  # plain (one-row path) and scientific (table path)
        with pytest.raises(InvalidInputError, match=f"row 1, column rash: value {value}: must be 0 or 1"):
            validate_record({"rash": value}, definition)
