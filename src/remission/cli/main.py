"""The ``remission`` command line: a thin shell over the Python API.

Heavy libraries (polars, SQLAlchemy, matplotlib) are imported inside the commands, so that
``remission --help`` starts instantly. Other layers add their commands in their own modules
(``remission/cli/<topic>.py``), each exposing ``register(app)``; they are found by scanning this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    name="remission",
    help="CAR-T cell therapy in autoimmune disease: registry, indices, endpoints, kinetics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $REMISSION_DB_URL or sqlite:///remission.db)."),
]

EXIT_INVALID = 2


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code`` (2 = invalid input, the contract's code)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextmanager
def engine_for(db: str | None, *, check_schema: bool = True) -> Iterator[Engine]:
    """The registry of one command: connected, its schema checked (``check_schema``), disposed at
    the end; an :class:`~remission.errors.InvalidInputError` raised inside the block is printed and
    exits 2, so every command reports bad input the same way."""
    from remission.errors import InvalidInputError
    from remission.store import connect
    from remission.store.db import require_schema

    engine = connect(db)
    try:
        if check_schema:
            require_schema(engine)
        yield engine
    except InvalidInputError as err:
        fail(str(err))
    finally:
        engine.dispose()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Score a table with an index: remission score INDEX --input IN.csv --output OUT.csv. "
    "Index options follow as --name VALUE (or --flag for yes/no options); remission indices INDEX lists "
    "the index's input columns and options. A column the index needs that is absent from the header is an "
    "error (exit 2); columns it does not read are listed as a warning. A summary of the rows scored, "
    "incomplete and invalid goes to stderr.",
)
def score(
    ctx: typer.Context,
    index: Annotated[str, typer.Argument(help="Index name, e.g. sledai2k.")],
    input: Annotated[Path, typer.Option("--input", help="Input CSV or Parquet.")],
    output: Annotated[Path, typer.Option("--output", help="Output CSV (or .parquet).")],
    missing: Annotated[str, typer.Option("--missing", help="'empty' (default) or 'absent'.")] = "empty",
    on_error: Annotated[str, typer.Option("--on-error", help="'raise' (default: exit 2) or 'skip'.")] = "raise",
    explain: Annotated[bool, typer.Option("--explain/--no-explain", help="Write *_explain columns.")] = True,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="'memory' (default) or 'dask': score a Parquet dataset (--input 'DIR/*.parquet') out of core "
            "into a folder of Parquet parts (--output OUTDIR).",
        ),
    ] = "memory",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster of 2 worker processes)."),
    ] = None,
    allow_missing_columns: Annotated[
        bool,
        typer.Option(
            "--allow-missing-columns",
            help="Score an input column that is absent from the header as missing in every row, instead of "
            "refusing the table.",
        ),
    ] = False,
) -> None:
    from remission.api import score_table
    from remission.errors import InvalidInputError, Problem
    from remission.indices import get_index

    try:
        options = _parse_extra_options(get_index(index), ctx.args)
        if on_error not in ("raise", "skip"):
            raise InvalidInputError([Problem(None, "--on-error", on_error, "expected 'raise' or 'skip'")])
        if engine not in ("memory", "dask"):
            raise InvalidInputError([Problem(None, "--engine", engine, "expected 'memory' or 'dask'")])
        if engine == "dask":
            if not allow_missing_columns:
                _check_dataset_header(index, str(input))
            _score_with_dask(index, str(input), output, scheduler, missing, on_error, explain, options)
            return
        outcome = score_table(
            index, input, missing=missing, explain=explain, allow_missing_columns=allow_missing_columns, **options
        )
    except InvalidInputError as err:  # MissingColumnsError included: one contract line per column
        fail(str(err))
        return
    if outcome.problems and on_error == "raise":
        fail("\n".join(str(p) for p in outcome.problems))
    if outcome.header.unknown:  # after the exit-2 check: stderr on exit 2 is problem lines only
        typer.echo("warning: " + outcome.header.unknown_text().replace("\n", "\nwarning: "), err=True)
    _write(outcome.scored, output)
    errors = output.with_name(output.stem + ".errors.csv")
    if outcome.problems:
        outcome.rejected.write_csv(errors)
    typer.echo(_summary(index, outcome, output, errors if outcome.problems else None), err=True)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _summary(index: str, outcome: Any, output: Path, errors: Path | None) -> str:
    """``sledai2k: 12 rows scored (3 incomplete: an input missing) → out.csv; 1 invalid row skipped → …``."""
    from remission.indices import get_index

    scored = outcome.scored
    definition = get_index(index)
    marker = next((c for c in definition.outputs if c.endswith("_missing")), definition.outputs[0])
    column = scored[marker]
    incomplete = (column.fill_null("") != "").sum() if marker.endswith("_missing") else column.null_count()
    unit = "patient" if definition.layout == "per_patient" else "row"
    text = f"{index}: {_count(scored.height, unit)} scored ({incomplete} incomplete: an input missing) → {output}"
    if errors is not None:
        text += f"; {_count(len(outcome.rejected), 'invalid row')} skipped → {errors}"
    return text


def _check_dataset_header(index: str, pattern: str) -> None:
    """The header contract for a Parquet dataset: the first file's schema (all must agree)."""
    import polars as pl

    from remission.errors import MissingColumnsError
    from remission.indices import get_index
    from remission.indices._base import check_header
    from remission.scale.dask_engine import expand_pattern

    paths = expand_pattern(pattern)
    if not paths:
        return
    header = check_header(list(pl.read_parquet_schema(paths[0])), get_index(index))
    if header.absent:
        raise MissingColumnsError(list(header.absent))
    if header.unknown:
        typer.echo("warning: " + header.unknown_text().replace("\n", "\nwarning: "), err=True)


def _score_with_dask(
    index: str,
    pattern: str,
    output: Path,
    scheduler: str | None,
    missing: str,
    on_error: str,
    explain: bool,
    options: dict[str, Any],
) -> None:
    from remission.scale import score_dataset

    done = score_dataset(
        index, pattern, output, scheduler, missing=missing, on_error=on_error, explain=explain, **options
    )
    if done.errors is not None:
        typer.echo(f"{done.rejected} invalid row(s) skipped: {done.errors}", err=True)


def _parse_extra_options(definition: object, args: list[str]) -> dict[str, object]:
    from remission.errors import InvalidInputError, Problem
    from remission.indices._base import IndexDefinition

    assert isinstance(definition, IndexDefinition)
    by_flag = {o.flag: o for o in definition.options}
    options: dict[str, object] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        flag, _, inline = arg.partition("=")
        option = by_flag.get(flag)
        if option is None:
            known = ", ".join(by_flag) or "none"
            raise InvalidInputError([Problem(None, "option", arg, f"unknown for {definition.name} (options: {known})")])
        if option.kind == "bool" and not inline:
            options[option.name] = True
        elif inline:
            options[option.name] = inline
        elif rest:
            options[option.name] = rest.pop(0)
        else:
            raise InvalidInputError([Problem(None, "option", arg, "needs a value")])
    return options


def _write(frame: object, output: Path) -> None:
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    if output.suffix.lower() in (".parquet", ".pq"):
        frame.write_parquet(tmp)
    else:
        frame.write_csv(tmp)
    tmp.replace(output)


@app.command(
    help="List the indices, or show one in full: remission indices sledai2k lists its input columns "
    "(type, allowed values, meaning, whether the header needs them), its options and outputs."
)
def indices(
    name: Annotated[str | None, typer.Argument(help="An index name, e.g. sledai2k (default: list them all).")] = None,
) -> None:
    from rich.console import Console

    from remission.cli._indices_view import index_detail, index_list
    from remission.errors import InvalidInputError
    from remission.indices import get_index, registry

    if name is None:
        Console().print(index_list(registry()))
        return
    try:
        definition = get_index(name)
    except InvalidInputError as err:
        fail(str(err))
        return
    Console().print(index_detail(definition))


@app.command(help="Print the version (also: remission --version).")
def version() -> None:
    from remission import __version__

    typer.echo(__version__)


def _print_version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """CAR-T cell therapy in autoimmune disease: registry, indices, endpoints, kinetics."""


def _register_commands() -> None:
    """Add the commands of every module of this package that defines ``register(app)``."""
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if info.name in ("main", "__init__") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"remission.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(app)
    from remission.cli._help import clean_help

    clean_help(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="remission")


if __name__ == "__main__":  # pragma: no cover
    main()
