"""SLEDAI-2K against hand-computed cases from the Gladman 2002 weights (../shared/specs/sledai2k.md).

Every expected value below was added up by hand from the spec's weight table; the comment on each
case shows the sum. None is recomputed from the code's own table.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices.sledai2k import CODES, score_visit

ALL_ABSENT: dict[str, Any] = dict.fromkeys(CODES, 0)


def visit(**present: Any) -> dict[str, Any]:
    return {**ALL_ABSENT, **present}


# (id, items, sledai2k, clinical_sledai, category)
HAND_CASES = [
    ("nothing_present_0", visit(), 0, 0, "none"),
    ("one_point_fever_1_mild", visit(fever=1), 1, 1, "mild"),  # fever 1
    ("serology_only_4_clinical_0", visit(low_complement=1, increased_dna_binding=1), 4, 0, "mild"),  # 2+2
    ("renal_5_mild_edge", visit(proteinuria=1, leukopenia=1), 5, 5, "mild"),  # 4+1 = 5, top of mild
    ("moderate_lower_edge_6", visit(arthritis=1, rash=1), 6, 6, "moderate"),  # 4+2
    ("moderate_upper_edge_10", visit(arthritis=1, rash=1, alopecia=1, mucosal_ulcers=1), 10, 10, "moderate"),
    ("high_lower_edge_11", visit(seizure=1, rash=1, fever=1), 11, 11, "high"),  # 8+2+1
    ("high_upper_edge_19", visit(seizure=1, arthritis=1, myositis=1, rash=1, fever=1), 19, 19, "high"),  # 8+4+4+2+1
    ("very_high_edge_20", visit(seizure=1, psychosis=1, arthritis=1), 20, 20, "very_high"),  # 8+8+4
    (
        "lupus_nephritis_flare_16",
        visit(urinary_casts=1, hematuria=1, proteinuria=1, low_complement=1, increased_dna_binding=1),
        16,
        12,
        "high",
    ),  # 4+4+4+2+2
    ("all_24_items_105", {c: 1 for c in CODES}, 105, 101, "very_high"),  # 8×8 + 6×4 + 7×2 + 3×1
]


@pytest.mark.parametrize(
    ("items", "total", "clinical", "category"), [c[1:] for c in HAND_CASES], ids=[c[0] for c in HAND_CASES]
)
def test_sledai2k_against_hand_sums_of_gladman_weights(items, total, clinical, category) -> None:
    out = remission.score("sledai2k", pl.DataFrame([items]))
    assert out["sledai2k"][0] == total
    assert out["clinical_sledai"][0] == clinical
    assert out["sledai2k_category"][0] == category
    scalar = score_visit(items)
    assert (scalar["sledai2k"], scalar["clinical_sledai"], scalar["sledai2k_category"]) == (total, clinical, category)


# Measurement derivations (spec table "Optional derivation"): value, descriptor, expected presence.
DERIVED_CASES = [
    ("temperature_38.0_not_fever", {"temperature_c": 38.0}, "fever", 0),  # > 38.0 strict
    ("temperature_38.1_fever", {"temperature_c": 38.1}, "fever", 1),
    ("platelets_100_not_low", {"platelets_10e9_l": 100}, "thrombocytopenia", 0),  # < 100 strict
    ("platelets_99_low", {"platelets_10e9_l": 99}, "thrombocytopenia", 1),
    ("wbc_3.0_not_low", {"wbc_10e9_l": 3.0}, "leukopenia", 0),
    ("wbc_2.9_low", {"wbc_10e9_l": 2.9}, "leukopenia", 1),
    ("protein_0.5_not", {"proteinuria_g_24h": 0.5}, "proteinuria", 0),  # > 0.5 strict
    ("protein_0.51", {"proteinuria_g_24h": 0.51}, "proteinuria", 1),
    ("upcr_when_no_24h", {"upcr_mg_mg": 0.8}, "proteinuria", 1),
    ("24h_wins_over_upcr", {"proteinuria_g_24h": 0.3, "upcr_mg_mg": 0.8}, "proteinuria", 0),
    ("rbc_5_not", {"urine_rbc_hpf": 5}, "hematuria", 0),
    ("rbc_6", {"urine_rbc_hpf": 6}, "hematuria", 1),
    ("wbc_urine_6", {"urine_wbc_hpf": 6}, "pyuria", 1),
    ("c3_below_lln", {"c3_g_l": 0.8, "c3_lln_g_l": 0.9}, "low_complement", 1),
    ("c3_at_lln_not_low", {"c3_g_l": 0.9, "c3_lln_g_l": 0.9}, "low_complement", 0),
    ("c4_low_c3_normal", {"c3_g_l": 1.0, "c3_lln_g_l": 0.9, "c4_g_l": 0.05, "c4_lln_g_l": 0.1}, "low_complement", 1),
    ("dsdna_above_uln", {"anti_dsdna_iu_ml": 120, "anti_dsdna_uln_iu_ml": 100}, "increased_dna_binding", 1),
    ("dsdna_at_uln_not", {"anti_dsdna_iu_ml": 100, "anti_dsdna_uln_iu_ml": 100}, "increased_dna_binding", 0),
]


@pytest.mark.parametrize(
    ("measure", "descriptor", "present"), [c[1:] for c in DERIVED_CASES], ids=[c[0] for c in DERIVED_CASES]
)
def test_descriptor_derived_from_measurement_at_spec_thresholds(measure, descriptor, present) -> None:
    items = {**ALL_ABSENT, descriptor: None, **measure}
    out = remission.score("sledai2k", pl.DataFrame([items]))
    weights = {
        "fever": 1,
        "thrombocytopenia": 1,
        "leukopenia": 1,
        "proteinuria": 4,
        "hematuria": 4,
        "pyuria": 4,
        "low_complement": 2,
        "increased_dna_binding": 2,
    }  # spec weight table
    assert out["sledai2k"][0] == present * weights[descriptor]
    assert ("derived:" in out["sledai2k_explain"][0]) == bool(present)


def test_recorded_descriptor_wins_over_measurement() -> None:
    # The physician recorded "no fever" (e.g. infection) although 39.0 °C was measured.
    out = remission.score("sledai2k", pl.DataFrame([visit(fever=0, temperature_c=39.0)]))
    assert out["sledai2k"][0] == 0


def test_explanation_names_items_and_derivations() -> None:
    out = remission.score("sledai2k", pl.DataFrame([{**visit(rash=1), "proteinuria": None, "proteinuria_g_24h": 1.2}]))
    assert out["sledai2k_explain"][0] == "proteinuria=4 (derived: proteinuria_g_24h=1.2); rash=2"


def test_missing_item_makes_total_empty_not_zero() -> None:
    out = remission.score("sledai2k", pl.DataFrame([{**visit(arthritis=1), "seizure": None}]))
    assert out["sledai2k"][0] is None
    assert out["clinical_sledai"][0] is None
    assert out["sledai2k_category"][0] is None  # 4 (mild) or 12 (high)
    assert out["sledai2k_missing"][0] == "seizure"


def test_missing_serology_keeps_clinical_sledai() -> None:
    out = remission.score("sledai2k", pl.DataFrame([{**visit(arthritis=1), "low_complement": None}]))
    assert out["sledai2k"][0] is None
    assert out["clinical_sledai"][0] == 4


def test_category_fixed_by_known_items_is_given() -> None:
    # Known 8+8+4 = 20 already very_high; a missing fever (1) cannot change the band.
    out = remission.score("sledai2k", pl.DataFrame([{**visit(seizure=1, psychosis=1, arthritis=1), "fever": None}]))
    assert out["sledai2k"][0] is None
    assert out["sledai2k_category"][0] == "very_high"


def test_missing_absent_option_scores_missing_as_absent() -> None:
    out = remission.score("sledai2k", pl.DataFrame({"arthritis": [1]}), missing="absent", allow_missing_columns=True)
    assert out["sledai2k"][0] == 4
    assert out["sledai2k_missing"][0] == ""


def test_input_columns_kept_and_explain_dropped_on_request() -> None:
    out = remission.score("sledai2k", pl.DataFrame([{**visit(), "case": "x"}]), explain=False)
    assert out["case"][0] == "x"
    assert "sledai2k_explain" not in out.columns


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2", "must be 0 or 1"),
        ("maybe", "must be 0 or 1"),
    ],
    ids=["two", "word"],
)
def test_invalid_descriptor_is_reported_with_row_column_value(value, reason) -> None:
    table = pl.DataFrame({"seizure": ["0", value]})
    with pytest.raises(remission.InvalidInputError) as err:
        remission.score("sledai2k", table, allow_missing_columns=True)
    assert str(err.value).startswith(f"row 2, column seizure: value {value}: {reason}")


def test_out_of_range_measurement_is_an_error_not_clipped() -> None:
    with pytest.raises(remission.InvalidInputError, match="row 1, column temperature_c: value 60: out of range"):
        remission.score("sledai2k", pl.DataFrame({"temperature_c": ["60"]}), allow_missing_columns=True)


def test_boolean_words_accepted() -> None:
    table = pl.DataFrame([{**{c: "no" for c in CODES}, "arthritis": "Yes", "rash": "TRUE"}])
    assert remission.score("sledai2k", table)["sledai2k"][0] == 6


def test_pandas_nan_is_missing() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame([{**visit(arthritis=1), "seizure": float("nan")}])
    assert remission.score("sledai2k", frame)["sledai2k_missing"][0] == "seizure"


# ---------------------------------------------------------------- properties
cell = st.sampled_from([0, 1, None])
visits = st.fixed_dictionaries({c: cell for c in CODES})


@given(st.lists(visits, min_size=1, max_size=20))
def test_scalar_equals_vectorised(rows) -> None:
    out = remission.score("sledai2k", pl.DataFrame(rows, schema={c: pl.Int64 for c in CODES}))
    for row, got in zip(rows, out.iter_rows(named=True), strict=True):
        expected = score_visit(row).values
        assert {k: got[k] for k in expected} == dict(expected)


@given(visits)
def test_bounds_and_missing_never_zero(row) -> None:
    result = score_visit(row)
    if any(row[c] is None for c in CODES):
        assert result["sledai2k"] is None
    else:
        assert 0 <= result["sledai2k"] <= 105
        assert 0 <= result["clinical_sledai"] <= 101
        assert result["clinical_sledai"] <= result["sledai2k"]


@given(st.fixed_dictionaries({c: st.sampled_from([0, 1]) for c in CODES}), st.sampled_from(CODES))
def test_monotone_in_items(row, code) -> None:
    before = score_visit({**row, code: 0})["sledai2k"]
    after = score_visit({**row, code: 1})["sledai2k"]
    assert after > before
