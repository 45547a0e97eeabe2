"""Sustained remission, drug-free with a minimum treatment-free period, NRI, lab baseline and
efficacy censoring — every expectation worked out by hand from the rules in docs/decisions/sap.md."""

from __future__ import annotations

import polars as pl
import pytest

from remission.analysis.baseline import LabBaselineRule, derive_conditioning_start, derive_lab_baseline
from remission.analysis.durations import (
    DrugFreeRule,
    SustainedRule,
    derive_drug_free,
    derive_drug_free_remission,
    derive_remission_runs,
    derive_sustained,
)
from remission.analysis.nri import summarise_at_month
from remission.analysis.survival import derive_remission_duration, derive_time_to_first, last_efficacy_day
from remission.analysis.windows import assign_windows


def _visits(days: list[int], flags: list[int | None]) -> pl.DataFrame:
    return pl.DataFrame({"patient_id": ["A"] * len(days), "day": days, "remission": flags})


@pytest.mark.parametrize(
    ("days", "flags", "expected"),
    [
        # 91 → 271 spans exactly 180 days: sustained from the day-271 assessment
        ([91, 183, 271], [1, 1, 1], [(91, 271, 180, 1, 271, "ongoing")]),
        # 179 days: one day short
        ([91, 183, 270], [1, 1, 1], [(91, 270, 179, 0, None, "ongoing")]),
        # gap of exactly 120 days keeps the run; 121 breaks it
        ([60, 180, 300], [1, 1, 1], [(60, 300, 240, 1, 300, "ongoing")]),
        (
            [60, 181, 302],
            [1, 1, 1],
            [(60, 60, 0, 0, None, "gap"), (181, 181, 0, 0, None, "gap"), (302, 302, 0, 0, None, "ongoing")],
        ),
        # a non-remission assessment ends the run ("lost"); an unknown flag neither extends nor breaks
        ([91, 150, 183, 365], [1, None, 0, 1], [(91, 91, 0, 0, None, "lost"), (365, 365, 0, 0, None, "ongoing")]),
        # baseline remission (day ≤ 0) never starts a run
        ([-7, 91], [1, 0], []),
    ],
    ids=["exactly-180", "179-short", "gap-120-kept", "gap-121-breaks", "loss-and-unknown", "baseline-ignored"],
)
def test_remission_runs_by_hand(days: list[int], flags: list[int | None], expected: list[tuple[object, ...]]) -> None:
    runs = derive_remission_runs(_visits(days, flags))
    assert [r[1:] for r in runs.rows()] == expected


def test_sustained_rule_is_configurable() -> None:
    runs = derive_remission_runs(_visits([91, 183], [1, 1]), rule=SustainedRule(min_days=90, max_gap_days=120))
    assert runs.select("sustained", "sustained_day").row(0) == (1, 183)


def test_sustained_flag_per_visit() -> None:
    v = _visits([-7, 91, 183, 271, 300, 400], [0, 1, 1, 1, 0, None])
    assert derive_sustained(v)["remission_sustained"].to_list() == [0, 0, 0, 1, 0, None]


@pytest.mark.parametrize(
    ("day", "stop_day", "rule", "expected"),
    [
        (114, 113, DrugFreeRule(), (1, 0)),  # the day after the last dose: 1 day free, not drug-free
        (142, 113, DrugFreeRule(), (29, 0)),  # 29 days
        (143, 113, DrugFreeRule(), (30, 1)),  # 30 days: drug-free
        (113, 113, DrugFreeRule(), (None, 0)),  # the last dose day: still on treatment
        (122, 113, DrugFreeRule(min_free_days=0), (9, 1)),  # the old rule (no minimum)
    ],
    ids=["day-after", "29-days", "30-days", "stop-day", "no-minimum"],
)
def test_minimum_treatment_free_period(
    day: int, stop_day: int, rule: DrugFreeRule, expected: tuple[object, ...]
) -> None:
    v = pl.DataFrame({"patient_id": ["A"], "day": [day]})
    m = pl.DataFrame({"patient_id": ["A"], "drug": ["prednisone"], "start_day": [-400], "stop_day": [stop_day]})
    assert derive_drug_free(v, m, rule).select("treatment_free_days", "drug_free").row(0) == expected


def test_no_medication_record_after_baseline_is_unknown_not_drug_free() -> None:
    v = pl.DataFrame({"patient_id": ["A", "B", "C"], "day": [200, 200, 200]})
    m = pl.DataFrame(
        {
            "patient_id": ["A", "B"],
            "drug": ["prednisone", "fludarabine"],  # A: history ends at day −100; B: conditioning only
            "start_day": [-400, -5],
            "stop_day": [-100, -3],
        }
    )
    assert derive_drug_free(v, m)["drug_free"].to_list() == [None, None, None]


def test_antimalarial_is_an_option() -> None:
    v = pl.DataFrame({"patient_id": ["A"], "day": [200]})
    m = pl.DataFrame(
        {"patient_id": ["A"], "drug": ["hydroxychloroquine"], "start_day": [-400], "stop_day": [None]},
        schema_overrides={"stop_day": pl.Int64},
    )
    assert derive_drug_free(v, m)["drug_free"].to_list() == [0]
    assert derive_drug_free(v, m, DrugFreeRule(antimalarial=False))["drug_free"].to_list() == [1]


def test_drug_free_remission_combines_two_flags() -> None:
    v = pl.DataFrame({"remission": [1, 1, 0, None], "drug_free": [1, None, None, 0]})
    assert derive_drug_free_remission(v)["drug_free_remission"].to_list() == [1, None, 0, 0]


def test_nri_observed_not_yet_and_missed_by_hand() -> None:
    # month 6 window 153–213. A: in remission day 183. B: visit day 190 not in remission. C: no visit,
    # follow-up 400 days → missed (non-response). D: died on day 100 → non-response. E: data cut at
    # day 160 (< 213), no visit → not yet. F: visit on day 154 although cut at 160 → counted.
    visits = pl.DataFrame({"patient_id": ["A", "B", "F"], "day": [183, 190, 154], "remission": [1, 0, 1]})
    cohort = pl.DataFrame(
        {
            "patient_id": ["A", "B", "C", "D", "E", "F"],
            "potential_days": [400, 400, 400, 400, 160, 160],
            "exit_day": [None, None, None, 100, None, None],
        },
        schema_overrides={"exit_day": pl.Int64},
    )
    s = summarise_at_month(assign_windows(visits, [6]), cohort, "remission", 6)
    assert (s.nri.text(), s.observed.text(), s.not_yet, s.missed) == ("2/5 (40%)", "2/3 (67%)", 1, 2)


def test_efficacy_censoring_at_last_assessment_not_last_lab() -> None:
    # IIM-11 of issue 21: last assessment day 274, last lab day 300 — censored at 274
    v = pl.DataFrame({"patient_id": ["P"] * 3, "day": [91, 183, 274], "remission": [0, 1, 1]})
    assert last_efficacy_day(v, "remission").rows() == [("P", 274)]
    assert derive_time_to_first(v, "remission").rows() == [("P", 183.0, 1)]
    # duration of remission from the first remission (day 183): censored at 274 → 91 days
    assert derive_remission_duration(v, "remission").rows() == [("P", 91.0, 0)]
    deaths = pl.DataFrame({"patient_id": ["P"], "death_day": [250]})
    assert derive_remission_duration(v, "remission", deaths).rows() == [("P", 67.0, 1)]


def test_lab_baseline_before_conditioning_and_pre_infusion_nadir() -> None:
    meds = pl.DataFrame(
        {
            "patient_id": ["A", "A"],
            "drug": ["fludarabine", "cyclophosphamide"],
            "start_day": [-5, -3],
            "stop_day": [-3, -3],
        }
    )
    cond = derive_conditioning_start(meds)
    series = pl.DataFrame(
        {
            "patient_id": ["A", "A", "A", "A", "B", "B"],
            "day": [-7, -5, 0, 30, -7, 0],
            "cd19": [150.0, 140, 20, 0, 99, 97],
        }
    )
    out = derive_lab_baseline(series, "cd19", cond)
    # A: day −7 (< −5) is baseline; nadir from −5 to 0 is 20. B: no conditioning record → latest day ≤ 0.
    assert out.rows() == [
        ("A", 150.0, -7, "before conditioning (day < -5)", 20.0),
        ("B", 97.0, 0, "latest with day ≤ 0", None),
    ]
    old = derive_lab_baseline(series, "cd19", cond, LabBaselineRule(anchor="infusion"))
    assert old.filter(pl.col("patient_id") == "A")["cd19_baseline"].to_list() == [20.0]
