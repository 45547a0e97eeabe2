"""BSA, rounding and doses against the spec's reference values (../shared/specs/regimen.md)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission.errors import InvalidInputError
from remission.regimen import compute_regimen, load_protocol, parse_protocol, round_half_away
from remission.regimen.dosing import bsa_dubois, bsa_mosteller


# Reference values printed in regimen.md (Mosteller 1987 / DuBois 1916), 4 decimals.
@pytest.mark.parametrize(
    ("height", "weight", "mosteller", "dubois"),
    [(170, 70, "1.8181", "1.8097"), (160, 50, "1.4907", "1.5011"), (180, 90, "2.1213", "2.0989")],
    ids=["170_70", "160_50", "180_90"],
)
def test_bsa_against_spec_reference_values(height, weight, mosteller, dubois):
    assert round_half_away(bsa_mosteller(height, weight), 4) == Decimal(mosteller)
    assert round_half_away(bsa_dubois(height, weight), 4) == Decimal(dubois)


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (45.25, 1, "45.3"),
        (45.35, 1, "45.4"),
        (0.125, 2, "0.13"),
        (1820.5, 0, "1821"),
        (2.5, 0, "3"),
        (-2.5, 0, "-3"),
        (45.24, 1, "45.2"),
    ],
    ids=[
        "spec_45_25",
        "45_35_float_noise",
        "0_125",
        "1820_5",
        "2_5_not_even",
        "negative",
        "below_half",
    ],
)
def test_round_half_away_from_zero(value, decimals, expected):
    # Hand computation: half away from zero, on the decimal the user wrote (not binary float).
    assert round_half_away(value, decimals) == Decimal(expected)


def test_flat_dose_rounding_45_25_is_45_3():
    # A flat 45.25 mg dose rounded to 0.1 mg: half away from zero → 45.3 (regimen.md).
    protocol = parse_protocol(
        {
            "name": "t",
            "version": "1",
            "drugs": [
                {
                    "code": "flu",
                    "name": "F",
                    "dose": "45.25",
                    "unit": "mg",
                    "days": [-3],
                    "decimals": 1,
                }
            ],
        }
    )
    assert compute_regimen(170, 70, protocol=protocol).doses["flu"] == Decimal("45.3")


# Expected values: the public examples (../shared/examples/regimen_expected.csv) and by hand:
# 170/70 Mosteller 1.8181 → 1.82; 25 × 1.82 = 45.5; ×3 = 136.5; 1000 × 1.82 = 1820; 70e6 cells.
@pytest.mark.parametrize(
    ("height", "weight", "formula", "bsa", "flu", "cyc", "cells"),
    [
        (170, 70, "mosteller", "1.82", "45.5", "1820", "70000000"),
        (160, 50, "dubois", "1.50", "37.5", "1500", "50000000"),
        (180, 90, None, "2.12", "53.0", "2120", "90000000"),
        # √(150 × 45.5 / 3600) = 1.37689 → 1.38; 25 × 1.38 = 34.5; 45.5 kg × 1e6
        (150, 45.5, "mosteller", "1.38", "34.5", "1380", "45500000"),
        # √(170 × 69.4 / 3600) = 1.81031 → 1.81; 25 × 1.81 = 45.25 → 45.3 (the spec's example)
        (170, 69.4, "mosteller", "1.81", "45.3", "1810", "69400000"),
    ],
    ids=["170_70", "160_50_dubois", "180_90_default", "150_45_5", "45_25_to_45_3"],
)
def test_doses_hand_computed(height, weight, formula, bsa, flu, cyc, cells):
    result = compute_regimen(height, weight, formula)
    assert result.bsa_m2 == Decimal(bsa)
    assert result.doses["fludarabine"] == Decimal(flu)
    assert result.total("fludarabine") == 3 * Decimal(flu)
    assert result.doses["cyclophosphamide"] == Decimal(cyc)
    assert result.doses["car_t_cells"] == Decimal(cells)


def test_schedule_days_minus5_to_0():
    schedule = compute_regimen(170, 70).schedule
    assert [(d.day, d.drug) for d in schedule] == [
        (-5, "fludarabine"),
        (-4, "fludarabine"),
        (-3, "fludarabine"),
        (-3, "cyclophosphamide"),
        (0, "car_t_cells"),
    ]


def test_cap_limits_a_dose():
    protocol = parse_protocol(
        {
            "name": "t",
            "version": "1",
            "drugs": [
                {
                    "code": "cyc",
                    "name": "C",
                    "dose": 1000,
                    "unit": "mg/m2",
                    "days": [-3],
                    "cap": 1500,
                }
            ],
        }
    )
    result = compute_regimen(180, 90, protocol=protocol)  # 2120 mg uncapped
    assert result.doses["cyc"] == Decimal(1500)
    assert result.capped == ("cyc",)


@pytest.mark.parametrize(
    ("height", "weight", "formula", "column"),
    [
        (49.9, 70, None, "height_cm"),
        (170, 301, None, "weight_kg"),
        (170, 70, "boyd", "bsa_formula"),
    ],
    ids=["height_low", "weight_high", "formula"],
)
def test_out_of_range_is_an_error(height, weight, formula, column):
    with pytest.raises(InvalidInputError) as err:
        compute_regimen(height, weight, formula)
    assert err.value.problems[0].column == column


@given(
    h=st.floats(50, 250, allow_nan=False),
    w=st.floats(2, 300, allow_nan=False),
    dh=st.floats(0, 20),
    dw=st.floats(0, 20),
)
def test_doses_monotone_in_body_size(h, w, dh, dw):
    small = compute_regimen(h, w)
    big = compute_regimen(min(h + dh, 250), min(w + dw, 300))
    assert big.bsa_m2 >= small.bsa_m2
    assert big.doses["fludarabine"] >= small.doses["fludarabine"]
    assert big.doses["car_t_cells"] >= small.doses["car_t_cells"]


def test_default_protocol_is_the_erlangen_data():
    protocol = load_protocol()
    flu, cyc, cart = (protocol.drug(c) for c in ("fludarabine", "cyclophosphamide", "car_t_cells"))
    assert (flu.dose, flu.unit, flu.days) == (Decimal(25), "mg/m2", (-5, -4, -3))
    assert (cyc.dose, cyc.days) == (Decimal(1000), (-3,))
    assert (cart.dose, cart.unit, cart.days) == (Decimal(1000000), "cells/kg", (0,))
    assert protocol.eligibility.parameters["min_age_years"] == 18
    assert protocol.eligibility.parameters["max_age_years"] == 60
