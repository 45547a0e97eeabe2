"""`remission fit-population`: input errors exit 2 before any fit; help text."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from remission.cli.main import app

runner = CliRunner()
HEADER = "ID,TIME,DV,ANALYTE,LLOQ,BLQ,MDV\n"


@pytest.mark.parametrize(
    ("body", "args", "message"),
    [
        ("1,0,0.2,car_t,0.1,0,0\n", ["--covariates", "age"], "column covariates: value age"),
        ("1,0,0.2,il6,0.1,0,0\n", [], "row 1, column ANALYTE: value il6: expected car_t or cd19"),
        ("1,3,,car_t,0.1,0,0\n", [], "row 1, column DV: value : required where MDV=0"),
    ],
    ids=["unknown-covariate", "unknown-analyte", "missing-dv"],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, body: str, args: list[str], message: str) -> None:
    src = tmp_path / "OBS.csv"
    src.write_text(HEADER + body, "utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["fit-population", "--input", str(src), "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_a_censored_sample_without_its_lloq_is_named(tmp_path: Path) -> None:
    src = tmp_path / "OBS.csv"
    src.write_text("ID,TIME,DV,ANALYTE,BLQ,MDV\n1,0,0.2,car_t,1,0\n", "utf-8")
    result = runner.invoke(app, ["fit-population", "--input", str(src), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "row 1, column LLOQ: value : required where BLQ=1" in result.output


def test_help_lists_the_outputs() -> None:
    result = runner.invoke(app, ["fit-population", "--help"])
    assert result.exit_code == 0
    for name in ("population.yaml", "individual.csv", "diagnostics.csv", "vpc.png", "gof.png", "--covariates"):
        assert name in result.output


def test_jax_is_imported_only_when_a_fit_runs() -> None:
    import subprocess
    import sys

    code = (
        "import sys, remission, remission.kinetics.population, remission.cli.main;"
        "print(sorted(m for m in ('jax', 'numpyro') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
