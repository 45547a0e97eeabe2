"""``remission import redcap|sdtm|fhir|registry`` and ``remission export``.

Imports are one transaction each (all or nothing), idempotent, and strict by default: any
problem exits 2 listing ``file, row/resource, field: value: reason`` with nothing written.
``--on-error skip`` writes the rest and lists what was skipped (exit 0).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from remission.cli.main import DbOption

if TYPE_CHECKING:
    from remission.io.importing import ImportBatch, ImportReport

OnErrorOption = Annotated[
    str, typer.Option("--on-error", help="'raise' (default: exit 2, nothing written) or 'skip' (write the rest).")
]
CreateOption = Annotated[
    bool,
    typer.Option(
        "--create",
        help="Create and migrate the database first when it does not exist (as remission init does); "
        "without it, a missing database is an error and no file is left behind.",
    ),
]


def _open_database(db: str | None, create: bool):  # type: ignore[no-untyped-def]
    """The engine of ``db``; a SQLite file that does not exist is created (and migrated) only
    with ``create``: otherwise an error before any connection, so no empty file is left behind."""
    from remission.errors import InvalidInputError, Problem
    from remission.store import connect, migrate
    from remission.store.db import resolve_url

    url = resolve_url(db)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") and url != "sqlite:///:memory:" else None
    if path is not None and not Path(path).exists() and not create:
        reason = "no database there: run `remission init` first, or add --create"
        raise InvalidInputError([Problem(None, "db", url, reason)])
    engine = connect(db)
    if create:
        migrate(engine)
    return engine


def _run_import(db: str | None, on_error: str, build: Callable[[], ImportBatch], create: bool = False) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from remission.cli.main import fail
    from remission.errors import InvalidInputError
    from remission.io.importing import write_batch

    if on_error not in ("raise", "skip"):
        fail(f"--on-error: value {on_error}: expected 'raise' or 'skip'")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    try:
        engine = _open_database(db, create)
        with Progress(*columns, transient=True, console=_stderr()) as bar:
            task = bar.add_task("reading the source files", total=None)
            batch = build()
            bar.update(task, description="importing", total=11, completed=0)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, description=step, completed=done, total=total)

            report = write_batch(engine, batch, on_error="skip" if on_error == "skip" else "raise", progress=progress)
    except InvalidInputError as err:
        fail(str(err))
        return
    _print_report(report)


def _stderr():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=True)


def _print_report(report: ImportReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("table", "inserted", "updated", "unchanged", "merged", title=f"import {report.source}")
    for name, c in report.counts.items():
        if sum(c.values()):
            table.add_row(name, str(c["inserted"]), str(c["updated"]), str(c["unchanged"]), str(c["merged"]))
    Console(width=120).print(table)
    _print_reconciliation(report.reconciliation(), report.source)
    for (name, reason), n in sorted(report.excluded_reasons().items()):
        typer.echo(f"excluded {n} {name} row(s): {reason}")
    for name, reason in sorted(report.not_imported.items()):
        typer.echo(f"not imported: {name}: {reason}")
    from remission.store.schema import NATURAL_KEYS

    for name, kept, collapsed in report.merges:
        key = "+".join(NATURAL_KEYS.get(name, ("key",)))
        typer.echo(f"merged {name}: {collapsed} into {kept} (the same {key})")
    if report.skipped:
        typer.echo(f"{len(report.skipped)} problem(s), records skipped:", err=True)
        for problem in report.skipped:
            typer.echo(f"  {problem}", err=True)


def _print_reconciliation(rows: list[dict[str, Any]], source: str) -> None:
    """Rows read = stored + excluded + rejected, per source file (nothing lost: docs/decisions/imputation.md)."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        typer.echo(f"row reconciliation: not available for {source} imports yet (records counted per table above)")
        return
    table = Table(
        "source",
        "read",
        "stored",
        "excluded",
        "rejected",
        "unaccounted",
        title="rows read = stored + excluded + rejected",
    )
    for row in rows:
        cells = [str(row[k]) for k in ("read", "stored", "excluded", "rejected", "unaccounted")]
        table.add_row(row["file"], *cells)
    Console(width=120).print(table)
    lost = sum(row["unaccounted"] for row in rows)
    if lost:
        typer.echo(f"warning: {lost} source row(s) unaccounted for: please report this as a defect", err=True)


def imports(
    db: DbOption = None,
    last: Annotated[int | None, typer.Option("--last", help="Only the newest N imports.")] = None,
) -> None:
    """List past imports with their row reconciliation (from the audit log)."""
    from remission.cli.main import engine_for
    from remission.store.repository import import_events

    with engine_for(db) as engine:
        events = import_events(engine, limit=last)
    if not events:
        typer.echo("no import recorded")
    for event in events:
        detail = event["detail"] or {}
        counts = detail.get("counts", {})
        stored = sum(c.get("inserted", 0) + c.get("updated", 0) + c.get("unchanged", 0) for c in counts.values())
        typer.echo(
            f"#{event['id']} {event['at']} {event['entity']} by {event['actor']}: {stored} records stored, "
            f"{detail.get('excluded', 0)} rows excluded, {detail.get('skipped', 0)} problems"
        )
        if "reconciliation" in detail:
            _print_reconciliation(detail["reconciliation"], event["entity"])


def register(app: typer.Typer) -> None:
    """Add the ``import`` command group and the ``export`` command to ``app``."""
    group = typer.Typer(
        help="Import trial data into the registry (one transaction, idempotent, audited).",
        no_args_is_help=True,
    )

    @group.command(help="A REDCap records export + data dictionary (+ events), through a YAML mapping.")
    def redcap(
        records: Annotated[Path, typer.Option("--records", help="Records CSV export (raw).")],
        dictionary: Annotated[Path, typer.Option("--dictionary", help="Data dictionary CSV.")],
        mapping: Annotated[Path, typer.Option("--mapping", help="YAML mapping to registry records.")],
        events: Annotated[Path | None, typer.Option("--events", help="Events CSV (longitudinal projects).")] = None,
        db: DbOption = None,
        on_error: OnErrorOption = "raise",
        create: CreateOption = False,
    ) -> None:
        from remission.io.sources import batch_from_redcap

        def build() -> ImportBatch:
            return batch_from_redcap(records, dictionary, mapping, events, on_error=on_error)

        _run_import(db, on_error, build, create)

    @group.command(help="An SDTM folder (.xpt v5/v8 or .csv): DM, EX, CM, AE, LB, VS, QS (+ SUPP--).")
    def sdtm(
        dir: Annotated[Path, typer.Option("--dir", help="Folder of SDTM datasets.")],
        db: DbOption = None,
        disease: Annotated[
            str, typer.Option("--disease", help="Indication of the study: SLE, IIM, SSc or other.")
        ] = "other",
        on_error: OnErrorOption = "raise",
        create: CreateOption = False,
    ) -> None:
        from remission.io.sources import batch_from_sdtm

        _run_import(db, on_error, lambda: batch_from_sdtm(dir, disease=disease), create)

    @group.command(help="A FHIR R4 JSON resource/Bundle or a folder of them.")
    def fhir(
        path: Annotated[Path, typer.Option("--path", help="JSON file or folder of *.json.")],
        db: DbOption = None,
        on_error: OnErrorOption = "raise",
        create: CreateOption = False,
    ) -> None:
        from remission.io.sources import batch_from_fhir

        _run_import(db, on_error, lambda: batch_from_fhir(path), create)

    @group.command(help="A `remission export` folder (CSV or Parquet tables): the round trip.")
    def registry(
        dir: Annotated[Path, typer.Option("--dir", help="Folder written by `remission export`.")],
        db: DbOption = None,
        on_error: OnErrorOption = "raise",
        create: CreateOption = False,
    ) -> None:
        from remission.io.sources import batch_from_registry

        _run_import(db, on_error, lambda: batch_from_registry(dir), create)

    app.add_typer(group, name="import")
    app.command(name="imports")(imports)

    @app.command(
        name="export",
        help="Write the registry tables, ADaM-style ADSL/ADEFF/ADAE and define.csv to a folder "
        "(--format nonmem: the kinetics observation table).",
    )
    def export(
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        db: DbOption = None,
        format: Annotated[
            str,
            typer.Option(
                "--format",
                help="csv (default), parquet, xpt (SAS XPORT v5) or nonmem (only observations.csv: the "
                "CAR-T and CD19 observation table of population kinetics).",
            ),
        ] = "csv",
        lloq: Annotated[
            str | None,
            typer.Option("--lloq", help="With --format nonmem: LLOQ per analyte, e.g. car_t=0.1,cd19=1 (the default)."),
        ] = None,
    ) -> None:
        from rich.progress import BarColumn, Progress, TextColumn
        from sqlalchemy import inspect

        from remission.analysis.estimands import estimand_table
        from remission.cli.main import engine_for, fail
        from remission.errors import InvalidInputError
        from remission.io.export import export_registry
        from remission.kinetics.observations import parse_analyte_values
        from remission.store import read_table

        try:
            limits = parse_analyte_values(lloq, "lloq") if lloq is not None else None
        except InvalidInputError as err:
            fail(str(err))
        with engine_for(db, check_schema=False) as engine:  # export_registry checks the schema itself
            estimands = None
            if format != "nonmem" and inspect(engine).has_table("patients"):
                diseases = sorted(set(read_table(engine, "patients")["disease"].to_list()))
                estimands = estimand_table(diseases)
            with Progress(TextColumn("{task.description}"), BarColumn(), transient=True, console=_stderr()) as bar:
                task = bar.add_task("exporting", total=None)
                paths = export_registry(
                    engine,
                    out,
                    format,  # type: ignore[arg-type]
                    progress=lambda step, done, total: bar.update(task, description=step, completed=done, total=total),
                    lloq=limits,
                    estimands=estimands,
                )
        for path in paths:
            typer.echo(str(path))
