"""Database commands: ``init``, ``demo``, ``report``, ``rescore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from remission.cli.main import EXIT_INVALID, DbOption


def _engine(db: str | None):  # type: ignore[no-untyped-def]
    from remission.store import connect

    return connect(db)


def init(db: DbOption = None) -> None:
    """Create the database, or migrate it to the current schema."""
    from remission.store import current_revision, migrate

    engine = _engine(db)
    migrate(engine)
    typer.echo(f"database {engine.url.render_as_string(hide_password=True)} at schema {current_revision(engine)}")


def demo(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path("out"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic cohort.")] = 2024,
) -> None:
    """Create a database, load the synthetic demo cohort, score it and write out/report.html."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from remission.demo.cohort import generate_demo_cohort
    from remission.pipeline import score_database
    from remission.report.build import build_report
    from remission.store import migrate, save_cohort

    engine = _engine(db)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("creating database", total=4)
        migrate(engine)
        bar.update(task, advance=1, description="loading the synthetic cohort (15 patients)")
        counts = save_cohort(engine, generate_demo_cohort(seed), actor="demo")
        bar.update(task, advance=1, description="scoring assessments")
        runs = score_database(engine, progress=lambda name: bar.update(task, description=f"scoring {name}"))
        bar.update(task, advance=1, description="writing the report")
        path = build_report(engine, out, progress=lambda name: bar.update(task, description=f"report: {name}"))
        bar.update(task, advance=1, description="done")
    typer.echo(f"records: {counts}")
    typer.echo("scored: " + ", ".join(f"{r.index}={r.scored}" for r in runs))
    typer.echo(f"report: {path}")


def report(
    db: DbOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html and its tables.")] = Path("out"),
) -> None:
    """Write the cohort report (HTML + CSV tables) from a database."""
    from remission.errors import InvalidInputError
    from remission.report.build import build_report
    from remission.store.db import require_schema

    engine = _engine(db)
    try:
        require_schema(engine)
    except InvalidInputError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from err
    typer.echo(f"report: {build_report(engine, out)}")


def rescore(db: DbOption = None) -> None:
    """Score every stored assessment again with every index (after new data or new rules)."""
    from remission.pipeline import score_database

    for run in score_database(_engine(db)):
        typer.echo(f"{run.index}: {run.scored} scored, {len(run.problems)} problem(s)")
        for problem in run.problems[:20]:
            typer.echo(f"  {problem}", err=True)


def register(app: typer.Typer) -> None:
    for command in (init, demo, report, rescore):
        app.command()(command)
