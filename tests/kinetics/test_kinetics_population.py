"""Population fit: the JAX model equals the NumPy simulator; input checks; parameter recovery."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from remission.errors import InvalidInputError
from remission.kinetics import CarTBCellModel, car_t_stein, load_parameter_set

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

from remission.kinetics import _popjax  # noqa: E402
from remission.kinetics.population import (  # noqa: E402
    PopulationFit,
    fit_population,
    prepare_observations,
)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "population_recovery.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("population_recovery", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["population_recovery"] = module
    spec.loader.exec_module(module)
    return module


CAR_T = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")


def test_jax_car_t_equals_the_numpy_closed_form() -> None:
    rng = np.random.default_rng(0)
    theta = load_parameter_set("autoimmune").sample(30, rng)
    days = np.array([-1.0, 0.0, 2.5, 9.0, 14.0, 60.0, 365.0])
    col = {k: theta[k][:, None] for k in CAR_T}
    expected = car_t_stein(days[None, :], **col)
    got = np.asarray(_popjax.car_t({k: jax.numpy.asarray(v) for k, v in col.items()}, days[None, :]))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0.0)
    # the oracle of cart.py's docstring (Stein 2019 B-ALL typical values): Cmax at tmax
    ball = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.16, fb=0.0079, beta=0.0032)
    assert float(_popjax.car_t(ball, 9.3)) == pytest.approx(24000.0, rel=1e-12)
    assert float(_popjax.car_t(ball, 19.3)) == pytest.approx(4990.9, abs=0.05)


def test_jax_b_cells_agree_with_the_numpy_model_within_the_documented_tolerance() -> None:
    model = CarTBCellModel()
    theta = model.sample(40, np.random.default_rng(1))
    days = np.array([0, 3, 7, 10, 14, 21, 28, 60, 90, 120, 150, 180, 270, 365.0])
    expected = model.predict(days, theta)["cd19"]  # RK4, 0.25-day then 0.5-day steps
    grid = _popjax.time_grid(365.0)
    names = (*CAR_T, "b0", "k_out", "k_tr", "k_kill", "ec50", "cond_fraction")
    got_grid = np.asarray(_popjax.b_cells_on_grid({k: theta[k] for k in names}, grid, 4))
    got = got_grid[:, np.searchsorted(grid, days)]
    above = expected > 0.1  # where a sample can be above any LLOQ in use
    assert np.abs(got[above] / expected[above] - 1).max() < 0.03
    np.testing.assert_allclose(got_grid[:, 0], theta["b0"], rtol=1e-12)  # day -5: steady state


def _table(**change: Any) -> pl.DataFrame:
    base = {
        "ID": [1, 1, 2],
        "TIME": [0.0, 7.0, 7.0],
        "DV": [0.2, 40.0, 0.0],
        "ANALYTE": ["car_t", "car_t", "cd19"],
        "LLOQ": [0.1, 0.1, 1.0],
        "BLQ": [0, 0, 1],
        "MDV": [0, 0, 0],
    }
    base.update(change)
    return pl.DataFrame(base)


def test_prepare_observations_reads_the_table() -> None:
    data = prepare_observations(_table(), 1e6)
    assert data.ids == ("1", "2")
    assert data.rows("car_t").tolist() == [0, 1] and data.rows("cd19").tolist() == [2]
    assert np.isnan(data.dv[2]) and bool(data.blq[2])
    assert data.dose_per_kg.tolist() == [1e6, 1e6]  # no DOSE_PER_KG column: reference dose


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ANALYTE": ["car_t", "il6", "cd19"]}, "row 2, column ANALYTE: value il6: expected car_t or cd19"),
        ({"LLOQ": [0.1, 0.1, None]}, "row 3, column LLOQ: value nan: must be > 0 where BLQ=1"),
        ({"DV": [0.2, None, 0.0]}, "row 2, column DV: value nan: must be > 0 where BLQ=0"),
        ({"MDV": [1, 1, 1]}, "column MDV: value : no observation"),
    ],
    ids=["unknown-analyte", "blq-without-lloq", "missing-dv", "all-mdv"],
)
def test_prepare_observations_names_row_column_and_value(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        prepare_observations(_table(**change), 1e6)


def test_prepare_observations_lists_absent_columns() -> None:
    with pytest.raises(InvalidInputError, match="column LLOQ: value : required column absent"):
        prepare_observations(_table().drop("LLOQ"), 1e6)


def test_fit_population_rejects_unknown_options() -> None:
    with pytest.raises(InvalidInputError, match="column covariates: value age"):
        fit_population(_table(), covariates=("age",))
    with pytest.raises(InvalidInputError, match="column estimate: value dose_ref_per_kg"):
        fit_population(_table(), estimate=("dose_ref_per_kg",))


@pytest.mark.slow
def test_small_recovery_case() -> None:
    """40 simulated patients (autoimmune set, 20 % CV, LLOQ 0.1 cells/µL), CAR-T only, one fit.

    Loose tolerances: typical values within 25 % of the truth the data were simulated with.
    CAR-T only keeps it near a minute on an idle 2-core machine (the B-cell part doubles the
    cost of a gradient); the full model's recovery is bench/population_recovery.py.
    """
    obs, _ = _bench().simulate_observations(40, seed=11)
    fit = fit_population(obs.filter(pl.col("ANALYTE") == "car_t"), seed=0, num_warmup=100, num_samples=100)
    ref = load_parameter_set("autoimmune")
    assert fit.estimated == CAR_T
    for name in CAR_T:
        est = float(np.median(fit.typical_draws(name)))
        assert est == pytest.approx(ref[name].value, rel=0.25), name
    sigma = float(np.median(fit.draws["sigma_car_t"]))
    assert sigma == pytest.approx(np.sqrt(np.log1p(0.2**2)), rel=0.3)


def _constructed_fit(n_patients: int = 12, n_draws: int = 40) -> PopulationFit:
    """A PopulationFit whose draws sit near the truth (no sampling): tests the outputs fast."""
    obs, _ = _bench().simulate_observations(n_patients, seed=4, doses=(5e5, 1e6), diseases=("SLE", "SSc"))
    ref = load_parameter_set("autoimmune")
    data = prepare_observations(obs, 1e6)
    rng = np.random.default_rng(0)
    names = (*CAR_T, "b0", "k_out", "ec50")
    draws: dict[str, np.ndarray] = {}
    for name in names:
        p = ref[name]
        draws[f"mu_{name}"] = p.to_internal(p.value) + 0.02 * rng.standard_normal(n_draws)
        draws[f"omega_{name}"] = np.sqrt(p.omega2) * (1 + 0.05 * rng.standard_normal(n_draws))
    draws["sigma_car_t"] = 0.2 + 0.01 * rng.standard_normal(n_draws)
    draws["sigma_cd19"] = 0.2 + 0.01 * rng.standard_normal(n_draws)
    draws["disease_SSc"] = 0.01 * rng.standard_normal(n_draws)
    draws["dose_exponent"] = 1.0 + 0.02 * rng.standard_normal(n_draws)
    # each patient's eta: a fixed value, scaled to SD 0.7 over patients, plus little noise per
    # draw, so the eta-shrinkage is 100 * (1 - 0.7) = 30 % by construction
    base = rng.standard_normal((n_patients, len(names)))
    base = 0.7 * (base - base.mean(axis=0)) / base.std(axis=0, ddof=1)
    draws["eta"] = base + 0.01 * rng.standard_normal((n_draws, n_patients, len(names)))
    return PopulationFit(
        reference=ref,
        estimated=names,
        covariate_effects=("dose_exponent", "disease_SSc"),
        data=data,
        draws=draws,
        chains=2,
        source="OBS.csv",
        disease_levels=("SSc",),
    )


def test_population_outputs_feed_back_into_the_parameter_loader(tmp_path: Path) -> None:
    from remission.cli.kinetics import load_params_file
    from remission.report.population_kinetics import write_population_outputs

    fit = _constructed_fit()
    paths = write_population_outputs(fit, tmp_path)
    assert [p.name for p in paths] == ["population.yaml", "individual.csv", "diagnostics.csv", "vpc.png", "gof.png"]
    ps = load_params_file(tmp_path / "population.yaml")  # what `remission simulate --params` does
    assert ps["tmax"].value == pytest.approx(9.0, rel=0.02)
    assert ps["tmax"].source == "estimated from OBS.csv, 12 patients"
    assert ps["cmax"].omega2 == pytest.approx(0.35, rel=0.1)
    assert ps["k_kill"].value == 2.0 and ps["k_kill"].source.startswith("fixed at the autoimmune value")
    CarTBCellModel(ps)  # a complete, valid set for the simulator
    import yaml

    doc = yaml.safe_load((tmp_path / "population.yaml").read_text("utf-8"))
    tmax = doc["parameters"]["tmax"]
    assert tmax["ci_low"] < tmax["value"] < tmax["ci_high"] and tmax["rse"] > 0
    assert "ci_low" not in doc["parameters"]["k_kill"]
    dose = doc["parameters"]["dose_exponent"]  # the estimated dose covariate
    assert dose["ci_low"] < dose["value"] < dose["ci_high"]
    assert dose["source"] == "estimated from OBS.csv, 12 patients"
    assert set(doc["residual_error"]) == {"car_t", "cd19"}
    assert set(doc["covariates"]) == {"disease_SSc"}


def test_individual_and_diagnostics_tables(tmp_path: Path) -> None:
    from remission.kinetics.population import diagnostics_table, individual_table

    fit = _constructed_fit()
    rows = individual_table(fit, n_draws=20)
    assert [r["ID"] for r in rows] == [str(i) for i in range(1, 13)]
    first = rows[0]
    assert first["car_t_peak_day"] == pytest.approx(first["tmax"])
    # typical autoimmune patient: aplasia from day 4, back about day 107 (simulate_block doctest)
    back = [r["b_cell_reappearance_day"] for r in rows]
    assert 60 < np.nanmedian(back) < 170
    assert all(r["b_cell_reappearance_day_p5"] <= r["b_cell_reappearance_day"] for r in rows)
    diag = {(r["parameter"], r["quantity"]): r for r in diagnostics_table(fit)}
    assert diag[("tmax", "typical")]["r_hat"] == pytest.approx(1.0, abs=0.2)
    assert diag[("tmax", "omega2")]["shrinkage_percent"] == pytest.approx(30, abs=1)
