"""``remission redcap tidy``: a REDCap export → one CSV per instrument."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``redcap`` command group to ``app``."""
    group = typer.Typer(
        help="REDCap exports: tidy the block matrix into one table per instrument.",
        no_args_is_help=True,
    )

    @group.command(
        help="Write OUT/<instrument>.csv for every instrument of the dictionary. "
        "Bad cells: exit 2 listing `row N, column C: value V: record R: reason`, nothing written."
    )
    def tidy(
        records: Annotated[Path, typer.Option("--records", help="Records CSV export (raw).")],
        dictionary: Annotated[Path, typer.Option("--dictionary", help="Data dictionary CSV.")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        events: Annotated[Path | None, typer.Option("--events", help="Events CSV (longitudinal projects).")] = None,
    ) -> None:
        from remission.cli.main import fail
        from remission.errors import InvalidInputError
        from remission.io.redcap import tidy_redcap, write_tables

        try:
            result = tidy_redcap(records, dictionary, events)
        except InvalidInputError as err:
            fail(str(err))
            return
        for path in write_tables(result.tables, out):
            typer.echo(f"{path} ({result.tables[path.stem].height} rows)")

    app.add_typer(group, name="redcap")
