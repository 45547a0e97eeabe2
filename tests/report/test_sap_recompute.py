"""Independent recomputation of the SAP endpoints (issue 21): a small cohort written here by hand,
stored, scored and reported; every expected cell is worked out by hand below from the rules of
docs/decisions/sap.md (not by calling the project's functions), and compared with the report's
tables.

The cohort (DAY0 = infusion of S1, S2, S4, X1; S3 infused 400 days later). Data cut = the latest
assessment date = DAY0 + 548 (S1), so the potential follow-up is 548 days for S1, S2, S4, X1 and
148 days for S3. Windows: m3 77–105, m6 153–213, m12 335–395, m18 518–578, m24 701–761.

SLE (DORIS flag by day):
- S1: −7 0 | 91 1 | 183 1 | 274 1 | 365 1 | 548 1. Prednisone −400 to 100, fludarabine −5 to −3.
- S2: −5 0 | 91 0 | 183 1 | 365 0. Prednisone from −400, ongoing.
- S3: −7 0 | 95 1. No medication record at all (drug-free unknown).
- S4: −7 0 | 91 1. Prednisone −400 to 60. Dies on day 150 (adverse event grade 5).
SSc (EUSTAR-AI active): X1: −7 1 | 91 0. No medication record.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

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

DAY0 = date(2023, 1, 10)
LATE = DAY0 + timedelta(days=400)
INFUSION = {"S1": DAY0, "S2": DAY0, "S3": LATE, "S4": DAY0, "X1": DAY0}
DORIS = {
    "S1": [(-7, 0), (91, 1), (183, 1), (274, 1), (365, 1), (548, 1)],
    "S2": [(-5, 0), (91, 0), (183, 1), (365, 0)],
    "S3": [(-7, 0), (95, 1)],
    "S4": [(-7, 0), (91, 1)],
}
EUSTAR_ACTIVE = {"X1": [(-7, 1), (91, 0)]}
#: (patient, drug, start_day, stop_day)
COURSES = [
    ("S1", "prednisone", -400, 100),
    ("S1", "fludarabine", -5, -3),
    ("S2", "prednisone", -400, None),
    ("S4", "prednisone", -400, 60),
]


def _on(pid: str, day: int) -> date:
    return INFUSION[pid] + timedelta(days=day)


def _cohort() -> Cohort:
    diseases = {"S1": Disease.SLE, "S2": Disease.SLE, "S3": Disease.SLE, "S4": Disease.SLE, "X1": Disease.SSC}
    visits = [(p, d, "sle") for p, rows in DORIS.items() for d, _ in rows]
    visits += [(p, d, "ssc") for p, rows in EUSTAR_ACTIVE.items() for d, _ in rows]
    return Cohort(
        sites=(Site(site_id="S"),),
        patients=tuple(
            Patient(patient_id=p, site_id="S", disease=d, sex=Sex.FEMALE, birth_year=1990, diagnosis_year=2015)
            for p, d in diseases.items()
        ),
        infusions=tuple(Infusion(patient_id=p, date=when, cells_per_kg=1e6) for p, when in INFUSION.items()),
        assessments=tuple(
            Assessment(patient_id=p, date=_on(p, d), day=d, visit=f"d{d}", form=form, items={}) for p, d, form in visits
        ),
        medications=tuple(
            Medication(
                patient_id=p,
                drug=drug,
                dose=10.0,
                start_date=_on(p, start),
                start_day=start,
                stop_date=None if stop is None else _on(p, stop),
                stop_day=stop,
            )
            for p, drug, start, stop in COURSES
        ),
        adverse_events=(
            AdverseEvent(
                patient_id="S4",
                term="death",
                category=AECategory.OTHER,
                grade=5,
                onset_date=_on("S4", 150),
                onset_day=150,
            ),
        ),
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sap")
    engine = connect(f"sqlite:///{folder / 'sap.db'}")
    migrate(engine)
    save_cohort(engine, _cohort())
    ids = assessment_table(engine).select("assessment_id", "patient_id", "day")
    doris = pl.DataFrame(
        [(p, d, f) for p, rows in DORIS.items() for d, f in rows],
        schema=["patient_id", "day", "doris_remission"],
        orient="row",
    )
    eustar = pl.DataFrame(
        [(p, d, f, 3.0 if f else 1.0) for p, rows in EUSTAR_ACTIVE.items() for d, f in rows],
        schema=["patient_id", "day", "eustar_ai_active", "eustar_ai"],
        orient="row",
    )
    save_scores(engine, "doris", "test", ids.join(doris, on=["patient_id", "day"]), ["doris_remission"])
    save_scores(
        engine, "eustar-ai", "test", ids.join(eustar, on=["patient_id", "day"]), ["eustar_ai", "eustar_ai_active"]
    )
    out = folder / "out"
    build_report_files(engine, out)
    return out / "tables"


def _rows(tables: Path, name: str, key: str = "endpoint") -> dict[str, dict[str, str]]:
    frame = pl.read_csv(tables / f"{name}.csv", infer_schema=False)
    return {row[key]: row for row in frame.iter_rows(named=True)}


MONTHS = ("month 3", "month 6", "month 12", "month 18", "month 24")

#: (endpoint, NRI, observed, missing, not yet) per month, worked out by hand:
#: m3 — all four SLE patients have a window visit (S3 on day 95). m6 — S3 not yet (148 < 213),
#: S4 dead by 213 → in N, non-response. m12 — as m6. m18 — S2 potential 548 < 578, no visit → not
#: yet; S3 not yet; N = S1 and S4. m24 — only dead S4 in N.
EXPECTED = {
    "DORIS 2021 remission": (
        ("3/4 (75%)", "2/3 (67%)", "1/3 (33%)", "1/2 (50%)", "0/1 (0%)"),
        ("3/4 (75%)", "2/2 (100%)", "1/2 (50%)", "1/1 (100%)", "0/0"),
        ("0", "1", "1", "1", "1"),
        ("0", "1", "1", "2", "3"),
    ),
    # S1's run 91–365 (gaps ≤ 120) reaches 180 days on day 274; 365 → 548 is a 183-day gap: new run.
    "sustained DORIS 2021 remission": (
        ("0/4 (0%)", "0/3 (0%)", "1/3 (33%)", "0/2 (0%)", "0/1 (0%)"),
        ("0/4 (0%)", "0/2 (0%)", "1/2 (50%)", "0/1 (0%)", "0/0"),
        ("0", "1", "1", "1", "1"),
        ("0", "1", "1", "2", "3"),
    ),
    # Drug-free needs ≥ 30 days since the last dose: S1 on day 91 is on prednisone (stop 100), on day
    # 183 83 days free; S4 on day 91 31 days free; S2 never; S3 unknown (no record) → missing.
    "drug-free DORIS 2021 remission": (
        ("1/4 (25%)", "1/3 (33%)", "1/3 (33%)", "1/2 (50%)", "0/1 (0%)"),
        ("1/3 (33%)", "1/2 (50%)", "1/2 (50%)", "1/1 (100%)", "0/0"),
        ("1", "1", "1", "1", "1"),
        ("0", "1", "1", "2", "3"),
    ),
    # S1 drug-free remission 183, 274, 365: 182 days by 365; 548 after a 183-day gap starts again.
    "sustained drug-free DORIS 2021 remission": (
        ("0/4 (0%)", "0/3 (0%)", "1/3 (33%)", "0/2 (0%)", "0/1 (0%)"),
        ("0/3 (0%)", "0/2 (0%)", "1/2 (50%)", "0/1 (0%)", "0/0"),
        ("1", "1", "1", "1", "1"),
        ("0", "1", "1", "2", "3"),
    ),
}


@pytest.mark.parametrize("endpoint", list(EXPECTED), ids=list(EXPECTED))
def test_nri_observed_missing_not_yet_by_hand(tables: Path, endpoint: str) -> None:
    rows = _rows(tables, "efficacy_remission_sle")
    nri, observed, missing, not_yet = EXPECTED[endpoint]
    assert tuple(rows[f"{endpoint} — NRI (primary)"][m] for m in MONTHS) == nri
    assert tuple(rows[f"{endpoint} — observed cases"][m] for m in MONTHS) == observed
    assert tuple(rows[f"{endpoint} — missing: non-response in NRI (n)"][m] for m in MONTHS) == missing
    assert tuple(rows[f"{endpoint} — not yet at month m: follow-up too short (n)"][m] for m in MONTHS) == not_yet


def test_ssc_has_its_own_label_and_no_pooled_remission_row(tables: Path) -> None:
    rows = _rows(tables, "efficacy_remission_ssc")
    # X1: month 3 in remission; month 6 potential 548 ≥ 213 without a visit → missed, non-response.
    assert rows["EUSTAR-AI < 2.5 — NRI (primary)"]["month 3"] == "1/1 (100%)"
    assert rows["EUSTAR-AI < 2.5 — NRI (primary)"]["month 6"] == "0/1 (0%)"
    assert rows["EUSTAR-AI < 2.5 — observed cases"]["month 6"] == "0/0"
    for name in ("km_time_to_remission", "km_time_to_sustained_remission", "km_relapse_free_survival"):
        assert "All" not in _rows(tables, name, "group")
    groups = pl.read_csv(tables / "efficacy_all_endpoints.csv", infer_schema=False)
    pooled = groups.filter(pl.col("group") == "All")["endpoint"].to_list()
    assert pooled == [
        "off glucocorticoids",
        "off immunosuppressants and biologics",
        "drug-free (≥ 30 days without maintenance drug)",
    ]


def test_drug_free_common_row_treats_no_record_as_unknown(tables: Path) -> None:
    frame = pl.read_csv(tables / "efficacy_all_endpoints.csv", infer_schema=False)
    rows = {(r["group"], r["endpoint"]): r for r in frame.iter_rows(named=True)}
    free = rows[("SLE", "drug-free (≥ 30 days without maintenance drug)")]
    # baseline: S1, S2, S4 on prednisone (0), S3 unknown → 0/3; month 3: S4 (31 days free) → 1/3;
    # month 6: S1 (83 days) yes, S2 no → 1/2. "All" adds X1, unknown (no record): the same counts.
    assert (free["baseline"], free["month 3"], free["month 6"]) == ("0/3 (0%)", "1/3 (33%)", "1/2 (50%)")
    assert rows[("All", "drug-free (≥ 30 days without maintenance drug)")]["month 3"] == "1/3 (33%)"
    assert rows[("SLE", "off glucocorticoids")]["baseline"] == "0/3 (0%)"


def test_time_to_remission_by_hand(tables: Path) -> None:
    sle = _rows(tables, "km_time_to_remission", "group")["SLE"]
    # events on days 91 (S1, S4), 95 (S3), 183 (S2): S(91) = 2/4 = 0.5 → median 91. Exponential
    # Greenwood at n = 4, d = 2: σ = √(2/(4·2)) / ln 2 = 0.7213; S in exp(−exp(ln ln 2 ± 1.96σ)) =
    # [0.058, 0.845] → cumulative 50 % (16–94). At risk on day 91: 4; on day 183: 1.
    assert (sle["patients"], sle["events"], sle["median, months"]) == ("4", "4", "3")  # day 91 = 2.99 months
    assert (sle["month 3"], sle["at risk, month 3"], sle["at risk, month 6"]) == ("50% (16–94)", "4", "1")
    assert sle["month 6"].startswith("100%")


def test_time_to_sustained_remission_by_hand(tables: Path) -> None:
    sle = _rows(tables, "km_time_to_sustained_remission", "group")["SLE"]
    # S1's sustained run starts on day 91 (event); S4 censored at 91, S3 at 95, S2 at 365 (its last
    # efficacy assessment). S(91) = 3/4; n = 4, d = 1: σ = √(1/12)/|ln 0.75| = 1.0035 → S in
    # [0.128, 0.961] → cumulative 25 % (4–87); median not reached; at risk day 183 and 365: S2 only.
    assert (sle["patients"], sle["events"], sle["median, months"]) == ("4", "1", "not reached")
    assert (sle["month 3"], sle["at risk, month 6"], sle["at risk, month 12"]) == ("25% (4–87)", "1", "1")


def test_duration_of_remission_from_first_remission_by_hand(tables: Path) -> None:
    sle = _rows(tables, "km_relapse_free_survival", "group")["SLE"]
    # From the first remission: S1 91 → censored at its last assessment 548 (457 days); S2 183 → lost
    # on 365 (182, event); S3 95 → censored at 95 (0); S4 91 → death on 150 (59, event).
    # KM: t = 59, n = 3 → 2/3; t = 182, n = 2 → 1/3 → median 182. At day 91: 2/3; n = 3, d = 1:
    # σ = √(1/6)/|ln(2/3)| = 1.0069 → [0.054, 0.945] → 67 % (5–95); at risk on day 91: S1, S2.
    assert (sle["patients"], sle["events"], sle["median, months"]) == ("4", "2", "6")  # day 182 = 5.98 months
    assert (sle["month 3"], sle["at risk, month 3"]) == ("67% (5–95)", "2")
    assert sle["month 6"].startswith("33%") and sle["at risk, month 6"] == "1"


def test_milestones_by_hand(tables: Path) -> None:
    rows = _rows(tables, "efficacy_milestones", "patient_id")
    s1, s2 = rows["S1"], rows["S2"]
    assert (s1["remission_day"], s1["relapse_day"], s1["drug_free_remission_day"]) == ("91", None, "183")
    assert (s1["sustained_remission_day"], s1["sustained_drug_free_remission_day"]) == ("274", "365")
    assert s1["last_assessment_day"] == "548"
    assert (s2["remission_day"], s2["relapse_day"], s2["sustained_remission_day"]) == ("183", "365", None)
    assert rows["S4"]["death_day"] == "150" and rows["S3"]["drug_free_remission_day"] is None


def test_estimand_definitions_are_written(tables: Path) -> None:
    rows = _rows(tables, "estimands")
    doris = rows["DORIS 2021 remission"]
    assert doris["disease"] == "SLE" and "NRI" in doris["strategy"] and "death" in doris["intercurrent_events"]
    assert "≥ 180 days" in rows["sustained DORIS 2021 remission"]["variable"]
    assert rows["duration of DORIS 2021 remission"]["baseline"] == "first remission (time origin)"
    assert rows["drug-free"]["disease"] == "All"
