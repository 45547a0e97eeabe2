"""B-cell / autoantibody model and virtual cohorts: calibration, reproducibility, vectorisation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from remission.errors import InvalidInputError
from remission.kinetics import CarTBCellModel, simulate_cohort, summarize_cohort
from remission.kinetics.cohort import PATIENT_COLUMNS


def test_steady_state_before_conditioning() -> None:
    model = CarTBCellModel()
    out = model.predict([-30.0, -5.0])
    # b0 = 100 cells/µL (autoimmune set); untouched before conditioning starts at day -5.
    assert out["cd19"][0] == pytest.approx([100.0, 100.0], rel=1e-12)
    assert out["autoantibody"][0] == pytest.approx([1.0, 1.0], rel=1e-12)
    assert out["car_t"][0] == pytest.approx([0.0, 0.0])


def test_conditioning_depletes_then_car_t_causes_aplasia() -> None:
    out = CarTBCellModel().predict([-5.0, -4.0, -3.0, -2.0, 0.0, 14.0, 40.0])["cd19"][0]
    assert np.all(np.diff(out[:4]) < 0)  # falling during conditioning (days -5..-3)
    # cond_fraction 0.9 over 3 days plus turnover: about 10 % of b0 left at day -2.
    assert 9.0 < out[3] < 11.0
    assert out[5] < 1.0 and out[6] < 1.0  # aplasia (< 1 cell/µL)


def test_antibody_keeps_the_long_lived_share() -> None:
    model = CarTBCellModel()
    a = model.predict([0.0, 90.0, 180.0, 365.0])["autoantibody"][0]
    assert np.all(np.diff(a) < 0)
    # f_long = 0.1: anti-dsDNA falls towards the long-lived plasma-cell share, not to 0.
    assert a[-1] == pytest.approx(0.1, abs=0.005)


def test_no_car_t_and_no_conditioning_leaves_the_steady_state() -> None:
    ps = CarTBCellModel().parameters.with_values(k_kill=1e-12, cond_fraction=1e-12)
    out = CarTBCellModel(ps).predict([0.0, 100.0, 400.0])
    assert out["cd19"][0] == pytest.approx([100.0] * 3, rel=1e-6)
    assert out["autoantibody"][0] == pytest.approx([1.0] * 3, rel=1e-6)


def test_calibration_reproduces_mackensen_2022() -> None:
    # Target: B-cell reappearance 110 ± 32 days (mean ± SD; Mackensen, Nat Med 2022) and a
    # CAR-T peak at day 7-14 (Mackensen 2022; Müller, NEJM 2024).
    start = time.perf_counter()
    res = simulate_cohort(2000, seed=20240221)
    elapsed = time.perf_counter() - start
    back = res.patients["b_cell_reappearance_day"]
    assert np.isnan(back).sum() == 0
    assert 100 <= back.mean() <= 120
    assert 24 <= back.std(ddof=1) <= 40
    assert 7 <= np.median(res.patients["car_t_peak_day"]) <= 14
    assert elapsed < 20


def test_seeded_cohorts_are_reproducible() -> None:
    a = simulate_cohort(30, days=200, seed=5)
    b = simulate_cohort(30, days=200, seed=5)
    c = simulate_cohort(30, days=200, seed=6)
    for k in a.patients:
        np.testing.assert_array_equal(a.patients[k], b.patients[k])
    assert not np.array_equal(a.patients["car_t_peak_day"], c.patients["car_t_peak_day"])


def _first_day_above_after_aplasia(b: np.ndarray) -> tuple[float, float]:
    below = np.flatnonzero(b < 1.0)
    if below.size == 0:
        return np.nan, np.nan
    start = below[0]
    above = np.flatnonzero((b > 1.0) & (np.arange(b.size) > start))
    return float(start), float(above[0]) if above.size else np.nan


def test_vectorised_cohort_equals_single_patient_simulation() -> None:
    res = simulate_cohort(40, days=300, seed=9, chunk_size=16, curve_sample=40, solver="rk4")
    model = CarTBCellModel()
    theta = model.sample(16, np.random.default_rng(9))  # the first chunk's draws
    days = np.arange(0.0, 301.0)
    for i in (0, 7, 15):
        alone = model.predict(days, {k: v[i : i + 1] for k, v in theta.items()})
        np.testing.assert_allclose(res.curves["cd19"][i], alone["cd19"][0], rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(res.curves["car_t"][i], alone["car_t"][0], rtol=1e-12)
        start, back = _first_day_above_after_aplasia(alone["cd19"][0])
        assert res.patients["b_cell_aplasia_start_day"][i] == start
        assert res.patients["b_cell_reappearance_day"][i] == back
        assert res.patients["car_t_peak_day"][i] == theta["tmax"][i]


def test_endpoints_do_not_depend_on_the_step_size() -> None:
    class Fine(CarTBCellModel):
        fine_step_days = 0.02
        coarse_step_days = 0.1

    model, fine = CarTBCellModel(), Fine()
    theta = model.sample(200, np.random.default_rng(2))
    days = np.arange(0.0, 366.0)
    a = model.predict(days, theta)["cd19"]
    b = fine.predict(days, theta)["cd19"]
    assert np.all((a > 1.0) == (b > 1.0))  # same integer-day threshold crossings
    np.testing.assert_allclose(a[:, 200:], b[:, 200:], rtol=1e-4)


def test_halving_the_dose_shortens_aplasia() -> None:
    full = simulate_cohort(300, days=400, seed=1)
    half = simulate_cohort(300, days=400, seed=1, dose_per_kg=5e5)
    d_full = full.patients["b_cell_aplasia_days"]
    d_half = half.patients["b_cell_aplasia_days"]
    assert np.all(d_half <= d_full) and d_half.mean() < d_full.mean() - 10


def test_short_horizon_leaves_endpoints_empty() -> None:
    res = simulate_cohort(10, days=30, seed=1)
    assert np.all(np.isnan(res.patients["b_cell_reappearance_day"]))
    assert np.all(np.isnan(res.patients["b_cell_aplasia_days"]))  # censored, unknown length
    assert np.all(np.isnan(res.patients["autoantibody_fraction_day_180"]))
    rows = {r["metric"]: r for r in summarize_cohort(res)}
    assert rows["b_cell_reappearance_day"]["n"] == 0 and rows["b_cell_reappearance_day"]["n_missing"] == 10
    assert np.isnan(rows["b_cell_reappearance_day"]["p50"])


def test_chunks_cover_every_patient() -> None:
    res = simulate_cohort(25, days=150, seed=4, chunk_size=7, curve_sample=10)
    assert res.n_patients == 25
    assert res.curves["cd19"].shape == (10, 151)
    np.testing.assert_array_equal(res.patients["patient"], np.arange(1, 26))
    assert set(PATIENT_COLUMNS) <= set(res.patients)


def test_summary_quantiles_of_a_known_column() -> None:
    res = simulate_cohort(101, days=200, seed=8)
    peak = {r["metric"]: r for r in summarize_cohort(res)}["car_t_peak_day"]
    values = np.sort(res.patients["car_t_peak_day"])
    # 101 values: the 5/25/50/75/95 % quantiles (linear) are exactly the 6th, 26th, 51st,
    # 76th and 96th order statistics.
    assert [peak[f"p{q}"] for q in (5, 25, 50, 75, 95)] == pytest.approx(values[[5, 25, 50, 75, 95]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_patients": 0}, "column patients: value 0: must be an integer ≥ 1"),
        ({"n_patients": 5, "days": 0}, "column days: value 0: must be an integer ≥ 1"),
        (
            {"n_patients": 5, "dose_per_kg": -1.0},
            "column dose_per_kg: value -1.0: must be a finite number > 0",
        ),
        (
            {"n_patients": 5, "backend": "torch"},
            "column backend: value torch: expected one of numpy, jax",
        ),
    ],
    ids=["no-patients", "no-days", "negative-dose", "unknown-backend"],
)
def test_bad_cohort_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        simulate_cohort(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_jax_backend_when_installed() -> None:
    pytest.importorskip("jax")  # optional: JAX is not a dependency
    a = simulate_cohort(20, days=200, seed=1, backend="jax")  # pragma: no cover
    b = simulate_cohort(20, days=200, seed=1)  # pragma: no cover
    np.testing.assert_allclose(a.patients["car_t_peak_day"], b.patients["car_t_peak_day"])  # pragma: no cover
