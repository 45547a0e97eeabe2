"""Build the cohort report from a database: ``remission report`` and the end of ``remission demo``.

Writes ``report.html`` (self-contained: figures embedded), ``report.pdf`` (the same HTML on A4
pages, by WeasyPrint; skipped with a reason where WeasyPrint or Pango is missing), ``tables/*.csv``
(every table and every figure's data) and ``figures/*.png``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from remission import __version__
from remission.analysis.windows import DEFAULT_RULE, REPORT_MONTHS, WindowRule
from remission.indices import registry
from remission.report.data import ReportData
from remission.report.document import Document, Section, render_html
from remission.report.pdf import pdf_unavailable, render_pdf
from remission.report.sections import SECTIONS, Context

Progress = Callable[[str], None]

#: Steps reported to ``progress``: loading, each section, HTML, PDF.
STEPS = ("loading records", *(f"section: {name}" for name, _ in SECTIONS), "writing HTML", "writing PDF")


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written."""

    html: Path
    pdf: Path | None  # None when built with ``pdf=False`` or when no PDF engine runs here
    tables: Path
    pdf_skipped: str = ""  # why there is no PDF although one was asked for (what to install)


def build_report(
    engine: Engine,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    months: tuple[int, ...] = REPORT_MONTHS,
    rule: WindowRule = DEFAULT_RULE,
    pdf: bool = True,
) -> Path:
    """Write the report into ``out_dir`` from the stored, scored records; return the HTML path.

    ``progress`` is called with the name of each step of :data:`STEPS` as it starts. With
    ``pdf=False`` no ``report.pdf`` is written (about two thirds of the time of a small report).
    """
    return build_report_files(engine, out_dir, progress, months=months, rule=rule, pdf=pdf).html


def build_report_files(
    engine: Engine,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    months: tuple[int, ...] = REPORT_MONTHS,
    rule: WindowRule = DEFAULT_RULE,
    pdf: bool = True,
) -> ReportFiles:
    """As :func:`build_report`, returning every output path."""

    def step(name: str) -> None:
        if progress:
            progress(name)

    out_dir.mkdir(parents=True, exist_ok=True)
    step(STEPS[0])
    data = ReportData.load(engine)
    ctx = Context(data, out_dir, months, rule)
    sections: list[Section] = []
    for name, builder in SECTIONS:
        step(f"section: {name}")
        sections.append(builder(ctx))
    rules = ", ".join(f"{name} v{d.version}" for name, d in sorted(registry().items()))
    document = Document(
        title="remission — CAR-T cohort report",
        sections=sections,
        synthetic=data.synthetic,
        database=engine.url.render_as_string(hide_password=True),
        rules=rules,
        version=__version__,
    )
    step("writing HTML")
    html = out_dir / "report.html"
    text = render_html(document)
    html.write_text(text, encoding="utf-8")
    tables = out_dir / "tables"
    if not pdf:
        return ReportFiles(html, None, tables)
    step("writing PDF")
    # a stale PDF of an earlier build must not pass for this one
    (out_dir / "report.pdf").unlink(missing_ok=True)
    if reason := pdf_unavailable():
        return ReportFiles(html, None, tables, pdf_skipped=reason)
    return ReportFiles(html, render_pdf(text, out_dir / "report.pdf"), tables)
