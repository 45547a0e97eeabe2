"""`remission simulate` and `remission fit` (CLI contract of specs/kinetics.md)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from remission.cli.main import app
from remission.kinetics import SteinCarTModel

runner = CliRunner()

PATIENT_HEADER = [
    "patient",
    "car_t_peak_day",
    "car_t_peak_cells_ul",
    "b_cell_aplasia_start_day",
    "b_cell_reappearance_day",
    "b_cell_aplasia_days",
    "autoantibody_fraction_day_180",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_simulate_writes_the_three_files(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--patients", "40", "--days", "365", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with (out / "patients.csv").open(encoding="utf-8") as fh:
        assert fh.readline().strip().split(",") == PATIENT_HEADER
    rows = _rows(out / "patients.csv")
    assert len(rows) == 40 and rows[0]["patient"] == "1"
    assert all(r["b_cell_aplasia_start_day"].isdigit() for r in rows)  # integer days
    summary = _rows(out / "summary.csv")
    assert [r["metric"] for r in summary][:6] == PATIENT_HEADER[1:]
    assert list(summary[0]) == [
        "metric",
        "n",
        "n_missing",
        "mean",
        "sd",
        "p5",
        "p25",
        "p50",
        "p75",
        "p95",
    ]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_simulate_same_seed_same_file(tmp_path: Path) -> None:
    args = ["simulate", "--patients", "15", "--days", "200", "--seed", "3", "--dose-per-kg", "5e5"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "b")]).exit_code == 0
    assert (tmp_path / "a/patients.csv").read_text() == (tmp_path / "b/patients.csv").read_text()


def test_simulate_with_a_params_file(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("parameters:\n  tmax:\n    value: 12\n    omega2: 0\n", encoding="utf-8")
    out = tmp_path / "sim"
    args = [
        "simulate",
        "--patients",
        "5",
        "--days",
        "100",
        "--params",
        str(params),
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {r["car_t_peak_day"] for r in _rows(out / "patients.csv")} == {"12.0"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--patients", "0"], "column patients: value 0: must be an integer ≥ 1"),
        (["--patients", "5", "--days", "0"], "column days: value 0: must be an integer ≥ 1"),
        (
            ["--patients", "5", "--dose-per-kg", "-1"],
            "column dose-per-kg: value -1: must be a finite number > 0",
        ),
    ],
    ids=["no-patients", "no-days", "negative-dose"],
)
def test_simulate_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", *args, "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_simulate_bad_params_file(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("parameters:\n  beta:\n    value: -0.5\n", encoding="utf-8")
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--patients", "5", "--params", str(params), "--out", str(out)])
    assert result.exit_code == 2
    assert "column p.parameters.beta.value: value -0.5: must be a finite number > 0" in result.output
    assert not out.exists()


def _series(tmp_path: Path) -> Path:
    days = [1, 2, 3, 5, 7, 9, 11, 14, 21, 28, 42, 60, 90, 120]
    model = SteinCarTModel()
    theta = model.typical_theta(1)
    theta.update(tmax=np.array([10.0]), cmax=np.array([70.0]))
    y = model.predict(days, theta)["car_t"][0] * np.exp(0.1 * np.sin(np.arange(len(days))))
    path = tmp_path / "series.csv"
    lines = ["day,car_t_cells_ul"] + [f"{d},{v:.5g}" for d, v in zip(days, y, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fit_writes_parameters_with_standard_errors_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", "--input", str(_series(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["parameter"]: r for r in _rows(out / "parameters.csv")}
    assert list(rows) == ["foldx", "tmax", "cmax", "alpha", "fb", "beta", "sigma_car_t"]
    assert float(rows["tmax"]["estimate"]) == pytest.approx(10.0, rel=0.05)
    assert float(rows["tmax"]["standard_error"]) > 0
    assert (out / "fit.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "day,cd19_cells_ul\n0,100\n7,-3\n14,x\n",
            "row 2, column cd19_cells_ul: value -3: expected a number ≥ 0",
        ),
        (
            "day,cd19_cells_ul\n0,100\nsoon,3\n",
            "row 2, column day: value soon: expected a number of days",
        ),
        ("time,cd19_cells_ul\n0,100\n", "column day: value : required column is missing"),
        (
            "day,weight\n0,70\n",
            "column car_t_cells_ul/cd19_cells_ul: value : at least one of these columns",
        ),
        (
            "day,car_t_cells_ul\n1,0.1\n9,50\n",
            "value 2 observations: too few to estimate 7 parameters",
        ),
    ],
    ids=["negative-level", "text-day", "no-day-column", "no-series-column", "too-few"],
)
def test_fit_bad_input_exits_2_and_writes_nothing(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", "--input", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_fit_lists_every_bad_cell(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("day,car_t_cells_ul,cd19_cells_ul\nx,1,2\n3,-1,\n4,2,-5\n", encoding="utf-8")
    result = runner.invoke(app, ["fit", "--input", str(path), "--out", str(tmp_path / "fit")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("row ")]
    assert [line.split(":")[0] for line in lines] == [
        "row 1, column day",
        "row 2, column car_t_cells_ul",
        "row 3, column cd19_cells_ul",
    ]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("simulate", ["--patients", "--days", "--seed", "--dose-per-kg", "--params", "--out"]),
        ("fit", ["--input", "--out"]),
    ],
    ids=["simulate", "fit"],
)
def test_help_lists_the_contract_options(command: str, options: list[str]) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in options:
        assert option in result.output
