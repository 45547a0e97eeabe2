"""Per-patient safety summary; expected values by hand from the tables in each test."""

import polars as pl
import pytest

from remission.analysis.safety import (
    SafetyParameters,
    derive_infection_grade,
    summarise_b_cells,
    summarise_car_t,
    summarise_crs,
    summarise_icans,
    summarise_igg,
    summarise_infections,
    summarise_safety,
)


def test_crs_episode_onset_max_duration_and_treatment():
    crs = pl.DataFrame(
        {
            "patient_id": ["a"] * 5 + ["b"] * 2 + ["c"],
            "day": [0, 1, 2, 3, 4, 0, 1, 0],
            "crs_grade": [0, 1, 2, 1, 0, 0, 0, None],
        }
    )
    meds = pl.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "drug": ["Dexamethasone ", "paracetamol", "tocilizumab"],
            "start_day": [3, 1, 1],
            "stop_day": [None, 2, 1],
        }
    )
    out = summarise_crs(crs, meds).sort("patient_id")
    # a: onset day 1, max 2, days 1–3 → 3 days; dexamethasone started day 3 (ongoing) → steroids.
    # b: no CRS → treatments 0 (tocilizumab given, but not during CRS). c: only a missing grade.
    assert out.rows() == [
        ("a", 1, 2, 3, 0, 1),
        ("b", None, 0, None, 0, 0),
        ("c", None, None, None, 0, 0),
    ]
    assert summarise_crs(crs).filter(pl.col("patient_id") == "a")["crs_tocilizumab"].to_list() == [None]


def test_icans_summary_has_steroids_only():
    icans = pl.DataFrame({"patient_id": ["a", "a"], "day": [6, 9], "icans_grade": [2, 1]})
    meds = pl.DataFrame({"patient_id": ["a"], "drug": ["methylprednisolone"], "start_day": [7], "stop_day": [8]})
    out = summarise_icans(icans, meds)
    assert out.columns == [
        "patient_id",
        "icans_onset_day",
        "icans_max_grade",
        "icans_duration_days",
        "icans_steroids",
    ]
    assert out.row(0) == ("a", 6, 2, 4, 1)


@pytest.mark.parametrize(
    ("features", "grade"),
    [
        ({"oral_anti_infective": 0, "iv_anti_infective": 0, "hospitalised": 0}, 1),
        ({"oral_anti_infective": 1, "iv_anti_infective": 0, "hospitalised": 0}, 2),
        ({"oral_anti_infective": 0, "iv_anti_infective": 1, "hospitalised": 0}, 3),
        ({"oral_anti_infective": 1, "iv_anti_infective": 0, "hospitalised": 1}, 3),
        ({"invasive_intervention": 1}, 3),
        ({"life_threatening": 1, "hospitalised": 1}, 4),
        ({"death": 1}, 5),
        ({"oral_anti_infective": 1, "iv_anti_infective": None}, None),
        ({"death": 1, "iv_anti_infective": None}, 5),
    ],
    ids=[
        "g1",
        "g2_oral",
        "g3_iv",
        "g3_hospital",
        "g3_invasive",
        "g4",
        "g5",
        "missing_iv",
        "missing_but_death",
    ],
)
def test_infection_ctcae_v5_grade(features, grade):
    # CTCAE v5.0 infections: G2 oral, G3 IV/invasive/hospitalisation, G4 life-threatening, G5 death.
    table = pl.DataFrame([features])
    assert derive_infection_grade(table)["ctcae_grade"].to_list() == [grade]


def test_infection_summary():
    inf = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a", "b"],
            "onset_day": [40, 12, 90, 5],
            "ctcae_grade": [None, 2, 1, 3],
            "iv_anti_infective": [1, None, None, None],
            "hospitalised": [1, 0, 0, 1],
            "organism": ["E. coli", "SARS-CoV-2", "", None],
        }
    )
    out = summarise_infections(inf).sort("patient_id")
    assert out.rows() == [
        ("a", 3, 3, 1, 1, 12, "E. coli; SARS-CoV-2"),
        ("b", 1, 3, 1, 1, 5, ""),
    ]


def test_igg_new_onset_needs_baseline_at_or_above_lln():
    igg = pl.DataFrame(
        {
            "patient_id": ["new", "new", "new", "pre", "pre", "nobase", "ok", "ok", "noafter"],
            "day": [-10, 60, 120, -3, 90, 30, -1, 60, -2],
            "igg_g_l": [7.0, 6.9, 3.9, 6.0, 5.0, 5.5, 9.0, 8.0, 8.0],
        }
    )
    out = summarise_igg(igg).sort("patient_id")
    by = {r["patient_id"]: r for r in out.iter_rows(named=True)}
    # baseline exactly at LLN (7.0) counts as ≥ LLN: new onset at day 60; severe (< 4.0) at day 120
    assert (
        by["new"]["new_hypogammaglobulinemia"],
        by["new"]["new_hypogammaglobulinemia_day"],
        by["new"]["severe_hypogammaglobulinemia"],
        by["new"]["severe_hypogammaglobulinemia_day"],
    ) == (1, 60, 1, 120)
    assert (by["pre"]["hypogammaglobulinemia"], by["pre"]["new_hypogammaglobulinemia"]) == (1, 0)
    assert (by["nobase"]["hypogammaglobulinemia"], by["nobase"]["new_hypogammaglobulinemia"]) == (
        1,
        None,
    )
    assert (
        by["ok"]["hypogammaglobulinemia"],
        by["ok"]["new_hypogammaglobulinemia"],
        by["ok"]["igg_nadir_g_l"],
    ) == (0, 0, 8.0)
    assert (by["noafter"]["hypogammaglobulinemia"], by["noafter"]["new_hypogammaglobulinemia"]) == (
        None,
        None,
    )
    stricter = summarise_igg(igg, SafetyParameters(igg_lln_g_l=8.5)).filter(pl.col("patient_id") == "ok")
    assert stricter["new_hypogammaglobulinemia"].to_list() == [1]


def test_b_cell_aplasia_and_reconstitution():
    cd19 = pl.DataFrame(
        {
            "patient_id": ["a"] * 4 + ["b"] * 3 + ["c"] * 2,
            "day": [-5, 7, 60, 112, 0, 14, 90, 0, 30],
            "cd19_cells_ul": [180.0, 0.0, 0.9, 1.0, 150.0, 0.2, 0.1, 200.0, 50.0],
        }
    )
    out = summarise_b_cells(cd19).sort("patient_id")
    # a: aplasia from day 7, first ≥ 1/µL on day 112 (threshold inclusive) → 105 days
    # b: ongoing at last observation (day 90). c: never aplastic.
    assert out.rows() == [
        ("a", 7, 112, 105, 0, 112),
        ("b", 14, None, None, 1, 90),
        ("c", None, None, None, 0, 30),
    ]


def test_car_t_peak_auc_last_detectable():
    car_t = pl.DataFrame(
        {
            "patient_id": ["a"] * 6 + ["b"],
            "day": [0, 7, 9, 14, 28, 60, 3],
            "car_t_cells_ul": [0.0, 40.0, 60.0, 20.0, 2.0, 0.0, None],
        }
    )
    out = summarise_car_t(car_t).sort("patient_id")
    # trapezoid 0–28: 7×20 + 2×50 + 5×40 + 14×11 = 140 + 100 + 200 + 154 = 594
    assert out.rows() == [("a", 9, 60.0, 594.0, 28), ("b", None, None, None, None)]


def test_summarise_safety_joins_everything():
    crs = pl.DataFrame({"patient_id": ["a"], "day": [1], "crs_grade": [1]})
    anc = pl.DataFrame({"patient_id": ["a", "a", "z"], "day": [0, 8, 0], "anc_10e9_l": [0.3, 2.0, 2.0]})
    out = summarise_safety(crs=crs, anc=anc).sort("patient_id")
    assert out.select("patient_id", "crs_max_grade", "icaht_early_grade").rows() == [
        ("a", 1, 2),
        ("z", None, 0),
    ]
    assert summarise_safety().height == 0
