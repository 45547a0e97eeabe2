"""Closed forms and the fast cohort integrator against SciPy ``solve_ivp`` references.

Oracle: the same model written as plain ODEs (remission.kinetics._reference, right-hand sides
written out independently) and integrated by SciPy's adaptive solvers at tight tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest

from remission.kinetics import CarTBCellModel, car_t_stein, load_parameter_set, simulate_cohort
from remission.kinetics._exact import simulate_block
from remission.kinetics._reference import bcell_ivp, car_t_ode

STEIN = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")


def _typical(name: str) -> dict[str, float]:
    return {k: v for k, v in load_parameter_set(name).typical().items() if k in STEIN}


@pytest.mark.parametrize(
    "params",
    [
        _typical("stein2019-ball"),
        _typical("autoimmune"),
        # a fast, memory-rich patient (fb large, alpha close to beta)
        dict(foldx=50.0, tmax=6.0, cmax=10.0, alpha=0.05, fb=0.4, beta=0.04),
    ],
    ids=["stein2019-ball", "autoimmune", "slow-contraction"],
)
def test_car_t_closed_form_matches_the_ode_to_1e6(params: dict[str, float]) -> None:
    # Effector E (rate alpha) and memory M fed by kappa = FB (alpha - beta), decaying with beta,
    # after an expansion phase exp(rho t): solve_ivp (DOP853, rtol 1e-12) of the same model.
    days = np.concatenate([np.linspace(0.0, 30.0, 121), np.linspace(30.0, 730.0, 141)])
    ode = car_t_ode(days, params)
    closed = car_t_stein(days, **params)
    np.testing.assert_allclose(closed, ode, rtol=1e-6, atol=0)


def _patients() -> dict[str, np.ndarray]:
    model = CarTBCellModel()
    theta = model.sample(8, np.random.default_rng(11))
    # plus one high-killing patient (k_kill 4/day: where a 1-day RK4 step is unstable)
    extra = model.typical_theta(1)
    extra["k_kill"] = np.array([4.0])
    extra["cmax"] = np.array([200.0])
    return {k: np.concatenate([theta[k], extra[k]]) for k in theta}


def test_exponential_integrator_matches_solve_ivp() -> None:
    model = CarTBCellModel()
    theta = _patients()
    days = np.arange(0.0, 301.0)
    endpoints, cd19 = simulate_block(model, theta, 300, curves=True)
    assert cd19 is not None
    for i in range(theta["b0"].size):
        one = {k: v[i : i + 1] for k, v in theta.items()}
        ref = bcell_ivp(model, one, days)
        b = ref["cd19"]
        seen = b > 1e-2  # relative error of tiny levels (deep aplasia) does not matter
        # Stated tolerance: 2e-3 relative while B > 0.01 cells/µL, 1e-4 near the threshold.
        np.testing.assert_allclose(cd19[i][seen], b[seen], rtol=2e-3)
        near = (b > 0.3) & (b < 3.0)
        np.testing.assert_allclose(cd19[i][near], b[near], rtol=1e-4)
        a = ref["autoantibody"]
        assert endpoints["autoantibody_fraction_day_180"][i] == pytest.approx(a[180] / a[0], rel=1e-5)
        below = np.flatnonzero(b < 1.0)
        start = below[0]
        up = np.flatnonzero((b > 1.0) & (days > start))
        assert endpoints["b_cell_aplasia_start_day"][i] == start
        assert abs(endpoints["b_cell_reappearance_day"][i] - up[0]) <= 1


def test_exponential_and_rk4_cohorts_agree_within_the_documented_tolerance() -> None:
    fast = simulate_cohort(1500, days=400, seed=4, curve_sample=0)
    slow = simulate_cohort(1500, days=400, seed=4, curve_sample=0, solver="rk4")
    for k in ("b_cell_aplasia_start_day", "b_cell_reappearance_day"):
        diff = np.abs(fast.patients[k] - slow.patients[k])
        assert np.nanmax(diff) <= 1.0
        assert np.mean(diff == 0) >= 0.99
        np.testing.assert_array_equal(np.isnan(fast.patients[k]), np.isnan(slow.patients[k]))
    for k in ("autoantibody_fraction_day_90", "autoantibody_fraction_day_180"):
        np.testing.assert_allclose(fast.patients[k], slow.patients[k], rtol=1e-5)
    for k in ("car_t_peak_day", "car_t_peak_cells_ul"):
        np.testing.assert_array_equal(fast.patients[k], slow.patients[k])


def test_early_exit_does_not_change_the_endpoints() -> None:
    # curves=True integrates every patient to the horizon; curves=False drops finished ones.
    model = CarTBCellModel()
    theta = model.sample(500, np.random.default_rng(5))
    full, _ = simulate_block(model, theta, 365, curves=True)
    fast, none = simulate_block(model, theta, 365, curves=False)
    assert none is None
    for k, v in full.items():
        np.testing.assert_allclose(fast[k], v, rtol=1e-12, atol=0, err_msg=k)


def test_threads_do_not_change_the_cohort() -> None:
    one = simulate_cohort(3000, days=250, seed=8, chunk_size=2000, workers=1)
    two = simulate_cohort(3000, days=250, seed=8, chunk_size=2000, workers=2)
    for k, v in one.patients.items():
        np.testing.assert_array_equal(two.patients[k], v)
    np.testing.assert_array_equal(two.curves["cd19"], one.curves["cd19"])


def test_unknown_solver_is_refused() -> None:
    from remission.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="solver"):
        simulate_cohort(2, solver="euler")
