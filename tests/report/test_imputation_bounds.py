"""Endpoints with their imputation bounds (issue 17 item 4): a cohort with partially dated
prednisone, stored, scored and reported; every bound is worked out by hand below from the rules
of docs/decisions/imputation.md ("Bounds"), and the demo report shows none.

All four SLE patients are infused on DAY0 = 2024-01-15 (day 0). Data cut = DAY0 + 365, so every
potential follow-up is 365 days. Windows: m3 77–105, m6 153–213, m12 335–395.

- B1: DORIS −7 0 | 91 1 | 160 1 | 274 1 | 365 1. Prednisone CMSTDTC 2023-06-01, CMENDTC "2024-05":
  stored end 2024-05-31 = day 137 (16 + 29 + 31 + 30 + 31), flag D; opposite end 2024-05-01 = day
  107. Paracetamol "2024-02" to "2024-03" (not a maintenance drug). Herpes zoster AESTDTC "2024-01":
  stored onset 2024-01-15 (not before the infusion), day 0; opposite 2024-01-01, day −14.
- B2: DORIS −7 0 | 91 1 | 183 1 | 274 1 | 365 1. Prednisone 2023-06-01 to "2024-03": stored end
  2024-03-31 = day 76 (16 + 29 + 31), opposite 2024-03-01 = day 46. CRS on day 1 (complete date).
- B3: DORIS −7 0 | 91 1 | 183 1. Prednisone with complete dates, day −400 to day 60.
- B4: DORIS −7 0 | 91 1. Prednisone CMSTDTC "2023-05", ongoing (moving its start changes nothing).

Drug-free (≥ 30 days since the last dose), reported / opposite:
- B1 day 91: on prednisone either way; day 160: 160 − 137 = 23 days (no) / 160 − 107 = 53 (yes);
  274 and 365: yes / yes.
- B2 day 91: 91 − 76 = 15 (no) / 91 − 46 = 45 (yes); 183 on: yes / yes.
- B3 day 91: 91 − 60 = 31 (yes) both; B4: never (ongoing).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from remission.model import (
    AdverseEvent,
    AECategory,
    Assessment,
    Cohort,
    Disease,
    Infusion,
    Medication,
    Patient,
    Sex,
    Site,
)
from remission.report.build import build_report_files
from remission.store import assessment_table, connect, migrate, save_cohort, save_scores

DAY0 = date(2024, 1, 15)
DORIS = {
    "B1": [(-7, 0), (91, 1), (160, 1), (274, 1), (365, 1)],
    "B2": [(-7, 0), (91, 1), (183, 1), (274, 1), (365, 1)],
    "B3": [(-7, 0), (91, 1), (183, 1)],
    "B4": [(-7, 0), (91, 1)],
}
#: (patient, drug, CMSTDTC, start flag, stored start, CMENDTC, end flag, stored end, CMSEQ)
COURSES: list[tuple[str, str, str | None, str | None, date | None, str | None, str | None, date | None, int]] = [
    ("B1", "prednisone", "2023-06-01", None, date(2023, 6, 1), "2024-05", "D", date(2024, 5, 31), 1),
    ("B1", "paracetamol", "2024-02", "D", date(2024, 2, 1), "2024-03", "D", date(2024, 3, 31), 2),
    ("B2", "prednisone", "2023-06-01", None, date(2023, 6, 1), "2024-03", "D", date(2024, 3, 31), 1),
    (
        "B3",
        "prednisone",
        (DAY0 - timedelta(days=400)).isoformat(),
        None,
        DAY0 - timedelta(days=400),
        (DAY0 + timedelta(days=60)).isoformat(),
        None,
        DAY0 + timedelta(days=60),
        1,
    ),
    ("B4", "prednisone", "2023-05", "D", date(2023, 5, 1), None, None, None, 1),
]


def _day(when: date | None) -> int | None:
    return None if when is None else (when - DAY0).days


def _cohort() -> Cohort:
    return Cohort(
        sites=(Site(site_id="S"),),
        patients=tuple(
            Patient(
                patient_id=p, site_id="S", disease=Disease.SLE, sex=Sex.FEMALE, birth_year=1990, diagnosis_year=2015
            )
            for p in DORIS
        ),
        infusions=tuple(Infusion(patient_id=p, date=DAY0, cells_per_kg=1e6) for p in DORIS),
        assessments=tuple(
            Assessment(patient_id=p, date=DAY0 + timedelta(days=d), day=d, visit=f"d{d}", form="sle", items={})
            for p, rows in DORIS.items()
            for d, _ in rows
        ),
        medications=tuple(
            Medication(
                patient_id=p,
                drug=drug,
                dose=10.0,
                start_date=start,
                start_day=_day(start),
                stop_date=stop,
                stop_day=_day(stop),
                source_key=f"PILOT/{p}/CM/{seq}",
                start_dtc=start_dtc,
                start_date_flag=start_flag,
                stop_dtc=stop_dtc,
                stop_date_flag=stop_flag,
            )
            for p, drug, start_dtc, start_flag, start, stop_dtc, stop_flag, stop, seq in COURSES
        ),
        adverse_events=(
            AdverseEvent(
                patient_id="B1",
                term="herpes zoster",
                category=AECategory.INFECTION,
                grade=2,
                onset_date=DAY0,
                onset_day=0,
                source_key="PILOT/B1/AE/1",
                onset_dtc="2024-01",
                onset_date_flag="D",
            ),
            AdverseEvent(
                patient_id="B2",
                term="cytokine release syndrome",
                category=AECategory.CRS,
                grade=1,
                onset_date=DAY0 + timedelta(days=1),
                onset_day=1,
                source_key="PILOT/B2/AE/1",
                onset_dtc=(DAY0 + timedelta(days=1)).isoformat(),
            ),
        ),
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bounds")
    engine = connect(f"sqlite:///{folder / 'bounds.db'}")
    migrate(engine)
    save_cohort(engine, _cohort())
    ids = assessment_table(engine).select("assessment_id", "patient_id", "day")
    doris = pl.DataFrame(
        [(p, d, f) for p, rows in DORIS.items() for d, f in rows],
        schema=["patient_id", "day", "doris_remission"],
        orient="row",
    )
    save_scores(engine, "doris", "test", ids.join(doris, on=["patient_id", "day"]), ["doris_remission"])
    out = folder / "out"
    build_report_files(engine, out)
    return out


def _rows(out: Path, name: str, key: str = "endpoint") -> dict[str, dict[str, Any]]:
    frame = pl.read_csv(out / "tables" / f"{name}.csv", infer_schema=False)
    return {row[key]: row for row in frame.iter_rows(named=True)}


CAUSE = "depending on partially dated medications"
#: (endpoint row, month) → cell, worked out by hand (module docstring):
#: m3 — drug-free remission B3 (both rules) and B2 (opposite only): 1 vs 2 of 4, all observed.
#: m6 — B2, B3 (both) and B1 (day 160, opposite only); B4 has no window visit (NRI non-response,
#: not observed): NRI 2 vs 3 of 4, observed 2 vs 3 of 3.
#: m12 — B1, B2 on day 365 both ways; B3, B4 have no window visit and a potential follow-up (365)
#: shorter than the window's end (395): not yet, out of N: 2/2, no bounds.
#: sustained at m12 — B2: run 183–365 (182 ≥ 180 days) reported, 91–365 opposite; B1: run 274–365
#: (91 days) reported, 160–365 (205 days, gaps 114 and 91 ≤ 120) opposite: 1 vs 2.
EXPECTED = [
    ("drug-free DORIS 2021 remission — NRI (primary)", "month 3", f"1/4 (25%); 1–2 {CAUSE}"),
    ("drug-free DORIS 2021 remission — observed cases", "month 3", f"1/4 (25%); 1–2 {CAUSE}"),
    ("drug-free DORIS 2021 remission — NRI (primary)", "month 6", f"2/4 (50%); 2–3 {CAUSE}"),
    ("drug-free DORIS 2021 remission — observed cases", "month 6", f"2/3 (67%); 2–3 {CAUSE}"),
    ("drug-free DORIS 2021 remission — NRI (primary)", "month 12", "2/2 (100%)"),
    ("drug-free DORIS 2021 remission — observed cases", "month 12", "2/2 (100%)"),
    ("drug-free DORIS 2021 remission — missing: non-response in NRI (n)", "month 6", "1"),
    ("sustained drug-free DORIS 2021 remission — NRI (primary)", "month 6", "0/4 (0%)"),
    ("sustained drug-free DORIS 2021 remission — NRI (primary)", "month 12", f"1/2 (50%); 1–2 {CAUSE}"),
    ("sustained drug-free DORIS 2021 remission — observed cases", "month 12", f"1/2 (50%); 1–2 {CAUSE}"),
    # Remission itself reads no medication: never bounds.
    ("DORIS 2021 remission — NRI (primary)", "month 6", "3/4 (75%)"),
]


@pytest.mark.parametrize(("endpoint", "month", "cell"), EXPECTED, ids=[f"{e} {m}" for e, m, _ in EXPECTED])
def test_drug_free_remission_bounds_worked_out_by_hand(report: Path, endpoint: str, month: str, cell: str) -> None:
    assert _rows(report, "efficacy_remission_sle")[endpoint][month] == cell


def test_treatment_withdrawal_bounds_by_hand(report: Path) -> None:
    frame = pl.read_csv(report / "tables" / "efficacy_all_endpoints.csv", infer_schema=False)
    rows = {(r["group"], r["endpoint"]): r for r in frame.iter_rows(named=True)}
    free = rows[("SLE", "drug-free (≥ 30 days without maintenance drug)")]
    # baseline (day −7): everyone on prednisone. m3: B3 both, B2 opposite only. m6: B2, B3 both,
    # B1 (day 160) opposite only; B4 has no window visit.
    assert (free["baseline"], free["month 3"], free["month 6"]) == (
        "0/4 (0%)",
        f"1/4 (25%); 1–2 {CAUSE}",
        f"2/3 (67%); 2–3 {CAUSE}",
    )
    assert rows[("All", "drug-free (≥ 30 days without maintenance drug)")]["month 3"] == free["month 3"]
    # Off glucocorticoids on day 91: B2 (end day 76 or 46) and B3 either way, B1 (137 or 107) and
    # B4 on prednisone either way — the same count, so no bounds.
    assert rows[("SLE", "off glucocorticoids")]["month 3"] == "2/4 (50%)"


def test_per_patient_first_days_and_records_responsible(report: Path) -> None:
    patients = _rows(report, "efficacy_drug_free_bounds", "patient_id")
    # B3 (complete dates) and B4 (ongoing: its later start changes no flag) are not listed.
    assert sorted(patients) == ["B1", "B2"]
    b1, b2 = patients["B1"], patients["B2"]
    assert (b1["drug_free_remission_day"], b1["drug_free_remission_day_opposite"]) == ("274", "160")
    assert (b2["drug_free_remission_day"], b2["drug_free_remission_day_opposite"]) == ("183", "91")
    # Sustained (run ≥ 180 days): B1 never reported, day 365 opposite (run from 160); B2 day 365
    # reported (run from 183), day 274 opposite (run from 91: 183 days).
    assert (b1["drug_free_remission_sustained_day"], b1["drug_free_remission_sustained_day_opposite"]) == (None, "365")
    assert (b2["drug_free_remission_sustained_day"], b2["drug_free_remission_sustained_day_opposite"]) == ("365", "274")
    records = pl.read_csv(report / "tables" / "efficacy_drug_free_bounds_records.csv", infer_schema=False)
    # Paracetamol (B1) is partially dated but no maintenance drug; B4's prednisone moves but
    # changes no flag of B4's.
    assert records.select("patient_id", "drug", "source_key", "stop_dtc", "stop_day", "stop_day_opposite").rows() == [
        ("B1", "prednisone", "PILOT/B1/CM/1", "2024-05", "137", "107"),
        ("B2", "prednisone", "PILOT/B2/CM/1", "2024-03", "76", "46"),
    ]


def test_time_to_drug_free_remission_bounds_by_hand(report: Path) -> None:
    sle = _rows(report, "efficacy_time_to_drug_free_bounds", "group")["SLE"]
    # Reported: events 91 (B3), 183 (B2), 274 (B1); B4 censored at 91. S(91) = 3/4, S(183) =
    # 3/4 · 1/2 = 0.375 → median 183. Opposite: events 91 (B2, B3), 160 (B1): S(91) = 2/4 → 91.
    assert sle["patients reaching it"] == "3"
    assert (sle["median, days (reported)"], sle["median, days (opposite rule)"]) == ("183", "91")


def test_treatment_emergent_bounds_by_hand(report: Path) -> None:
    other = _rows(report, "safety_other")
    row = other["treatment-emergent adverse events (onset on or after day 0), patients"]["patients"]
    # B1's zoster "2024-01" is stored on day 0 (emergent) and read on day −14 by the opposite rule;
    # B2's CRS on day 1 is emergent either way: 2 vs 1 patients, 2 vs 1 events.
    cause = "depending on partially dated onsets"
    assert row == f"2/4 (50%); 1–2 {cause} (2 events; 1–2 {cause})"
    listing = pl.read_csv(report / "tables" / "safety_treatment_emergent_bounds.csv", infer_schema=False)
    assert listing.select("patient_id", "term", "onset_dtc", "onset_day", "onset_day_opposite").rows() == [
        ("B1", "herpes zoster", "2024-01", "0", "-14")
    ]


def test_report_html_shows_the_bounds_text(report: Path) -> None:
    html = (report / "report.html").read_text(encoding="utf-8")
    assert f"1/4 (25%); 1–2 {CAUSE}" in html
    assert "Medication records responsible" in html


BOUNDS_FILES = (
    "efficacy_drug_free_bounds.csv",
    "efficacy_drug_free_bounds_records.csv",
    "efficacy_time_to_drug_free_bounds.csv",
    "safety_treatment_emergent_bounds.csv",
)


def test_demo_report_has_no_bounds(demo_run: Any) -> None:
    """The demo cohort has no partial date: no bounds text, table or row anywhere."""
    html = (demo_run.out / "report.html").read_text(encoding="utf-8")
    assert "depending on partially dated" not in html
    assert "opposite" not in html
    assert not [name for name in BOUNDS_FILES if (demo_run.out / "tables" / name).exists()]


def test_treatment_emergent_bounds_without_any_assessment(tmp_path: Path) -> None:
    """An SDTM study without forms (as the CDISC pilot imports): no assessment is stored, the
    report is still built and section 4 shows the AE bounds (B1's zoster: 1 patient or none)."""
    full = _cohort()
    cohort = Cohort(
        sites=full.sites,
        patients=full.patients[:1],
        infusions=full.infusions[:1],
        adverse_events=full.adverse_events[:1],
    )
    engine = connect(f"sqlite:///{tmp_path / 'noforms.db'}")
    migrate(engine)
    save_cohort(engine, cohort)
    build_report_files(engine, tmp_path / "out")
    other = _rows(tmp_path / "out", "safety_other")
    cause = "depending on partially dated onsets"
    row = other["treatment-emergent adverse events (onset on or after day 0), patients"]["patients"]
    assert row == f"1/1 (100%); 0–1 {cause} (1 event; 0–1 {cause})"
