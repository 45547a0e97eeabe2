"""The regimen index (vectorised, exact integers) against hand values and the scalar form."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.indices.regimen import score_visit

COLS = [
    "bsa_m2",
    "fludarabine_mg_per_day",
    "fludarabine_total_mg",
    "cyclophosphamide_mg",
    "car_t_cells",
]


# Public example values (../shared/examples/regimen_expected.csv) plus hand-computed rows.
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"height_cm": 170, "weight_kg": 70, "bsa_formula": "mosteller"},
            (1.82, 45.5, 136.5, 1820, 70000000),
        ),
        (
            {"height_cm": 160, "weight_kg": 50, "bsa_formula": "dubois"},
            (1.5, 37.5, 112.5, 1500, 50000000),
        ),
        (
            {"height_cm": 180, "weight_kg": 90, "bsa_formula": ""},
            (2.12, 53.0, 159.0, 2120, 90000000),
        ),
        # √(170 × 69.4 / 3600) = 1.81031 → 1.81; 25 × 1.81 = 45.25 → 45.3 (half away from zero)
        (
            {"height_cm": 170, "weight_kg": 69.4, "bsa_formula": "MOSTELLER"},
            (1.81, 45.3, 135.9, 1810, 69400000),
        ),
        # the cell dose needs only the weight
        (
            {"height_cm": None, "weight_kg": 70, "bsa_formula": None},
            (None, None, None, None, 70000000),
        ),
        (
            {"height_cm": 170, "weight_kg": None, "bsa_formula": None},
            (None, None, None, None, None),
        ),
    ],
    ids=[
        "170_70",
        "160_50_dubois",
        "180_90_empty_formula",
        "45_25_rounds_up",
        "height_missing",
        "weight_missing",
    ],
)
def test_regimen_index_values(row, expected):
    out = remission.score(
        "regimen",
        pl.DataFrame([row], schema={"height_cm": pl.Float64, "weight_kg": pl.Float64, "bsa_formula": pl.Utf8}),
    )
    assert out.select(COLS).row(0) == expected
    scalar = score_visit(row)
    assert tuple(scalar[c] for c in COLS) == expected


def test_regimen_absent_formula_column_means_mosteller():
    out = remission.score("regimen", pl.DataFrame({"height_cm": [170.0], "weight_kg": [70.0]}))
    assert out["bsa_m2"][0] == 1.82


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"height_cm": "250.1", "weight_kg": "70"},
            "row 1, column height_cm: value 250.1: out of range",
        ),
        (
            {"height_cm": "170", "weight_kg": "1.9"},
            "row 1, column weight_kg: value 1.9: out of range",
        ),
        (
            {"height_cm": "170", "weight_kg": "70", "bsa_formula": "haycock"},
            "row 1, column bsa_formula: value haycock",
        ),
    ],
    ids=["height", "weight", "formula"],
)
def test_regimen_index_rejects_out_of_range(row, message):
    with pytest.raises(remission.InvalidInputError, match=message):
        remission.score("regimen", pl.DataFrame([row]))


def test_regimen_protocol_option(tmp_path):
    text = (
        "name: half\nversion: '1'\ndrugs:\n"
        "  - {code: fludarabine, name: F, dose: 30, unit: mg/m2, days: [-4, -3], decimals: 0}\n"
        "  - {code: cyclophosphamide, name: C, dose: 500, unit: mg/m2, days: [-3]}\n"
        "  - {code: car_t_cells, name: T, dose: 500000, unit: cells/kg, days: [0]}\n"
    )
    path = tmp_path / "half.yaml"
    path.write_text(text)
    out = remission.score("regimen", pl.DataFrame({"height_cm": [170.0], "weight_kg": [70.0]}), protocol=str(path))
    # 30 × 1.82 = 54.6 → 55 mg (0 decimals); 2 days → 110; 500 × 1.82 = 910; 0.5e6 × 70 = 35e6
    assert out.select(COLS).row(0) == (1.82, 55, 110, 910, 35000000)
    missing_drug = tmp_path / "bad.yaml"
    missing_drug.write_text("name: b\nversion: '1'\ndrugs:\n  - {code: x, name: X, dose: 1, unit: mg, days: [0]}\n")
    with pytest.raises(remission.InvalidInputError, match="has no drug 'fludarabine'"):
        remission.score(
            "regimen",
            pl.DataFrame({"height_cm": [170.0], "weight_kg": [70.0]}),
            protocol=str(missing_drug),
        )


@given(
    st.lists(
        st.tuples(st.floats(50, 250), st.floats(2, 300), st.sampled_from([None, "mosteller", "dubois"])),
        min_size=1,
        max_size=10,
    )
)
def test_regimen_scalar_equals_vectorised(rows):
    frame = pl.DataFrame(
        rows,
        schema={"height_cm": pl.Float64, "weight_kg": pl.Float64, "bsa_formula": pl.Utf8},
        orient="row",
    )
    out = remission.score("regimen", frame)
    for i, (h, w, f) in enumerate(rows):
        scalar = score_visit({"height_cm": h, "weight_kg": w, "bsa_formula": f})
        assert tuple(out.select(COLS).row(i)) == tuple(scalar[c] for c in COLS)
