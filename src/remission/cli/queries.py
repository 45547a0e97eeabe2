"""Data-quality queries: ``remission check`` raises them, ``remission queries`` lists them."""

from __future__ import annotations

from typing import Annotated

import typer

from remission.cli.main import DbOption, engine_for


def _run(engine) -> None:  # type: ignore[no-untyped-def]
    from remission.pipeline import check_database

    result = check_database(engine)
    typer.echo(
        f"queries: {result.opened} raised, {result.reopened} reopened, {result.kept} still open or answered, "
        f"{result.closed} closed (condition no longer met)"
    )


def check(db: DbOption = None) -> None:
    """Run the data-quality checks over the stored records and store the queries they raise."""
    with engine_for(db) as engine:
        _run(engine)


def queries(
    db: DbOption = None,
    status: Annotated[str | None, typer.Option("--status", help="open, answered or closed.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="One patient's queries.")] = None,
    run: Annotated[bool, typer.Option("--run", help="Run the checks first (as `remission check`).")] = False,
) -> None:
    """List the data-quality queries (tab-separated: id, status, patient, record, rule, message)."""
    from remission.store.queries import list_queries

    with engine_for(db) as engine:
        if run:
            _run(engine)
        rows = list_queries(engine, status=status, patient_id=patient)
    typer.echo("id\tstatus\tpatient_id\trecord\trule\tmessage")
    for row in rows:
        record = f"{row['record_type']}/{row['record_id']}"
        typer.echo(f"{row['id']}\t{row['status']}\t{row['patient_id']}\t{record}\t{row['rule']}\t{row['message']}")
    typer.echo(f"{len(rows)} quer{'y' if len(rows) == 1 else 'ies'}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(check)
    app.command()(queries)
