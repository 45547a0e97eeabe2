"""The report's data-quality section: counts by rule and the listing, on a hand-made registry and on
the demo (whose real inconsistencies issue 21 found by recomputing from the exported tables: all
15 neutropenia AEs graded 3 with a nadir ANC of 0.30–0.43 x10^9/L, CTCAE grade 4; 19 SLEDAI-2K
proteinuria/complement/anti-dsDNA items against the nearest lab)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from remission.model import Cohort, Patient, Site
from remission.model.queries import RaisedQuery
from remission.report.data import ReportData
from remission.report.quality import TITLE, quality_section
from remission.report.sections import Context
from remission.store import save_cohort
from remission.store.queries import list_queries, set_query_status, sync_queries


def _registry(engine: Engine) -> Engine:
    patient = Patient(patient_id="P1", site_id="S", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
    save_cohort(engine, Cohort(sites=(Site(site_id="S"),), patients=(patient,)))
    return engine


def test_section_says_when_the_checks_have_not_run(engine: Engine, tmp_path: Path) -> None:
    section = quality_section(Context(ReportData.load(_registry(engine)), tmp_path))
    assert section.title == TITLE and "have not run" in section.unavailable


def test_section_counts_by_rule_and_status_and_lists_every_query(engine: Engine, tmp_path: Path) -> None:
    rules = {"sledai2k_proteinuria_vs_lab", "visit_after_death"}
    raised = [
        RaisedQuery("P1", "assessments", 1, "sledai2k_proteinuria_vs_lab", "a"),
        RaisedQuery("P1", "assessments", 2, "sledai2k_proteinuria_vs_lab", "b"),
        RaisedQuery("P1", "assessments", 3, "visit_after_death", "c"),
    ]
    sync_queries(_registry(engine), raised, rules)
    set_query_status(engine, list_queries(engine)[0]["id"], "closed", "verified", actor="monitor")
    section = quality_section(Context(ReportData.load(engine), tmp_path))
    by_rule, listing = section.tables
    # by hand: proteinuria 1 open + 1 closed = 2; visit after death 1 open (as printed: text cells)
    assert by_rule.columns[:5] == ["Rule", "Open", "Answered", "Closed", "Total"]
    assert [tuple(r[:5]) for r in by_rule.rows] == [
        ("sledai2k_proteinuria_vs_lab", "1", "0", "1", "2"),
        ("visit_after_death", "1", "0", "0", "1"),
    ]
    assert by_rule.rows[0][5].startswith("SLEDAI-2K descriptor definition")
    assert [r[2] for r in listing.rows] == ["assessments/1", "assessments/2", "assessments/3"]
    assert "no record is changed by a check" in section.note
    assert (tmp_path / "tables" / "quality_queries.csv").exists()


def test_demo_report_lists_the_demos_real_inconsistencies(demo_run: Any) -> None:
    tables = demo_run.out / "tables"
    counts = dict(pl.read_csv(tables / "quality_queries_by_rule.csv").select("rule", "total").iter_rows())
    assert counts["ctcae_neutrophil_count_decreased"] == 15
    form_vs_lab = (
        "sledai2k_proteinuria_vs_lab",
        "sledai2k_low_complement_vs_lab",
        "sledai2k_increased_dna_binding_vs_lab",
    )
    assert sum(counts[r] for r in form_vs_lab) == 19
    listing = pl.read_csv(tables / "quality_queries.csv")
    grades = listing.filter(pl.col("rule") == "ctcae_neutrophil_count_decreased")
    assert grades["patient_id"].n_unique() == 15  # one neutropenia AE per patient
    neutropenia = grades["message"].to_list()
    assert all("recorded grade 3" in m and m.endswith("is CTCAE grade 4") for m in neutropenia)
    nadirs = [float(m.split("anc_10e9_l ")[1].split(" ")[0]) for m in neutropenia]
    assert min(nadirs) >= 0.30 and max(nadirs) <= 0.43
    assert (
        "proteinuria recorded absent on day 30, but proteinuria_g_24h = 1.32 on day 28 (proteinuria_g_24h > 0.5)"
        in listing.filter(pl.col("patient_id") == "SLE-01")["message"].to_list()
    )
    html = (demo_run.out / "report.html").read_text()
    assert TITLE in html and "Data-quality queries by rule" in html
    assert "data-quality queries: " in demo_run.output
