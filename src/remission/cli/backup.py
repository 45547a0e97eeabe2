"""``remission backup`` and ``remission restore``: a consistent snapshot, restorable anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from remission.cli.main import DbOption


def backup(
    out: Annotated[Path, typer.Option("--out", help="Backup file to write.")],
    db: DbOption = None,
) -> None:
    """Write a consistent snapshot of the database (SQLite: a SQLite file; PostgreSQL: a JSON-lines dump)."""
    from remission.cli.main import engine_for
    from remission.store.backup import backup as run_backup

    with engine_for(db, check_schema=False) as engine:
        info = run_backup(engine, out)
    typer.echo(f"backup: {info.path} ({info.kind}, schema {info.revision}, {sum(info.rows.values())} rows)")


def restore(
    source: Annotated[Path, typer.Option("--from", help="Backup file written by `remission backup`.")],
    db: DbOption = None,
) -> None:
    """Load a backup into an EMPTY database (either backend); all or nothing."""
    from remission.cli.main import engine_for
    from remission.store.backup import restore as run_restore

    with engine_for(db, check_schema=False) as engine:
        info = run_restore(engine, source)
    typer.echo(f"restored: {info.path} ({info.kind}, schema {info.revision}, {sum(info.rows.values())} rows)")


def register(app: typer.Typer) -> None:
    for command in (backup, restore):
        app.command()(command)
