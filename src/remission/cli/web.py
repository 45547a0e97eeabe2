"""Web commands: ``remission serve`` (the web application) and ``remission user add``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from remission.cli.main import EXIT_INVALID, DbOption

user_app = typer.Typer(help="Manage users of the web application.", no_args_is_help=True)


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (uvicorn workers) sharing the port.")
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level (info, warning, error).")] = "info",
    with_worker: Annotated[
        bool,
        typer.Option("--with-worker", help="Also start one `remission worker` (runs imports, rescores, reports)."),
    ] = False,
) -> None:
    """Start the web application and REST API (uvicorn); API docs at /docs, schema at /openapi.json.

    With ``--workers N`` uvicorn starts N processes that each build the app from
    ``$REMISSION_DB_URL`` (set here from ``--db``) and share the port; the token key comes from
    ``$REMISSION_SECRET_KEY`` or the key file, which all of them read. Imports, rescoring and
    report builds started from the web run as jobs in ``remission worker`` processes;
    ``--with-worker`` starts one beside the server and stops it with the server (the demo)."""
    import os

    import uvicorn

    from remission.errors import InvalidInputError
    from remission.web import create_app

    try:
        app = create_app(db)
    except InvalidInputError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from err
    from remission.cli.jobs import start_worker_process, stop_worker_process

    job_worker = start_worker_process(db) if with_worker else None
    try:
        if workers == 1:
            uvicorn.run(app, host=host, port=port, log_level=log_level)
            return
        if db:
            os.environ["REMISSION_DB_URL"] = db
        uvicorn.run(
            "remission.web.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level
        )
    finally:
        if job_worker is not None:
            stop_worker_process(job_worker)


@user_app.command("add")
def add(
    username: Annotated[str, typer.Option("--username", help="Login name (letters, digits, . _ -).")],
    role: Annotated[str, typer.Option("--role", help="admin, investigator, monitor or statistician.")],
    site: Annotated[str | None, typer.Option("--site", help="Site of an investigator.")] = None,
    db: DbOption = None,
) -> None:
    """Create a user; the password is read from standard input (first line), never from the command line."""
    from remission.errors import InvalidInputError
    from remission.store import connect
    from remission.store.db import require_schema
    from remission.web.security import add_user

    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    engine = connect(db)
    try:
        require_schema(engine)
        add_user(engine, username, password, role, site)
    except InvalidInputError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from err
    typer.echo(f"user {username} ({role}{', site ' + site if site else ''}) created")


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(user_app, name="user")
