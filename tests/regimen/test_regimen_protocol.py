"""Protocol loading and validation, and eligibility with per-criterion explanations."""

from pathlib import Path

import pytest

from remission.errors import InvalidInputError
from remission.regimen import evaluate_eligibility, load_protocol, parse_protocol

BASE = {
    "name": "t",
    "version": "1",
    "drugs": [{"code": "flu", "name": "F", "dose": 25, "unit": "mg/m2", "days": [-5]}],
}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            {"drugs": [{"code": "flu", "name": "F", "dose": 25, "unit": "mg/m3", "days": [-5]}]},
            "drugs.0.unit",
        ),
        (
            {"drugs": [{"code": "flu", "name": "F", "dose": 25, "unit": "mg/m2", "days": []}]},
            "drugs.0",
        ),
        ({"drugs": []}, "(top level)"),
        ({"version": None}, "version"),
        ({"surprise": 1}, "surprise"),
    ],
    ids=["bad_unit", "no_days", "no_drugs", "no_version", "unknown_field"],
)
def test_invalid_protocol_names_the_field(change, where):
    with pytest.raises(InvalidInputError) as err:
        parse_protocol({**BASE, **change})
    assert any(p.column == f"protocol {where}" for p in err.value.problems), str(err.value)


def test_duplicate_drug_codes_rejected():
    drug = BASE["drugs"][0]
    with pytest.raises(InvalidInputError, match="repeated: flu"):
        parse_protocol({**BASE, "drugs": [drug, drug]})


def test_load_protocol_from_file_and_errors(tmp_path: Path):
    good = tmp_path / "p.yaml"
    good.write_text("name: x\nversion: '2'\ndrugs:\n  - {code: cyc, name: C, dose: 500, unit: mg/m2, days: [-2]}\n")
    assert load_protocol(good).drug("cyc").days == (-2,)
    with pytest.raises(InvalidInputError, match="no such file"):
        load_protocol(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_protocol(bad)
    with pytest.raises(InvalidInputError, match="no such shipped protocol"):
        load_protocol("nonexistent-2099")


SLE_OK = {
    "age_years": 34,
    "prior_immunosuppressants": 3,
    "disease": "sle",
    "nephritis_class": "IV",
    "active_nephritis": "yes",
}


# Expected outcomes by hand from the criteria in regimen.md (≥ 2 prior treatments; SLE with active
# class III/IV nephritis; myositis with muscle and lung; diffuse SSc with skin and lung; age 18–60).
@pytest.mark.parametrize(
    ("facts", "eligible", "met"),
    [
        (SLE_OK, True, [True, True, True, True]),
        ({**SLE_OK, "nephritis_class": "v"}, False, [True, True, True, False]),
        ({**SLE_OK, "prior_immunosuppressants": 1}, False, [True, False, True, True]),
        ({**SLE_OK, "age_years": 60}, True, [True, True, True, True]),
        ({**SLE_OK, "age_years": 17.9}, False, [False, True, True, True]),
        ({**SLE_OK, "active_nephritis": None}, None, [True, True, True, None]),
        ({**SLE_OK, "active_nephritis": None, "age_years": 61}, False, [False, True, True, None]),
        (
            {
                "age_years": 40,
                "prior_immunosuppressants": 2,
                "disease": "myositis",
                "active_muscle_disease": 1,
                "active_lung_disease": 0,
            },
            False,
            [True, True, True, False],
        ),
        (
            {
                "age_years": 40,
                "prior_immunosuppressants": 2,
                "disease": "ssc",
                "ssc_subset": "diffuse",
                "active_skin_disease": 1,
                "active_lung_disease": 1,
            },
            True,
            [True, True, True, True],
        ),
        (
            {
                "age_years": 40,
                "prior_immunosuppressants": 2,
                "disease": "ssc",
                "ssc_subset": "limited",
                "active_skin_disease": 1,
                "active_lung_disease": 1,
            },
            False,
            [True, True, True, False],
        ),
        ({}, None, [None, None, None, None]),
    ],
    ids=[
        "sle_ok",
        "class_v",
        "one_prior",
        "age_60_boundary",
        "age_17_9",
        "nephritis_missing",
        "missing_but_age_fails",
        "myositis_no_lung",
        "dcssc_ok",
        "lcssc",
        "nothing_known",
    ],
)
def test_eligibility_per_criterion(facts, eligible, met):
    result = evaluate_eligibility(facts, load_protocol())
    assert result.eligible is eligible
    assert [c.met for c in result.criteria] == met


def test_eligibility_explains_each_criterion():
    result = evaluate_eligibility({**SLE_OK, "nephritis_class": "v"}, load_protocol())
    lines = result.explain().splitlines()
    assert lines[0] == "age: met (age between 18 and 60 years: age_years=34)"
    assert lines[3] == (
        "organ_involvement: not met (disease-specific active organ involvement: "
        "active_nephritis=1, nephritis_class=v fails)"
    )
    missing = evaluate_eligibility({**SLE_OK, "active_nephritis": ""}, load_protocol())
    assert "missing: active_nephritis" in str(missing.criteria[3])


def test_age_range_is_a_parameter():
    facts = {**SLE_OK, "age_years": 65}
    assert evaluate_eligibility(facts, load_protocol()).eligible is False
    assert evaluate_eligibility(facts, load_protocol(), parameters={"max_age_years": 70}).eligible is True
    with pytest.raises(InvalidInputError, match="unknown eligibility parameter"):
        evaluate_eligibility(facts, load_protocol(), parameters={"max_age": 70})


def test_bad_fact_value_is_an_error():
    with pytest.raises(InvalidInputError, match="column disease: value lupus: expected one of"):
        evaluate_eligibility({**SLE_OK, "disease": "lupus"}, load_protocol())
