"""The demo cohort matches the published summary of Müller et al., NEJM 2024, and `remission demo`
runs end to end."""

from __future__ import annotations

import statistics
from typing import Any

from remission.demo.cohort import MONTH, generate_demo_cohort
from remission.report.pdf import pdf_unavailable
from sharedpaths import in_ci


def _pdf_part(out: Any) -> str:
    """What the demo's last line says of the PDF: its path, or (without Pango, outside CI, which
    installs it) why none was written."""
    reason = pdf_unavailable()
    return f"no PDF ({reason})" if reason and not in_ci() else f"PDF {out / 'report.pdf'}"


def test_cohort_matches_published_summary() -> None:
    cohort = generate_demo_cohort()
    diseases = [p.disease.value for p in cohort.patients]
    assert (diseases.count("SLE"), diseases.count("IIM"), diseases.count("SSc")) == (8, 3, 4)
    assert sum(p.sex.value == "male" for p in cohort.patients) == 6
    infusion = {i.patient_id: i.date for i in cohort.infusions}
    ages = [infusion[p.patient_id].year - p.birth_year for p in cohort.patients]
    assert min(ages) >= 20 and max(ages) <= 60
    durations = [infusion[p.patient_id].year - p.diagnosis_year for p in cohort.patients]
    assert min(durations) >= 1 and max(durations) <= 20
    priors = [len(p.prior_treatments) for p in cohort.patients]
    assert statistics.median(priors) == 5 and (min(priors), max(priors)) == (2, 14)
    last_day = {}
    for lab in cohort.labs:
        last_day[lab.patient_id] = max(last_day.get(lab.patient_id, 0), lab.day)
    assert all(r.synthetic for r in (*cohort.patients, *cohort.assessments, *cohort.labs, *cohort.medications))


def test_cohort_is_reproducible_from_its_seed() -> None:
    assert generate_demo_cohort(7) == generate_demo_cohort(7)
    assert generate_demo_cohort(7) != generate_demo_cohort(8)


def test_follow_up_median_15_months() -> None:
    from remission.demo.cohort import FOLLOW_UP_MONTHS

    assert statistics.median(FOLLOW_UP_MONTHS) == 15 and (min(FOLLOW_UP_MONTHS), max(FOLLOW_UP_MONTHS)) == (4, 29)
    assert MONTH == 30.4375


def test_demo_command_writes_the_report(demo_run: Any) -> None:
    """``remission demo`` (run once per session by tests/conftest.py, shared with tests/report/)."""
    out = demo_run.out
    for headline in (
        "SLEDAI-2K per patient",
        "TIS response per patient",
        "mRSS change",
        "EUSTAR-AI change",
        "CRS and ICANS",
    ):
        assert headline in demo_run.output
    html = (out / "report.html").read_text()
    assert "SYNTHETIC DATA" in html
    assert "SLEDAI-2K" in html and "data:image/png;base64" in html
    assert (out / "report.pdf").exists() is _pdf_part(out).startswith("PDF ")
    assert (out / "tables" / "figure_spider.csv").exists()


def test_demo_last_line_names_every_output_written(demo_run: Any) -> None:
    # Issue 22: the last line named report.html only.
    last = demo_run.output.strip().splitlines()[-1]
    out = demo_run.out
    assert last.startswith("written: ")
    for part in (f"report {out / 'report.html'}", _pdf_part(out), f"tables {out / 'tables'}/"):
        assert part in last
    assert f"figures {out / 'figures'}/" in last and " PNG)" in last
    assert f"database sqlite:///{demo_run.db}" in last
