"""The public example cases of every index (../shared/examples) through the Python API.

The same cases and the same comparison as ``../shared/tools/check-examples`` (which runs them
through the CLI in ``make check-examples``), so ``make test`` runs them too: each
``<index>_in.csv`` is scored with :func:`remission.score`, and every column of
``<index>_expected.csv`` (hand-computed from the spec, or a published worked example; the
``case`` column names the row) must match. As in ``check_score.py``: numbers within 1e-6 + 1e-4
relative, booleans as 0/1, an empty cell means missing (and missing must stay missing, never 0).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

import remission
from remission.indices import get_index
from sharedpaths import EXAMPLES, needs

Value = float | str | None


def example_indices() -> list[str]:
    """Every index with a public example pair, from the file names (``<index>_in.csv``)."""
    if not EXAMPLES.exists():
        return []
    return sorted(p.name.removesuffix("_in.csv") for p in EXAMPLES.glob("*_in.csv"))


def normalised(value: Any) -> Value:
    """A cell as check_score.py compares it: None for missing, 0/1 for booleans, floats for numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower()
    if text in {"", "nan", "none", "null", "na"}:
        return None
    if text in {"true", "yes", "false", "no"}:
        return 1.0 if text in {"true", "yes"} else 0.0
    try:
        return float(text)
    except ValueError:
        return text


def same(got: Value, want: Value) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if isinstance(got, float) and isinstance(want, float):
        return abs(got - want) <= 1e-6 + 1e-4 * abs(want)
    return got == want


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def mismatches(index: str) -> tuple[int, list[str]]:
    """The number of expected cases and one line per wrong or missing cell."""
    out = remission.score(index, EXAMPLES / f"{index}_in.csv")
    got = {str(row["case"]): row for row in out.to_dicts()}
    expected = read_rows(EXAMPLES / f"{index}_expected.csv")
    wrong = []
    for want in expected:
        row = got.get(want["case"])
        if row is None:
            wrong.append(f"case {want['case']}: row missing from the output")
            continue
        for column in (c for c in want if c != "case"):
            if column not in row:
                wrong.append(f"case {want['case']}: output column {column} missing")
            elif not same(normalised(row[column]), normalised(want[column])):
                wrong.append(f"case {want['case']}: {column} = {row[column]!r}, expected {want[column]!r}")
    return len(expected), wrong


@needs(EXAMPLES)
def test_every_example_has_its_expectations_and_a_registered_index() -> None:
    indices = example_indices()
    assert len(indices) >= 8  # sledai2k, doris, myositis-tis, eustar-ai, criss, crs, icans, regimen
    for index in indices:
        assert (EXAMPLES / f"{index}_expected.csv").exists(), index
        assert get_index(index).name == index


@needs(EXAMPLES)
@pytest.mark.parametrize("index", example_indices())
def test_public_examples_match(index: str) -> None:
    cases, wrong = mismatches(index)
    assert cases > 0
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (float("nan"), None),
        ("", None),
        (" NA ", None),
        (True, 1.0),
        (False, 0.0),
        ("true", 1.0),
        ("No", 0.0),
        (0, 0.0),  # a real zero stays a zero: only empty means missing
        ("0", 0.0),
        ("2.50", 2.5),
        (3, 3.0),
        ("Moderate", "moderate"),
    ],
)
def test_normalised_cells(value: Any, expected: Value) -> None:
    assert normalised(value) == expected


@pytest.mark.parametrize(
    ("got", "want", "equal"),
    [
        (None, None, True),
        (None, 0.0, False),  # missing is never scored as 0
        (0.0, None, False),
        (100.0, 100.009, True),  # within 1e-4 relative
        (100.0, 100.02, False),
        (0.0, 0.0000009, True),  # within 1e-6 absolute
        (0.0, 0.00001, False),
        ("active", "active", True),
        ("active", 1.0, False),
    ],
)
def test_same_tolerance(got: Value, want: Value, equal: bool) -> None:
    assert same(got, want) is equal
