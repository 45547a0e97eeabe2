"""Parameter sets as data: every value documented, parsing errors, seeded sampling."""

from __future__ import annotations

import numpy as np
import pytest

from remission.errors import InvalidInputError
from remission.kinetics import BUILTIN_SETS, CarTBCellModel, load_parameter_set, parse_parameter_set


@pytest.mark.parametrize("name", BUILTIN_SETS)
def test_every_value_has_a_source_and_unit(name: str) -> None:
    ps = load_parameter_set(name)
    assert ps.source and ps.description
    for p in ps.parameters.values():
        assert p.source.strip(), f"{name}.{p.name} has no source"
        assert p.description.strip(), f"{name}.{p.name} has no description"
        if p.omega2 > 0:
            assert p.omega2_source.strip(), f"{name}.{p.name} omega2 has no source"


def test_ball_set_is_the_published_one() -> None:
    # Stein 2019 as quoted in the spec: typical values and omega^2.
    ps = load_parameter_set("stein2019-ball")
    got = {k: (ps[k].value, ps[k].omega2) for k in ("foldx", "tmax", "cmax", "alpha", "fb", "beta")}
    assert got == {
        "foldx": (3900.0, 2.4),
        "tmax": (9.3, 0.38),
        "cmax": (24000.0, 0.65),
        "alpha": (0.16, 0.91),
        "fb": (0.0079, 0.8),
        "beta": (0.0032, 0.86),
    }


def test_ball_set_cannot_drive_the_b_cell_model() -> None:
    with pytest.raises(InvalidInputError, match="column parameters: value b0: required by CarTBCellModel"):
        CarTBCellModel("stein2019-ball")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"parameters": {"tmax": {"value": -1}}},
            "custom.parameters.tmax.value: value -1.0: must be a finite number > 0",
        ),
        (
            {"parameters": {"fb": {"value": 1.5, "domain": "fraction"}}},
            "must be strictly between 0 and 1",
        ),
        (
            {"parameters": {"tmax": {"value": 9, "omega2": -0.1}}},
            "omega2: value -0.1: must be a finite number ≥ 0",
        ),
        ({"parameters": {"tmax": {"value": "nine"}}}, "expected a number"),
        ({"parameters": {"tmax": {"value": 9, "colour": 1}}}, "unknown field(s)"),
        ({"parameters": {}}, "expected a non-empty mapping"),
        ({"base": "nope", "parameters": {}}, "value nope: unknown; expected one of autoimmune"),
    ],
    ids=[
        "negative",
        "fraction-above-1",
        "negative-omega2",
        "text-value",
        "unknown-field",
        "empty",
        "bad-base",
    ],
)
def test_malformed_parameter_files_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_parameter_set(data)
    assert message in str(err.value)


def test_base_override_keeps_the_other_values() -> None:
    ps = parse_parameter_set({"base": "autoimmune", "parameters": {"beta": {"value": 0.06}}})
    base = load_parameter_set("autoimmune")
    assert ps["beta"].value == 0.06 and ps["beta"].omega2 == base["beta"].omega2
    assert ps["tmax"] == base["tmax"]


def test_sampling_is_seeded_and_log_normal() -> None:
    ps = load_parameter_set("autoimmune")
    a = ps.sample(20000, np.random.default_rng(1))
    b = ps.sample(20000, np.random.default_rng(1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # median of a log-normal is the typical value; log-SD is sqrt(omega2)
    assert np.median(a["cmax"]) == pytest.approx(50.0, rel=0.03)
    assert np.log(a["cmax"]).std() == pytest.approx(np.sqrt(0.35), rel=0.03)
    assert np.all((a["fb"] > 0) & (a["fb"] < 1))
    assert np.all(a["n_transit"] == 4)
