"""The CLI contract of ../shared/specs/README.md: exit codes, error wording, nothing written."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from remission.cli.main import app

runner = CliRunner()
HEADER = "case,seizure,arthritis,rash\n"


def run(tmp_path: Path, body: str, *extra: str, header: str = HEADER) -> tuple[int, str, Path]:
    """``remission score sledai2k`` on ``header + body``; the three-item HEADER needs
    --allow-missing-columns (the other 21 descriptors are absent), given unless ``header`` is."""
    source = tmp_path / "in.csv"
    source.write_text(header + body)
    target = tmp_path / "out.csv"
    lenient = ("--allow-missing-columns",) if header == HEADER else ()
    args = ["score", "sledai2k", "--input", str(source), "--output", str(target), *lenient, *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output, target


def test_valid_input_exit_0_and_keeps_input_columns(tmp_path: Path) -> None:
    code, _, target = run(tmp_path, "a,0,1,1\n", "--missing", "absent")
    assert code == 0
    out = pl.read_csv(target)
    assert out["case"].to_list() == ["a"]
    assert out["sledai2k"].to_list() == [6]  # arthritis 4 + rash 2


def test_bad_rows_exit_2_list_every_problem_and_write_nothing(tmp_path: Path) -> None:
    code, output, target = run(tmp_path, "a,0,1,1\nb,2,1,1\nc,0,yes,x\n")
    assert code == 2
    assert "row 2, column seizure: value 2: must be 0 or 1" in output
    assert "row 3, column rash: value x: must be 0 or 1" in output
    assert not target.exists()


def test_on_error_skip_writes_valid_rows_and_errors_file(tmp_path: Path) -> None:
    code, _, target = run(tmp_path, "a,0,1,1\nb,2,1,1\n", "--on-error", "skip", "--missing", "absent")
    assert code == 0
    assert pl.read_csv(target)["case"].to_list() == ["a"]
    errors = pl.read_csv(target.with_name("out.errors.csv"))
    assert errors["case"].to_list() == ["b"]
    assert errors["row"].to_list() == [2]
    assert "row 2, column seizure: value 2" in errors["error"][0]


def test_unknown_index_exit_2(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(HEADER)
    result = runner.invoke(app, ["score", "nope", "--input", str(tmp_path / "in.csv"), "--output", "x.csv"])
    assert result.exit_code == 2
    assert "unknown index" in result.output


def test_unknown_option_exit_2(tmp_path: Path) -> None:
    code, output, _ = run(tmp_path, "a,0,1,1\n", "--population", "juvenile")
    assert code == 2
    assert "--population" in output


def test_missing_input_file_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", "sledai2k", "--input", str(tmp_path / "none.csv"), "--output", "x.csv"])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("score", "init", "demo", "report"):
        assert command in result.output


def test_ragged_row_names_its_line_in_plain_words(tmp_path: Path) -> None:
    # Issue 22: polars' own message ("Consider setting 'truncate_ragged_lines=True'", a literal \n\n).
    code, output, target = run(tmp_path, "a,0,1,1\nb,0,1,1,1\n")
    assert code == 2
    assert "line 3 (data row 2) has 5 fields but the header has 4: an extra comma" in output
    assert "truncate_ragged_lines" not in output and "\\n" not in output
    assert not target.exists()
