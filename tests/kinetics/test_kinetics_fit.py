"""Maximum-likelihood fitting of one patient: recovery of known parameters, errors, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from remission.kinetics import (
    CarTBCellModel,
    ConvergenceWarning,
    KineticsError,
    NotFittedError,
    SteinCarTModel,
)

# Known "true" parameters, deliberately away from the autoimmune typical values the fit starts at.
TRUE_CAR_T = dict(foldx=800.0, tmax=10.5, cmax=80.0, alpha=0.25, fb=0.05, beta=0.02)
DAYS = np.array([1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 14, 17, 21, 28, 35, 42, 60, 90, 120, 180.0])


def _truth(model: SteinCarTModel | CarTBCellModel, values: dict[str, float]) -> dict[str, np.ndarray]:
    theta = model.typical_theta(1)
    theta.update({k: np.array([v]) for k, v in values.items()})
    return theta


def test_fit_recovers_car_t_parameters_from_noise_free_data() -> None:
    model = SteinCarTModel()
    y = model.predict(DAYS, _truth(model, TRUE_CAR_T))["car_t"][0]
    # Without noise the residual SD goes to its lower bound, so the likelihood has no finite
    # curvature: the estimates are exact but standard errors are undefined (a warning says so).
    with pytest.warns(ConvergenceWarning, match="Hessian not positive definite"):
        fitted = model.fit(DAYS, {"car_t": y})
    assert fitted is model  # fit() returns self
    for name, value in TRUE_CAR_T.items():
        assert fitted.params_[name] == pytest.approx(value, rel=1e-3), name
    assert fitted.sigma_["car_t"] < 1e-3


def test_fit_recovers_car_t_parameters_from_noisy_data() -> None:
    model = SteinCarTModel()
    days = np.repeat(DAYS, 2)  # duplicate samples
    y = model.predict(days, _truth(model, TRUE_CAR_T))["car_t"][0]
    noisy = y * np.exp(np.random.default_rng(42).normal(0.0, 0.2, y.size))
    fitted = model.fit(days, {"car_t": noisy})
    for name, value in TRUE_CAR_T.items():
        est, se = fitted.params_[name], fitted.standard_errors_[name]
        assert np.isfinite(se) and se > 0
        assert abs(est - value) < 3.5 * se, (name, est, se)
    assert fitted.sigma_["car_t"] == pytest.approx(0.2, rel=0.35)
    assert fitted.converged_
    rows = fitted.estimates()
    assert [r["parameter"] for r in rows] == [*TRUE_CAR_T, "sigma_car_t"]


def test_fit_recovers_b_cell_parameters_with_censored_aplasia() -> None:
    model = CarTBCellModel()
    truth = {"b0": 150.0, "ec50": 2.0}
    days = np.array([-7, 0, 2, 4, 7, 14, 28, 60, 90, 110, 130, 160, 200, 270, 365.0])
    y = model.predict(days, _truth(model, truth))["cd19"][0]
    y = y * np.exp(np.random.default_rng(3).normal(0.0, 0.1, y.size))
    y = np.where(y < 1.0, 0.0, y)  # below 1 cell/µL reported as 0 (censored at the LLOQ)
    assert (y == 0).sum() >= 4
    fitted = model.fit(days, {"cd19": y}, free=("b0", "ec50"))
    for name, value in truth.items():
        est, se = fitted.params_[name], fitted.standard_errors_[name]
        assert abs(est - value) < 3.5 * se and se < 0.3 * value, (name, est, se)


def test_predict_after_fit_uses_fitted_parameters() -> None:
    model = SteinCarTModel()
    y = model.predict(DAYS, _truth(model, TRUE_CAR_T))["car_t"][0]
    model.fit(DAYS, {"car_t": y * np.exp(0.05 * np.sin(np.arange(DAYS.size)))})
    peak = model.params_["cmax"]
    assert model.predict([model.params_["tmax"]])["car_t"][0, 0] == pytest.approx(peak, rel=1e-8)
    assert peak == pytest.approx(80.0, rel=0.1)


def test_estimates_before_fit_raise_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="call fit\\(\\) first"):
        SteinCarTModel().estimates()


@pytest.mark.parametrize(
    ("observed", "message"),
    [
        (
            {"car_t": [1.0, -2.0, 3.0]},
            "row 2, column car_t: value -2: must be ≥ 0 (0 = below detection)",
        ),
        ({"car_t": [1.0, 2.0]}, "column car_t: value (2,): expected 3 values like day"),
        (
            {"cd19": [1.0, 2.0, 3.0]},
            "column cd19: value : not an output of SteinCarTModel (outputs: car_t)",
        ),
        (
            {"car_t": [np.nan, np.nan, np.nan]},
            "column observations: value : no observed value to fit",
        ),
    ],
    ids=["negative", "wrong-length", "unknown-output", "all-missing"],
)
def test_bad_series_are_refused(observed: dict[str, list[float]], message: str) -> None:
    with pytest.raises(KineticsError) as err:
        SteinCarTModel().fit([1.0, 5.0, 9.0], observed)
    assert str(err.value) == message


def test_unidentifiable_fit_warns() -> None:
    model = SteinCarTModel()
    with pytest.warns(ConvergenceWarning, match="Hessian not positive definite"):
        model.fit([9.0, 20.0], {"car_t": [50.0, 10.0]})
    assert np.isnan(model.standard_errors_["foldx"])
