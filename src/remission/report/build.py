"""Build the cohort report from a database: ``remission report`` and the end of ``remission demo``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from remission import __version__
from remission.indices import registry
from remission.report.document import (
    Document,
    FigureBlock,
    Section,
    TableBlock,
    render_html,
    write_csv,
)
from remission.report.figures import spider_plot
from remission.store import read_table, scores_table

Progress = Callable[[str], None]


def sledai_section(engine: Engine, out_dir: Path) -> Section:
    """SLEDAI-2K per SLE patient over time: a wide table (patients × visit day) and a spider plot."""
    scores = scores_table(engine, "sledai2k")
    if scores.is_empty():
        return Section("SLE — SLEDAI-2K over time", unavailable="no SLEDAI-2K assessments are stored")
    long = scores.select("patient_id", "day", "sledai2k", "clinical_sledai", "sledai2k_category", "explain")
    csv = write_csv(long, out_dir, "sledai2k_by_visit")
    wide = (
        long.with_columns(month=(pl.col("day") / 30.4375).round(0).cast(pl.Int64))
        .sort("patient_id", "day")
        .pivot(on="month", index="patient_id", values="sledai2k", aggregate_function="first", sort_columns=True)
    )
    wide = wide.rename({c: (f"month {c}" if c != "patient_id" else "patient") for c in wide.columns})
    png = spider_plot(long, "sledai2k", title="SLEDAI-2K per SLE patient", ylabel="SLEDAI-2K (0–105)")
    return Section(
        "SLE — SLEDAI-2K over time",
        note="SLEDAI-2K (Gladman 2002) at each assessment, by month since CAR-T infusion (month 0 = screening).",
        tables=[TableBlock.from_frame("SLEDAI-2K per patient and month", wide, csv)],
        figures=[FigureBlock("Spider plot: SLEDAI-2K per SLE patient over time", png, csv)],
    )


def build_report(engine: Engine, out_dir: Path, progress: Progress | None = None) -> Path:
    """Write ``out_dir/report.html`` (and its CSV tables) from the stored, scored records."""
    out_dir.mkdir(parents=True, exist_ok=True)
    patients = read_table(engine, "patients")
    synthetic = bool(patients["synthetic"].any()) if not patients.is_empty() else False
    builders = [sledai_section]
    sections = []
    for builder in builders:
        if progress:
            progress(builder.__name__)
        sections.append(builder(engine, out_dir))
    rules = ", ".join(f"{name} v{d.version}" for name, d in registry().items())
    document = Document(
        title="remission — CAR-T cohort report",
        sections=sections,
        synthetic=synthetic,
        database=engine.url.render_as_string(hide_password=True),
        rules=rules,
        version=__version__,
    )
    path = out_dir / "report.html"
    path.write_text(render_html(document), encoding="utf-8")
    return path
