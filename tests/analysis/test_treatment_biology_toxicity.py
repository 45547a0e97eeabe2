"""Maintenance-drug stop days, CAR-T/B-cell summaries and safety counts on tiny hand-made tables."""

from __future__ import annotations

import polars as pl

from remission.analysis.biology import summarise_b_cells, summarise_car_t
from remission.analysis.toxicity import (
    derive_hypogammaglobulinaemia,
    derive_max_grade,
    grade_counts,
    summarise_infections,
)
from remission.analysis.treatment import derive_drug_class, derive_on_treatment, summarise_stop_days

MEDS = pl.DataFrame(
    {
        "patient_id": ["A", "A", "A", "A", "A", "B", "B"],
        "drug": [
            "prednisone",
            "prednisone",
            "mycophenolate mofetil",
            "fludarabine",
            "cyclophosphamide",
            "prednisolone",
            "tocilizumab",
        ],
        "start_day": [-400, 15, -400, -5, -3, -300, 3],
        "stop_day": [14, 120, -14, -3, -3, None, 3],
    }
)


def test_conditioning_and_crs_treatment_are_not_maintenance() -> None:
    classes = derive_drug_class(MEDS).select("drug", "drug_class", "maintenance").rows()
    assert ("fludarabine", "immunosuppressant", 0) in classes
    assert ("cyclophosphamide", "immunosuppressant", 0) in classes  # day −3: lymphodepletion
    assert ("tocilizumab", "biologic", 0) in classes  # day 3: CRS treatment


def test_cyclophosphamide_outside_conditioning_is_maintenance() -> None:
    m = pl.DataFrame({"patient_id": ["A"], "drug": ["cyclophosphamide"], "start_day": [-200], "stop_day": [-100]})
    assert derive_drug_class(m)["maintenance"].to_list() == [1]


def test_stop_days() -> None:
    out = summarise_stop_days(MEDS, pl.DataFrame({"patient_id": ["A", "B", "C"]}))
    # A: prednisone last stop 120, MMF −14 (conditioning cyclophosphamide ignored), all drugs 120.
    # B: prednisolone still running → no stop day, stopped 0; tocilizumab is CRS treatment → never
    # on an immunosuppressant → stopped 1 with no day. C: no record at all.
    assert out.rows() == [
        ("A", 120, 1, -14, 1, 120, 1),
        ("B", None, 0, None, 1, None, 0),
        ("C", None, 1, None, 1, None, 1),
    ]


def test_on_treatment_flags() -> None:
    visits = pl.DataFrame({"patient_id": ["A", "A", "A", "B"], "day": [-20, 100, 121, 200]})
    out = derive_on_treatment(visits, MEDS)
    # day −20: prednisone + MMF (stopped −14); day 100: prednisone (15–120); day 121: nothing; B day 200: prednisolone
    assert out.select("on_glucocorticoid", "on_immunosuppressant", "on_any_drug").rows() == [
        (1, 1, 1),
        (1, 0, 1),
        (0, 0, 0),
        (1, 0, 1),
    ]


def test_car_t_peak() -> None:
    s = pl.DataFrame(
        {"patient_id": ["A"] * 5, "day": [-3, 0, 9, 12, 60], "car_t_cells_ul": [5.0, 0.1, 80.0, 80.0, 0.0]}
    )
    # day −3 is ignored; the peak 80 is first reached on day 9; last value > 0 on day 12
    assert summarise_car_t(s).rows() == [("A", 9, 80.0, 12)]


def test_b_cell_aplasia_edges() -> None:
    s = pl.DataFrame(
        {
            "patient_id": ["A"] * 4 + ["B"] * 3 + ["C"] * 2,
            "day": [-7, 2, 100, 130, 2, 50, 90, 5, 30],
            "cd19_cells_ul": [150.0, 0.0, 0.99, 1.0, 0.0, 0.0, 0.0, 40.0, 60.0],
        }
    )
    # A: aplasia from day 2; 0.99 is still < 1; exactly 1.0 on day 130 is reconstitution → 128 days.
    # B: never back: censored at the last value (day 90) → 88 days, ongoing. C: never aplastic.
    assert summarise_b_cells(s).rows() == [
        ("A", 2, 130, 128, 0),
        ("B", 2, None, 88, 1),
        ("C", None, None, None, 0),
    ]


def test_max_grade_counts() -> None:
    patients = pl.DataFrame({"patient_id": ["A", "B", "C", "D"]})
    events = pl.DataFrame({"patient_id": ["A", "B"], "grade": [1, 2]})
    scores = pl.DataFrame({"patient_id": ["A", "C"], "grade": [2, 0]})
    worst = derive_max_grade(patients, events, scores)
    assert worst["max_grade"].to_list() == [2, 2, 0, 0]
    assert grade_counts(worst, (0, 1, 2)).rows() == [("0", "2/4 (50%)"), ("1", "0/4 (0%)"), ("2", "2/4 (50%)")]


def test_new_hypogammaglobulinaemia() -> None:
    igg = pl.DataFrame(
        {
            "patient_id": ["A", "A", "B", "B", "C", "D", "D"],
            "day": [-7, 90, -7, 90, 90, -7, 90],
            "igg_g_l": [8.0, 7.0, 7.0, 3.9, 5.0, 6.5, 5.0],
        }
    )
    out = derive_hypogammaglobulinaemia(igg)
    # A: 7.0 is not < 7 → 0. B: baseline exactly 7 (≥ LLN) then 3.9 → new and severe. C: no baseline →
    # unknown. D: already low at baseline → not new.
    assert out.select("patient_id", "new_onset", "severe").rows() == [
        ("A", 0, 0),
        ("B", 1, 1),
        ("C", None, 0),
        ("D", 0, 0),
    ]


def test_infections_empty_table() -> None:
    empty = pl.DataFrame(
        schema={"patient_id": pl.String, "category": pl.String, "grade": pl.Int64, "serious": pl.Boolean}
    )
    assert (
        summarise_infections(empty, pl.DataFrame({"patient_id": ["A", "B"]}))["patients"].to_list() == ["0/2 (0%)"] * 3
    )


# A course whose source gives no start date is taken from before any day (conservative for
# drug-free remission), never read as "not taking" (docs/decisions/imputation.md).
UNKNOWN_START = pl.DataFrame(
    {
        "patient_id": ["A", "A"],
        "drug": ["prednisone", "methotrexate"],
        "start_day": [None, None],
        "stop_day": [100, None],
    },
    schema={"patient_id": pl.String, "drug": pl.String, "start_day": pl.Int64, "stop_day": pl.Int64},
)


def test_a_course_of_unknown_start_runs_from_before_any_day() -> None:
    from remission.analysis.treatment import derive_on_treatment

    visits = pl.DataFrame({"patient_id": ["A"] * 3, "day": [-50, 10, 200]})
    out = derive_on_treatment(visits, UNKNOWN_START)
    assert out["on_glucocorticoid"].to_list() == [1, 1, 0]
    assert out["on_immunosuppressant"].to_list() == [1, 1, 1]  # methotrexate: no start, no stop


def test_an_ongoing_course_of_unknown_start_keeps_the_patient_off_drug_free() -> None:
    from remission.analysis.durations import derive_drug_free

    visits = pl.DataFrame({"patient_id": ["A"] * 2, "day": [200, 400]})
    assert derive_drug_free(visits, UNKNOWN_START)["drug_free"].to_list() == [0, 0]
    stopped = UNKNOWN_START.filter(pl.col("drug") == "prednisone")  # stopped on day 100
    assert derive_drug_free(visits, stopped)["drug_free"].to_list() == [1, 1]
