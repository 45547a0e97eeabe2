"""The report built from stored records: a tiny hand-made cohort whose tables are worked out by
hand, and the demo cohort (every section, every figure with its CSV, a non-empty PDF)."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from remission.cli.main import app
from remission.cli.store_cmds import _written
from remission.model import AdverseEvent, AECategory, Assessment, Cohort, Disease, Infusion, Patient, Sex, Site
from remission.report import build
from remission.report.build import build_report_files
from remission.report.sections import SECTIONS
from remission.store import assessment_table, connect, migrate, save_cohort, save_scores
from sharedpaths import in_ci

DAY0 = date(2023, 1, 10)
#: (patient, day, sledai2k, doris_remission) — the stored scores of the tiny cohort.
TINY_SCORES = [
    ("P1", -7, 12, 0),
    ("P1", 91, 2, 1),
    ("P1", 183, 0, 1),
    ("P2", -5, 10, 0),
    ("P2", 95, 4, 0),
]


def _tiny_cohort() -> Cohort:
    patients = tuple(
        Patient(patient_id=p, site_id="S", disease=Disease.SLE, sex=s, birth_year=1990, diagnosis_year=2015)
        for p, s in (("P1", Sex.FEMALE), ("P2", Sex.MALE))
    )
    return Cohort(
        sites=(Site(site_id="S"),),
        patients=patients,
        infusions=tuple(Infusion(patient_id=p.patient_id, date=DAY0, cells_per_kg=1e6) for p in patients),
        assessments=tuple(
            Assessment(patient_id=p, date=DAY0 + timedelta(days=d), day=d, visit=f"d{d}", form="sle", items={"pga": 0})
            for p, d, _, _ in TINY_SCORES
        ),
        adverse_events=(
            AdverseEvent(
                patient_id="P1",
                term="cytokine release syndrome",
                category=AECategory.CRS,
                grade=1,
                onset_date=DAY0 + timedelta(days=1),
                onset_day=1,
            ),
        ),
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    tmp_path = tmp_path_factory.mktemp("tiny")
    engine = connect(f"sqlite:///{tmp_path / 'tiny.db'}")
    migrate(engine)
    save_cohort(engine, _tiny_cohort())
    ids = assessment_table(engine).select("assessment_id", "patient_id", "day")
    values = pl.DataFrame(TINY_SCORES, schema=["patient_id", "day", "sledai2k", "doris_remission"], orient="row")
    scored = ids.join(values, on=["patient_id", "day"])
    save_scores(engine, "sledai2k", "test", scored, ["sledai2k"])
    save_scores(engine, "doris", "test", scored, ["doris_remission"])
    out = tmp_path / "out"
    build_report_files(engine, out)
    return engine, out


def _csv(out: Path, name: str) -> dict[str, dict[str, str]]:
    table = pl.read_csv(out / "tables" / f"{name}.csv", infer_schema=False)
    return {row[table.columns[0]]: row for row in table.iter_rows(named=True)}


def test_sle_endpoints_worked_out_by_hand(tiny: tuple[Engine, Path]) -> None:
    _, out = tiny
    rows = _csv(out, "efficacy_sle")
    doris = rows["DORIS remission"]
    # baseline: P1 0, P2 0. Month 3 (day 91 ± 14): P1 day 91 → 1, P2 day 95 → 0. Month 6 (183 ± 30):
    # P1 day 183 → 1 (P2 has no visit). Month 12: nobody. Last visit: P1 183 → 1, P2 95 → 0.
    assert (doris["baseline"], doris["month 3"], doris["month 6"], doris["month 12"], doris["last visit"]) == (
        "0/2 (0%)",
        "1/2 (50%)",
        "1/1 (100%)",
        "0/0",
        "1/2 (50%)",
    )
    sledai = rows["SLEDAI-2K, median (IQR; range)"]
    # baseline 12, 10 → median 11, type-7 quartiles 10.5 and 11.5; month 3: 2, 4 → 3 (2.5–3.5)
    assert sledai["baseline"] == "11 (IQR 10.5 to 11.5; range 10 to 12)"
    assert sledai["month 3"] == "3 (IQR 2.5 to 3.5; range 2 to 4)"
    assert rows["SLEDAI-2K = 0"]["month 6"] == "1/1 (100%)"
    # indices without stored scores are "not available", never numbers
    assert rows["LLDAS"]["month 3"] == "not available: lldas not computed"
    assert rows["anti-dsDNA negative (≤ ULN)"]["month 3"] == "not available: no anti_dsdna_iu_ml laboratory values"


def test_time_to_remission_by_hand(tiny: tuple[Engine, Path]) -> None:
    _, out = tiny
    sle = _csv(out, "km_time_to_remission")["SLE"]
    # P1 remission on day 91 (event), P2 censored at day 95: S(91) = 1 − 1/2 = 0.5 → 50 % by day 91,
    # median 91 days. Exponential-Greenwood CI at S = 0.5, n = 2, d = 1: Σ = 1/(2·1) = 0.5,
    # σ = √0.5 / |ln 0.5| = 1.0201; bounds exp(−exp(ln(ln 2) ± 1.96σ)) → S in [0.006, 0.910]
    assert (sle["patients"], sle["events"], sle["median, months"]) == ("2", "1", "3")  # day 91 = 2.99 months
    assert sle["month 3"] == "50% (9–99)"


def test_safety_from_adverse_events_when_crs_not_computed(tiny: tuple[Engine, Path]) -> None:
    _, out = tiny
    grades = _csv(out, "safety_crs_icans")
    # P1 CRS grade 1 from its adverse-event record, P2 none → grade 0
    assert grades["0"]["CRS"] == "1/2 (50%)" and grades["1"]["CRS"] == "1/2 (50%)"
    html = (out / "report.html").read_text()
    assert "crs not computed" in html


def test_report_without_labs_says_biology_not_available(tiny: tuple[Engine, Path]) -> None:
    _, out = tiny
    html = (out / "report.html").read_text()
    assert "Not available: no car_t_cells_ul or cd19_cells_ul laboratory values" in html
    assert "SYNTHETIC DATA" not in html  # the tiny cohort is not labelled synthetic


@pytest.fixture(scope="module")
def demo_report(demo_run: Any) -> Path:
    """The report folder of ``remission demo`` (tests/conftest.py: run once per session)."""
    out: Path = demo_run.out
    return out


def test_demo_report_has_every_section(demo_report: Path) -> None:
    html = (demo_report / "report.html").read_text()
    titles = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    for expected in (
        "1. Cohort",
        "2. Treatment",
        "3a. Efficacy",
        "3b. Efficacy",
        "3c. Efficacy",
        "3d. All diseases",
        "4. Safety",
        "5. Biology",
        "6. Figures",
        "Software and rules",
    ):
        assert any(t.startswith(expected) for t in titles), expected
    assert len(titles) == len(SECTIONS) + 1
    assert "SYNTHETIC DATA" in html
    assert "rule versions: " in html and "sledai2k v" in html and "Generated " in html


def test_demo_figures_are_embedded_with_csv_beside(demo_report: Path) -> None:
    html = (demo_report / "report.html").read_text()
    pngs = sorted((demo_report / "figures").glob("*.png"))
    names = {p.stem for p in pngs}
    assert {"swimmer", "spider", "waterfall", "kinetics"} <= names
    for png in pngs:
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert (demo_report / "tables" / f"figure_{png.stem}.csv").stat().st_size > 0
    assert html.count("data:image/png;base64,") == len(pngs)


def test_demo_pdf_is_not_empty(demo_report: Path) -> None:
    if (reason := build.pdf_unavailable()) and not in_ci():
        pytest.skip(reason)
    pdf = (demo_report / "report.pdf").read_bytes()
    # WeasyPrint compresses its objects: the pages are counted on the layout (tests/report/test_pdf.py)
    assert pdf[:5] == b"%PDF-" and len(pdf) > 50_000 and pdf.rstrip().endswith(b"%%EOF")


def test_demo_biology_and_cohort_from_records(demo_report: Path) -> None:
    cohort = _csv(demo_report, "cohort_characteristics")
    # the demo cohort: 8 SLE, 3 IIM, 4 SSc; 6 men (tests/test_demo.py)
    assert (cohort["patients, n"]["SLE"], cohort["patients, n"]["IIM"], cohort["patients, n"]["SSc"]) == ("8", "3", "4")
    assert cohort["male, n/N (%)"]["All"] == "6/15 (40%)"
    biology = _csv(demo_report, "biology_summary")
    assert biology["CAR-T peak day — median (IQR; range)"]["value"].startswith("9 (IQR ")


def test_report_command_writes_html_pdf_and_tables(tiny: tuple[Engine, Path], tmp_path: Path) -> None:
    # the tiny database: the demo's report is built by `remission demo` (demo_report), same code
    db = tiny[1].parent / "tiny.db"
    result = CliRunner().invoke(app, ["report", "--db", f"sqlite:///{db}", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    if (reason := build.pdf_unavailable()) and not in_ci():
        pytest.skip(reason)
    assert (tmp_path / "r" / "report.pdf").exists() and (
        tmp_path / "r" / "tables" / "cohort_characteristics.csv"
    ).exists()


def test_without_pango_the_html_report_is_written_and_the_pdf_skipped_with_the_reason(
    tiny: tuple[Engine, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = "WeasyPrint cannot load the Pango library (test); install Pango"
    monkeypatch.setattr(build, "pdf_unavailable", lambda: reason)
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF- stale")  # an earlier build's PDF must not pass for this one
    files = build.build_report_files(tiny[0], out)
    assert files.html.read_text().startswith("<!doctype html>")
    assert (files.pdf, files.pdf_skipped) == (None, reason)
    assert not (out / "report.pdf").exists()
    assert f"no PDF ({reason})" in _written(files, None)


def test_report_command_refuses_a_database_without_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--db", f"sqlite:///{tmp_path / 'empty.db'}", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "r" / "report.html").exists()


def test_demo_tables_print_human_headers_yes_no_and_one_number_format(demo_report: Path) -> None:
    tables = {caption: (headers, rows) for caption, headers, rows in printed_tables(demo_report)}
    for caption, (headers, _) in tables.items():
        for header in headers:
            assert "_" not in header, (caption, header)
    headers, rows = tables["Infusion per patient (day 0 = infusion date)"]
    dose = headers.index("CAR-T dose (cells/kg)")
    assert {row[dose] for row in rows} == {"1.0 × 10⁶"}  # the demo gives 1 × 10⁶ cells/kg to everybody
    summary_headers, summary_rows = tables["Treatment and follow-up"]
    assert summary_headers[3:] == ["CAR-T cells/kg — median (IQR; range)", "Follow-up, months — median (IQR; range)"]
    assert summary_rows[0][3].startswith("1.0 × 10⁶ (IQR 1.0 × 10⁶ to 1.0 × 10⁶; range ")
    headers, rows = tables["Adverse events (listing)"]
    assert {row[headers.index("Serious")] for row in rows} <= {"Yes", "No"}
    headers, rows = tables["Maintenance treatment: day of the last dose per patient"]
    assert {row[headers.index("Glucocorticoids stopped")] for row in rows} <= {"Yes", "No", "—"}
    html_text = (demo_report / "report.html").read_text()
    # one summary convention, one cell-dose format
    assert "median (range" not in html_text and "(range; IQR" not in html_text and "10^6" not in html_text


def printed_tables(report: Path) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, headers, rows) of every table of a built report.html."""
    text = (report / "report.html").read_text(encoding="utf-8")
    tables = []
    for caption, head, body in re.findall(
        r"<h3>(.*?)</h3>.*?<thead>\s*<tr>(.*?)</tr>\s*</thead>\s*<tbody>(.*?)</tbody>", text, re.S
    ):
        headers = [html.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head)]
        rows = [
            [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
        ]
        tables.append((html.unescape(caption), headers, rows))
    return tables
