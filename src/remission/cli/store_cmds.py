"""Database commands: ``init``, ``demo``, ``report``, ``rescore``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from remission.cli.main import EXIT_INVALID, DbOption, engine_for

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from remission.report.build import ReportFiles


def init(db: DbOption = None) -> None:
    """Create the database, or migrate it to the current schema."""
    from remission.store import current_revision, migrate

    with engine_for(db, check_schema=False) as engine:
        migrate(engine)
        typer.echo(f"database {engine.url.render_as_string(hide_password=True)} at schema {current_revision(engine)}")


def demo(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path("out"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic cohort.")] = 2024,
) -> None:
    """Create a database, load the synthetic demo cohort, score it, run the data-quality checks and write
    the report (HTML, PDF, CSV)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from remission.demo.cohort import generate_demo_cohort
    from remission.pipeline import check_database, score_database
    from remission.report.build import build_report_files
    from remission.store import migrate, save_cohort

    with engine_for(db, check_schema=False) as engine:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("creating database", total=4)
            migrate(engine)
            bar.update(task, advance=1, description="loading the synthetic cohort (15 patients)")
            counts = save_cohort(engine, generate_demo_cohort(seed), actor="demo")
            bar.update(task, advance=1, description="scoring assessments")
            runs = score_database(engine, progress=lambda name: bar.update(task, description=f"scoring {name}"))
            bar.update(task, description="data-quality checks")
            checked = check_database(engine)
            bar.update(task, advance=1, description="writing the report")
            files = build_report_files(engine, out, lambda name: bar.update(task, description=f"report: {name}"))
            bar.update(task, advance=1, description="done")
        typer.echo(f"records: {counts}")
        typer.echo("scored: " + ", ".join(f"{r.index}={r.scored}" for r in runs))
        pending = checked.opened + checked.reopened + checked.kept
        typer.echo(f"data-quality queries: {pending} open or answered (`remission queries`)")
        _print_demo_summary(files.tables)
        typer.echo(_written(files, engine))


def _written(files: ReportFiles, engine: Engine | None) -> str:
    """The last line of ``demo``/``report``: every output written (the database too for demo)."""
    parts = [f"report {files.html}"]
    if files.pdf is not None:
        parts.append(f"PDF {files.pdf}")
    elif files.pdf_skipped:
        parts.append(f"no PDF ({files.pdf_skipped})")
    parts.append(f"tables {files.tables}/ ({len(list(files.tables.glob('*.csv')))} CSV)")
    figures = files.html.parent / "figures"
    if figures.is_dir():
        parts.append(f"figures {figures}/ ({len(list(figures.glob('*.png')))} PNG)")
    if engine is not None:
        parts.append(f"database {engine.url.render_as_string(hide_password=True)}")
    return "written: " + "; ".join(parts)


#: What `remission demo` prints: (title, table file, value column or None for the table as is).
DEMO_SUMMARY: tuple[tuple[str, str, str | None], ...] = (
    ("SLE — SLEDAI-2K per patient (DORIS remission in the report)", "efficacy_sle_by_patient", "sledai2k"),
    ("Myositis — ACR/EULAR TIS response per patient", "efficacy_iim_by_patient", "tis_response"),
    ("SSc — mRSS change from baseline per patient", "efficacy_ssc_by_patient", "mrss_change"),
    ("SSc — EUSTAR-AI change from baseline per patient", "efficacy_ssc_by_patient", "eustar_ai_change"),
    ("Safety — CRS and ICANS, maximum grade per patient", "safety_crs_icans", None),
    ("Safety — other endpoints", "safety_other", None),
)


def _print_demo_summary(tables: Path) -> None:
    """Print the headline tables of the report (patients × time points) to the terminal."""
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for title, name, value in DEMO_SUMMARY:
        path = tables / f"{name}.csv"
        if not path.exists():
            continue
        frame = pl.read_csv(path, infer_schema=False)
        if value is not None:
            if value not in frame.columns:
                continue
            order = list(dict.fromkeys(frame["timepoint"].to_list()))
            frame = frame.pivot(on="timepoint", index="patient_id", values=value, aggregate_function="first")
            frame = frame.select("patient_id", *[t for t in order if t in frame.columns])
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            table.add_column(column, justify="left" if column == frame.columns[0] else "right")
        for row in frame.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)


def report(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html and its tables.")] = Path("out"),
) -> None:
    """Write the cohort report (report.html, report.pdf, CSV tables, figure PNGs) from a database."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from remission.report.build import STEPS, build_report_files

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with engine_for(db) as engine, Progress(*columns, transient=False) as bar:
        task = bar.add_task("report", total=len(STEPS))
        started: list[str] = []

        def step(name: str) -> None:
            if started:
                bar.advance(task)
            started.append(name)
            bar.update(task, description=name)

        files = build_report_files(engine, out, step)
        bar.update(task, completed=len(STEPS), description="report written")
    typer.echo(_written(files, None))


def rescore(
    db: DbOption = None,
    index: Annotated[list[str] | None, typer.Option("--index", help="Only this index (repeatable).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only assessments dated on or after YYYY-MM-DD.")] = None,
    patients: Annotated[
        str | None, typer.Option("--patients", help="Only these patients (comma-separated ids).")
    ] = None,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            help="Address of a dask.distributed scheduler (tcp://HOST:PORT): its workers read their patients "
            "straight from the database and score them; the scores are written here in one transaction.",
        ),
    ] = None,
    patients_per_task: Annotated[
        int, typer.Option("--patients-per-task", min=1, help="Patients per Dask task (with --dask-scheduler).")
    ] = 500,
) -> None:
    """Score stored assessments again with every index (after new data or new rules); writes and
    audits only the scores that are new or changed."""
    from datetime import date

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from remission.indices import registry
    from remission.pipeline import rescore_database

    unknown = [name for name in index or [] if name not in registry()]
    if unknown:
        typer.echo(f"unknown index: {', '.join(unknown)} (known: {', '.join(registry())})", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError as err:
        typer.echo(f"--since: value {since}: not a date YYYY-MM-DD", err=True)
        raise typer.Exit(EXIT_INVALID) from err
    chosen = [p.strip() for p in patients.split(",") if p.strip()] if patients else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with engine_for(db) as engine, Progress(*columns, transient=False) as bar:
        task = bar.add_task("rescore", total=None)

        def step(name: str, done: int, total: int) -> None:
            bar.update(task, description=name, completed=done, total=total)

        runs = rescore_database(
            engine,
            index,
            since=day,
            patients=chosen,
            progress=step,
            scheduler=dask_scheduler,
            patients_per_task=patients_per_task,
        )
    for run in runs:
        if not run.scored and not run.problems:
            continue
        typer.echo(
            f"{run.index}: {run.scored} scored ({run.inserted} new, {run.updated} changed, "
            f"{run.unchanged} unchanged), {len(run.problems)} problem(s)"
        )
        for problem in run.problems[:20]:
            typer.echo(f"  {problem}", err=True)


def register(app: typer.Typer) -> None:
    for command in (init, demo, report, rescore):
        app.command()(command)
