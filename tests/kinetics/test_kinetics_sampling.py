"""Simulated observations (remission.kinetics.sampling, `remission simulate --observations`):
residual error, BLQ, the truth file, determinism, and the round trip through the reader."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from remission.cli.kinetics import load_params_file
from remission.cli.main import app
from remission.errors import InvalidInputError
from remission.kinetics import load_parameter_set
from remission.kinetics.observations import OBSERVATION_COLUMNS, read_observations
from remission.kinetics.sampling import DEFAULT_SAMPLING_DAYS, sample_observations

runner = CliRunner()
TYPICAL = load_parameter_set("autoimmune").without_variability()


def test_the_table_has_one_row_per_patient_day_and_analyte_sorted() -> None:
    s = sample_observations(3, [7, 0, 7, 28], seed=1)
    obs = s.observations
    assert obs.columns == list(OBSERVATION_COLUMNS)
    assert obs.height == 3 * 3 * 2  # duplicates sampled once
    assert obs.select("ID", "TIME", "ANALYTE").rows()[:4] == [
        ("1", 0.0, "car_t"),
        ("1", 0.0, "cd19"),
        ("1", 7.0, "car_t"),
        ("1", 7.0, "cd19"),
    ]
    assert set(obs["MDV"]) == {0} and set(obs["DOSE_PER_KG"]) == {1e6}
    assert s.parameters["ID"].to_list() == ["1", "2", "3"] and "tmax" in s.parameters.columns


def test_without_error_the_typical_patient_is_sampled_at_its_prediction_and_censored_below_lloq() -> None:
    # hand values: car_t peaks at cmax = 50 cells/µL on day tmax = 9; C(0) = R0 = cmax/foldx = 0.1,
    # below an LLOQ of 0.2; B cells are in aplasia (< 1 cell/µL) on day 28
    s = sample_observations(1, [0, 9, 28], residual_cv=0, lloq={"car_t": 0.2}, parameters=TYPICAL, seed=0)
    rows = s.observations.select("TIME", "ANALYTE", "DV", "LLOQ", "BLQ").rows()
    assert rows[0] == (0.0, "car_t", 0.2, 0.2, 1)
    assert rows[2][:3] == (9.0, "car_t", pytest.approx(50.0))
    assert rows[2][4] == 0
    assert rows[5] == (28.0, "cd19", 1.0, 1.0, 1)
    assert s.observations["BASELINE_CD19"][0] == pytest.approx(100.0)  # b0, no error


def test_the_proportional_error_has_the_requested_cv() -> None:
    # 4000 typical patients at day 9 (F = 50): log(DV/F) ~ N(0, ln(1 + 0.2²)), sd 0.198
    s = sample_observations(4000, [9], residual_cv=0.2, parameters=TYPICAL, seed=5)
    dv = s.observations.filter(pl.col("ANALYTE") == "car_t")["DV"].to_numpy()
    assert np.log(dv / 50.0).std() == pytest.approx(math.sqrt(math.log(1.04)), rel=0.05)
    assert (dv / 50.0).std() / (dv / 50.0).mean() == pytest.approx(0.2, rel=0.05)


def test_the_additive_error_adds_its_sd() -> None:
    # cv 0, additive SD 2 cells/µL on CD19 at day 365 (F ≈ 94, far above the LLOQ)
    s = sample_observations(2000, [365], residual_cv=0, additive={"cd19": 2.0}, parameters=TYPICAL, seed=6)
    dv = s.observations.filter(pl.col("ANALYTE") == "cd19")["DV"].to_numpy()
    assert dv.std() == pytest.approx(2.0, rel=0.05)


def test_blq_fractions_follow_the_model_course() -> None:
    # default set: CAR-T well above 0.1 cells/µL from day 7 to 28 (peak 50 at day 9) and at
    # cmax·fb·exp(-beta·356) ≈ 4e-5 on day 365; B cells in aplasia on day 28, back by day 365
    obs = sample_observations(200, seed=3).observations
    frac = {(a, t): f for a, t, f in obs.group_by("ANALYTE", "TIME").agg(pl.col("BLQ").mean()).iter_rows()}
    assert all(frac[("car_t", t)] < 0.05 for t in (7.0, 10.0, 14.0, 21.0, 28.0))
    assert frac[("car_t", 365.0)] > 0.95 and frac[("cd19", 28.0)] > 0.95
    assert frac[("cd19", 365.0)] < 0.05
    assert set(obs.filter(pl.col("BLQ") == 1).select(pl.col("DV") == pl.col("LLOQ")).to_series()) == {True}


def test_the_same_seed_gives_the_same_observations_and_another_seed_others() -> None:
    a = sample_observations(20, seed=11)
    b = sample_observations(20, seed=11)
    c = sample_observations(20, seed=12)
    assert a.observations.equals(b.observations) and a.parameters.equals(b.parameters)
    assert not a.observations.equals(c.observations)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sampling_days": [0, -7]}, "column sampling-days: value -7,0: expected days ≥ 0"),
        ({"residual_cv": -0.1}, "column residual-cv: value -0.1: must be a number ≥ 0"),
        ({"lloq": {"cd19": 0.0}}, "column lloq: value cd19=0: must be a number > 0"),
        ({"additive": {"il6": 1.0}}, "column analyte: value il6: expected car_t or cd19"),
    ],
    ids=["negative-day", "negative-cv", "zero-lloq", "unknown-analyte"],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        sample_observations(2, **kwargs)  # type: ignore[arg-type]
    assert str(err.value).startswith(expected), str(err.value)


LLOQ = {"car_t": 0.2, "cd19": 1.0}
PARAMS = """
parameters:
  tmax: {value: 12.0, omega2: 0.09}
  cmax: {value: 80.0, omega2: 0.5}
  beta: {value: 0.025, omega2: 0.0}
"""


def test_cli_round_trip_with_a_non_default_parameter_file(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS, encoding="utf-8")
    obs_path = tmp_path / "obs" / "sim.csv"
    args = ["simulate", "--patients", "400", "--seed", "9", "--params", str(params), "--out", str(tmp_path / "c")]
    args += ["--observations", str(obs_path), "--lloq", "car_t=0.2,cd19=1", "--additive", "cd19=0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    obs = read_observations(obs_path)
    assert obs.height == 400 * len(DEFAULT_SAMPLING_DAYS) * 2
    assert set(obs.filter(pl.col("ANALYTE") == "car_t")["LLOQ"]) == {0.2}
    truth = pl.read_csv(tmp_path / "obs" / "sim.params.csv")
    assert truth.height == 400 and set(truth["beta"]) == {0.025}  # omega2 0: every patient typical
    log_tmax = np.log(truth["tmax"].to_numpy())
    # the file's typical value and omega2 (12 days, sd 0.3 on the log scale), 400 patients
    assert math.exp(np.median(log_tmax)) == pytest.approx(12.0, rel=0.05)
    assert log_tmax.std() == pytest.approx(0.3, rel=0.12)
    # the population truth is a parameter file: it reads back with the file's values
    truth_path = tmp_path / "obs" / "sim.truth.yaml"
    truth_set = load_params_file(truth_path)
    assert (truth_set["tmax"].value, truth_set["tmax"].omega2, truth_set["cmax"].omega2) == (12.0, 0.09, 0.5)
    assert truth_set["k_out"].value == load_parameter_set("autoimmune")["k_out"].value
    residual = yaml.safe_load(truth_path.read_text("utf-8"))["residual"]
    assert residual == {
        "cv": 0.2,
        "sigma_log": pytest.approx(0.198042, abs=1e-6),
        "additive": {"cd19": 0.5},
        "lloq": LLOQ,
    }
    # the same virtual patients as patients.csv: its CAR-T peak day is the patient's tmax
    patients = pl.read_csv(tmp_path / "c" / "patients.csv")
    assert np.allclose(patients["car_t_peak_day"].to_numpy(), truth["tmax"].to_numpy(), atol=1e-6)


def test_cli_observations_alone_are_deterministic(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv"):
        args = ["simulate", "--patients", "10", "--seed", "2", "--observations", str(tmp_path / name)]
        assert runner.invoke(app, [*args, "--sampling-days", "0,7,90"]).exit_code == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.params.csv").read_bytes() == (tmp_path / "b.params.csv").read_bytes()
    assert not (tmp_path / "patients.csv").exists()
    # the round trip: the file read back is the table sampled in memory, value for value
    sampled = sample_observations(10, [0, 7, 90], seed=2)
    assert read_observations(tmp_path / "a.csv").equals(sampled.observations)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--sampling-days", "0,x"], "column sampling-days: value 0,x: expected days ≥ 0"),
        (["--lloq", "il6=3"], "column lloq: value il6=3: expected analyte=number"),
        (["--residual-cv", "-1"], "column residual-cv: value -1: must be a number ≥ 0"),
    ],
    ids=["days", "lloq", "cv"],
)
def test_cli_bad_options_exit_2_and_write_nothing(tmp_path: Path, extra: list[str], expected: str) -> None:
    target = tmp_path / "obs.csv"
    result = runner.invoke(app, ["simulate", "--patients", "3", "--observations", str(target), *extra])
    assert result.exit_code == 2 and expected in result.output
    assert not target.exists()


def test_cli_needs_out_or_observations() -> None:
    result = runner.invoke(app, ["simulate", "--patients", "3"])
    assert result.exit_code == 2 and "give --out DIR, --observations FILE.csv or both" in result.output
