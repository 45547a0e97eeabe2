"""Glucocorticoid dose as analysed: dose + unit + frequency + route → prednisone-equivalent mg/day.

Expected values are computed by hand from the equivalence table's sources (Meikle & Tyler 1977;
Liu et al. 2013; specs/medications.md: mg equivalent to 5 mg prednisone) and the CDISC FREQ
codelist: mg/day = dose × mg per unit × administrations per day × 5 / equivalent.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from remission.errors import InvalidInputError
from remission.medications import convert_to_prednisone_mg_day, default_table, validate_medications
from remission.medications.dose import EQUIVALENTS, administrations_per_day, mg_per_unit

# (id, drug, dose, unit, frequency, route, expected mg/day) — hand computation in the id's comment.
CONVERTED = [
    ("prednisone_10_qd", "prednisone", 10.0, "mg", "QD", "ORAL", 10.0),  # 10 × 1 × 5/5
    ("prednisolone_5_bid", "prednisolone", 5.0, "mg", "BID", "oral", 10.0),  # 5 × 2
    ("medrol_4_once_daily", "Medrol", 4.0, "mg", "ONCE DAILY", "oral", 5.0),  # 4 × 1 × 5/4
    ("methylpred_16_2_times_per_day", "methylprednisolone", 16.0, "mg", "2 TIMES PER DAY", "oral", 40.0),
    ("dexamethasone_0.75_qd_is_exactly_5", "dexamethasone", 0.75, "mg", "QD", "oral", 5.0),  # 0.75 × 5/0.75
    ("dexamethasone_4_q12h", "dexamethasone", 4.0, "mg", "Q12H", "iv", 53.333333),  # 4 × 2 × 5/0.75
    ("hydrocortisone_20_tid", "hydrocortisone", 20.0, "mg", "TID", "oral", 15.0),  # 20 × 3 × 5/20
    ("hydrocortisone_10_q8h", "hydrocortisone", 10.0, "mg", "Q8H", "oral", 7.5),  # 10 × 3 × 5/20
    ("cortisone_25_qid", "cortisone", 25.0, "mg", "QID", "oral", 20.0),  # 25 × 4 × 5/25
    ("betamethasone_0.6_qd", "betamethasone", 0.6, "mg", "QD", "oral", 5.0),  # 0.6 × 5/0.6
    ("deflazacort_6_qd", "deflazacort", 6.0, "mg", "qd", "oral", 5.0),  # 6 × 5/6
    ("triamcinolone_8_qod", "triamcinolone", 8.0, "mg", "QOD", "oral", 5.0),  # 8 × 0.5 × 5/4
    ("prednisone_70_qw", "prednisone", 70.0, "mg", "QW", "oral", 10.0),  # 70 / 7
    ("methylpred_pulse_1_g_once", "methylprednisolone", 1.0, "g", "ONCE", "iv", 1250.0),  # 1000 × 5/4
    ("prednisone_5000_ug", "prednisone", 5000.0, "ug", "QD", "oral", 5.0),  # 5000 × 0.001
    ("prednisone_5000_mcg", "prednisone", 5000.0, "mcg", "daily", "oral", 5.0),
    ("prednisone_5000_micro_sign", "prednisone", 5000.0, "µg", "daily", "oral", 5.0),
    ("empty_unit_is_mg", "prednisone", 7.5, "", "QD", "", 7.5),
    ("zero_dose_is_zero", "prednisone", 0.0, "mg", "QD", "oral", 0.0),
]


@pytest.mark.parametrize(
    ("drug", "dose", "unit", "frequency", "route", "expected"),
    [c[1:] for c in CONVERTED],
    ids=[c[0] for c in CONVERTED],
)
def test_conversion_against_hand_computation(
    drug: str, dose: float, unit: str, frequency: str, route: str, expected: float
) -> None:
    got = convert_to_prednisone_mg_day(drug, dose, unit, frequency, route)
    assert got.status == "converted" and got.reason is None
    assert got.prednisone_mg_day == pytest.approx(expected, abs=1e-6)
    assert got.systemic_mg_day == got.prednisone_mg_day


# Never 0 for what cannot be converted: None, status and the reason.
NOT_CONVERTIBLE = [
    ("prn", ("prednisone", 5.0, "mg", "PRN", "oral"), "frequency PRN: as needed, administrations per day unknown"),
    ("frequency_missing", ("prednisone", 5.0, "mg", None, "oral"), "frequency missing"),
    ("frequency_unknown_word", ("prednisone", 5.0, "mg", "Q4S", "oral"), "frequency Q4S: unknown frequency"),
    ("dose_missing", ("prednisone", None, "mg", "QD", "oral"), "dose missing"),
    (
        "mg_per_kg",
        ("methylprednisolone", 2.0, "mg/kg", "QD", "iv"),
        "unit mg/kg: dose per kg body weight, weight not recorded with the dose",
    ),
    ("tablet", ("prednisone", 1.0, "TABLET", "QD", "oral"), "unit TABLET: tablets, strength per tablet unknown"),
    ("unit_unknown", ("prednisone", 5.0, "mgg", "QD", "oral"), "unit mgg: unknown dose unit"),
    (
        "budesonide_documented_choice",
        ("budesonide", 9.0, "mg", "QD", "oral"),
        "budesonide: no prednisone equivalence (documented choice)",
    ),
    (
        "two_reasons_listed",
        ("prednisone", None, "mg", "PRN", "oral"),
        "dose missing; frequency PRN: as needed, administrations per day unknown",
    ),
]


@pytest.mark.parametrize(("args", "reason"), [c[1:] for c in NOT_CONVERTIBLE], ids=[c[0] for c in NOT_CONVERTIBLE])
def test_not_convertible_is_none_with_reason(args: tuple[Any, ...], reason: str) -> None:
    got = convert_to_prednisone_mg_day(*args)
    assert got.status == "not convertible"
    assert got.prednisone_mg_day is None and got.systemic_mg_day is None
    assert got.reason == reason


@pytest.mark.parametrize("route", ["TOPICAL", "nasal", "RESPIRATORY (INHALATION)", "ophthalmic", "AURICULAR (OTIC)"])
def test_local_route_counts_zero_systemic(route: str) -> None:
    got = convert_to_prednisone_mg_day("hydrocortisone", 1.0, "VIAL", "PRN", route)
    assert got.status == "local" and got.prednisone_mg_day is None
    assert got.systemic_mg_day == 0.0
    assert got.reason == f"route {route}: local, not systemic (counts 0 mg/day)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prednisone", 5.0, "mgg", "QD", "oral"), "column unit: value mgg: unknown dose unit"),
        (("prednisone", 5.0, "mg", "daly", "oral"), "column frequency: value daly: unknown frequency"),
    ],
    ids=["unit", "frequency"],
)
def test_strict_unknown_unit_or_frequency_is_an_error(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        convert_to_prednisone_mg_day(*args, strict=True)
    assert message in str(err.value)


def test_strict_still_flags_known_but_unconvertible_values() -> None:
    got = convert_to_prednisone_mg_day("prednisone", 5.0, "mg", "PRN", "oral", strict=True)
    assert got.status == "not convertible"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("hydroxychloroquine", 200.0, "mg", "QD", "oral"), "not a glucocorticoid (antimalarial)"),
        (("prednisone", -5.0, "mg", "QD", "oral"), "expected a dose >= 0"),
        (("predisone", 5.0, "mg", "QD", "oral"), "unknown drug; did you mean prednisone"),
    ],
    ids=["not-glucocorticoid", "negative-dose", "unknown-drug"],
)
def test_bad_input_is_an_error(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        convert_to_prednisone_mg_day(*args)
    assert message in str(err.value)


FREQUENCY_CASES = [
    ("QD", 1.0),
    ("BID", 2.0),
    ("TID", 3.0),
    ("QID", 4.0),
    ("QOD", 0.5),
    ("Q12H", 2.0),
    ("Q8H", 3.0),
    ("Q6H", 4.0),
    ("Q4H", 6.0),
    ("QW", 1 / 7),
    ("ONCE", 1.0),
    ("ONCE DAILY", 1.0),
    ("2 TIMES PER DAY", 2.0),
    ("3 TIMES PER WEEK", 3 / 7),
    ("EVERY 2 WEEKS", 1 / 14),
    ("EVERY MORNING", 1.0),
    ("  every   other day ", 0.5),
]


@pytest.mark.parametrize(("word", "per_day"), FREQUENCY_CASES, ids=[c[0].strip() for c in FREQUENCY_CASES])
def test_frequencies_against_cdisc_freq_codelist(word: str, per_day: float) -> None:
    assert administrations_per_day(word) == (pytest.approx(per_day), None)


def test_units_to_mg() -> None:
    assert [mg_per_unit(u)[0] for u in ("mg", "MG", "g", "ug", "µg", "μg", "mcg", None)] == [
        1.0,
        1.0,
        1000.0,
        0.001,
        0.001,
        0.001,
        0.001,
        1.0,
    ]


def test_equivalence_table_agrees_with_drug_table_and_cites_a_source() -> None:
    table = default_table()
    glucocorticoids = {d.name for d in table.drugs if d.drug_class == "glucocorticoid"}
    assert set(EQUIVALENTS) == glucocorticoids
    for name, row in EQUIVALENTS.items():
        assert row.equivalent_mg == table.lookup(name).prednisone_equivalent_mg
        assert row.source.strip()


def test_validate_medications_flags_per_record_and_names_row_in_strict_mode() -> None:
    records = pl.DataFrame(
        {
            "patient_id": ["p1", "p1", "p1", "p1"],
            "drug": ["prednisone", "prednisone", "HCQ", "hydrocortisone"],
            "dose": [5.0, 5.0, 200.0, 1.0],
            "unit": ["mg", "mg", "mg", "VIAL"],
            "frequency": ["BID", "PRN", "sometimes", "QD"],
            "route": ["oral", "oral", "oral", "topical"],
            "start_day": [0, 0, 0, 0],
            "stop_day": [None, None, None, None],
        },
        schema_overrides={"stop_day": pl.Int64},
    )
    out = validate_medications(records)
    assert out["prednisone_mg_day"].to_list() == [10.0, None, 0.0, 0.0]
    assert out["prednisone_status"].to_list() == ["converted", "not convertible", None, "local"]
    # a non-glucocorticoid's frequency does not matter, even in strict mode
    strict_ok = records.with_columns(pl.Series("frequency", ["BID", "PRN", "sometimes", "QD"]))
    validate_medications(strict_ok, strict=True)
    bad = records.with_columns(pl.Series("frequency", ["BID", "fortnightly", "QD", "QD"]))
    with pytest.raises(InvalidInputError) as err:
        validate_medications(bad, strict=True)
    assert "row 2, column frequency: value fortnightly: unknown frequency" in str(err.value)
