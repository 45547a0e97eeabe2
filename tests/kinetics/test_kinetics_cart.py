"""Stein 2019 CAR-T closed form: hand-computed values, continuity at Tmax, vectorisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission.kinetics import SteinCarTModel, car_t_stein

BALL = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.16, fb=0.0079, beta=0.0032)
AUTO = dict(foldx=500.0, tmax=9.0, cmax=50.0, alpha=0.2, fb=0.035, beta=0.03)


# Expected values computed by hand (calculator) from the spec formula of section 1:
# R0 = cmax/foldx, rho = ln(foldx)/tmax; C = R0 exp(rho t) before tmax, then
# cmax((1-FB) exp(-alpha tau) + FB exp(-beta tau)).
@pytest.mark.parametrize(
    ("params", "day", "expected"),
    [
        (BALL, 0.0, 6.153846),  # R0 = 24000/3900
        (BALL, 1.0, 14.972096),  # 6.153846 * exp(0.8891109)
        (BALL, 5.0, 524.59788),  # 6.153846 * exp(4.4455547)
        (BALL, 9.3, 24000.0),  # the peak
        (BALL, 19.3, 4990.8657),  # 24000 (0.9921 e^-1.6 + 0.0079 e^-0.032)
        (BALL, 39.3, 368.19835),  # 24000 (0.9921 e^-4.8 + 0.0079 e^-0.096)
        (BALL, 109.3, 137.68054),  # tau = 100: memory phase dominates
        (BALL, 365.0, 60.744503),
        (AUTO, 3.0, 0.7937005),  # 0.1 * 500^(3/9)
        (AUTO, 19.0, 7.8263593),  # 50 (0.965 e^-2 + 0.035 e^-0.3)
        (AUTO, 99.0, 0.1176104),  # 50 (0.965 e^-18 + 0.035 e^-2.7)
        (AUTO, -1.0, 0.0),  # before infusion
    ],
    ids=[
        "ball-day0-R0",
        "ball-day1",
        "ball-day5",
        "ball-peak",
        "ball-day19.3",
        "ball-day39.3",
        "ball-day109.3",
        "ball-day365",
        "auto-day3",
        "auto-day19",
        "auto-day99",
        "auto-before-infusion",
    ],
)
def test_car_t_against_hand_computation_from_spec(params: dict[str, float], day: float, expected: float) -> None:
    assert float(car_t_stein(day, **params)) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_model_uses_published_ball_set() -> None:
    out = SteinCarTModel("stein2019-ball").predict([19.3, 0.0, 9.3])["car_t"][0]
    # Same hand-computed values as above, in the order asked for.
    assert out == pytest.approx([4990.8657, 6.153846, 24000.0], rel=1e-6)


positive = st.floats(min_value=0.01, max_value=5.0)


@given(
    foldx=st.floats(2.0, 1e5),
    tmax=st.floats(1.0, 30.0),
    cmax=st.floats(0.01, 1e5),
    alpha=positive,
    fb=st.floats(1e-4, 0.99),
    beta=st.floats(1e-4, 0.5),
)
def test_continuous_at_tmax_and_peak_there(
    foldx: float, tmax: float, cmax: float, alpha: float, fb: float, beta: float
) -> None:
    p = dict(foldx=foldx, tmax=tmax, cmax=cmax, alpha=alpha, fb=fb, beta=beta)
    eps = 1e-9
    left, at, right = (float(car_t_stein(t, **p)) for t in (tmax - eps, tmax, tmax + eps))
    assert left == pytest.approx(cmax, rel=1e-6)
    assert right == pytest.approx(cmax, rel=1e-6)
    assert at == pytest.approx(cmax, rel=1e-12)
    grid = np.linspace(0, 3 * tmax + 50, 400)
    assert float(np.max(car_t_stein(grid, **p))) <= cmax * (1 + 1e-12)


def test_vectorised_equals_one_patient_at_a_time() -> None:
    model = SteinCarTModel("stein2019-ball")
    theta = model.sample(50, np.random.default_rng(11))
    days = np.array([0.0, 3.0, 9.0, 30.0, 365.0])
    together = model.predict(days, theta)["car_t"]
    for i in (0, 17, 49):
        alone = model.predict(days, {k: v[i : i + 1] for k, v in theta.items()})["car_t"][0]
        np.testing.assert_allclose(together[i], alone, rtol=1e-14)


def test_dose_scales_the_peak_in_the_autoimmune_set() -> None:
    full = SteinCarTModel(dose_per_kg=1e6).predict([9.0])["car_t"][0, 0]
    half = SteinCarTModel(dose_per_kg=5e5).predict([9.0])["car_t"][0, 0]
    # dose_exponent = 1 in the autoimmune set: half the dose, half the peak (cmax = 50 cells/µL).
    assert (full, half) == pytest.approx((50.0, 25.0))
    ball = SteinCarTModel("stein2019-ball", dose_per_kg=5e5).predict([9.3])["car_t"][0, 0]
    assert ball == pytest.approx(24000.0)  # dose_exponent = 0 for B-ALL
