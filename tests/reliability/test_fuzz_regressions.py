"""Regression tests for the crashes the fuzzers found (docs/reliability.md lists them).

Each input once escaped as an exception other than InvalidInputError (or broke the one-line
wording of the CLI contract); each must now be refused with the contract's error.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

import remission
from remission.cli.main import app
from remission.errors import Problem

runner = CliRunner()


def test_pandas_object_column_mixing_text_and_numbers_is_scored_as_text() -> None:
    # Found: pyarrow.lib.ArrowTypeError "Expected bytes, got a 'float' object" from pl.from_pandas.
    table = pd.DataFrame({"arthritis": pd.Series(["1", 0.0, None], dtype=object), "rash": [1, 0, 1]})
    out = remission.score("sledai2k", table, missing="absent", allow_missing_columns=True)
    assert out["sledai2k"].to_list() == [6, 0, 2]  # arthritis 4 + rash 2; rash 2; hand sums


def test_pandas_object_column_with_a_bad_cell_names_row_column_value() -> None:
    table = pd.DataFrame({"arthritis": pd.Series(["x", 1.0], dtype=object)})
    with pytest.raises(remission.InvalidInputError, match=r"row 1, column arthritis: value x: must be 0 or 1"):
        remission.score("sledai2k", table, allow_missing_columns=True)


@pytest.mark.parametrize(
    "series",
    [
        pl.Series("rash", [[1, 2]]),
        pl.Series("rash", [{"a": 1}]),
        pl.Series("rash", [object()], dtype=pl.Object),
        pl.Series("rash", [dt.timedelta(days=1)]),
    ],
    ids=["list", "struct", "object", "duration"],
)
def test_column_of_non_scalar_cells_is_refused(series: pl.Series) -> None:
    # Found: polars InvalidOperationError/ComputeError "cannot cast List type ... to String".
    with pytest.raises(
        remission.InvalidInputError, match=r"column rash: value .+: cells must be text, numbers or booleans"
    ):
        remission.score("sledai2k", pl.DataFrame([series]), allow_missing_columns=True)


@pytest.mark.parametrize("value", [math.inf, -math.inf, 1e400], ids=["inf", "-inf", "1e400"])
def test_infinite_integer_option_is_refused(value: float) -> None:
    # Found: OverflowError "cannot convert float infinity to integer" from Option.parse.
    with pytest.raises(remission.InvalidInputError, match=r"column option reduction: value -?inf: expected int"):
        remission.score("sri4", pl.DataFrame({"patient_id": ["P1"], "day": [0]}), reduction=value)


@pytest.mark.parametrize("index", [[], {}, ["sledai2k"]], ids=["list", "dict", "list-of-name"])
def test_unhashable_index_name_is_refused(index: Any) -> None:
    # Found: TypeError "unhashable type: 'list'" from get_index.
    with pytest.raises(remission.InvalidInputError, match=r"column index: value .*: unknown index"):
        remission.score(index, pl.DataFrame({"rash": [1]}))


def test_a_folder_as_input_is_refused(tmp_path: Path) -> None:
    # Found: polars InvalidOperationError "directory contained paths with different file extensions".
    (tmp_path / "a.csv").write_text("rash\n1\n")
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(remission.InvalidInputError, match=r"column input: value .+: is not a file"):
        remission.score("sledai2k", tmp_path)


def test_a_corrupt_parquet_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(remission.InvalidInputError, match=r"column input: value .+: not a readable Parquet file"):
        remission.score("sledai2k", path)


def test_a_value_with_a_newline_stays_on_one_line() -> None:
    # Found: a cell or option holding "a\nb" split one problem over two stderr lines.
    assert (
        str(Problem(2, "rash", "a\nb\x00", "must be 0 or 1")) == r"row 2, column rash: value a\nb\x00: must be 0 or 1"
    )


def test_cli_unknown_option_with_a_newline_is_one_contract_line(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("rash\n1\n")
    result = runner.invoke(app, ["score", "doris", "--input", str(source), "--output", str(tmp_path / "o.csv"), "a\nb"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        r"column option: value a\nb: unknown for doris (options: --allow-antimalarial, --prednisone-limit, "
        "--prednisone-strict)"
    ]


def test_cli_bad_on_error_uses_the_contract_wording(tmp_path: Path) -> None:
    # Found: "--on-error: value x: ..." did not follow "column C: value V: reason".
    source = tmp_path / "in.csv"
    source.write_text("rash\n1\n")
    result = runner.invoke(
        app, ["score", "sledai2k", "--input", str(source), "--output", str(tmp_path / "o.csv"), "--on-error", "x"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == "column --on-error: value x: expected 'raise' or 'skip'"
