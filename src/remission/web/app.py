"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from remission import __version__
from remission.store import connect
from remission.store.db import require_schema
from remission.web.errors import install_error_handlers
from remission.web.hardening import HardeningMiddleware, LoginThrottle
from remission.web.security import TokenSigner, resolve_secret

STATIC = Path(__file__).with_name("static")


def create_app(engine: Engine | str | None = None, *, secret_key: str | bytes | None = None) -> FastAPI:
    """The web application over ``engine`` (an Engine or a database URL; default as ``--db``).

    The database must be initialised (``remission init``). The token signing key is
    ``secret_key``, else ``$REMISSION_SECRET_KEY``, else a key file created next to the SQLite
    database (see :func:`remission.web.security.resolve_secret`)."""
    from remission.web import api, jobs, pages, queries
    from remission.web.imports import ImportJobs

    eng = engine if isinstance(engine, Engine) else connect(engine)
    require_schema(eng)
    app = FastAPI(
        title="remission",
        version=__version__,
        description="CAR-T registry: patients, visits scored on entry, cohort endpoints. "
        'Every error answers {"error": {"code", "message", "problems": [{row, column, value, reason}]}}.',
    )
    app.state.engine = eng
    app.state.import_jobs = ImportJobs(eng.url.render_as_string(hide_password=False))  # the job queue
    app.state.signer = TokenSigner(resolve_secret(eng.url.render_as_string(hide_password=False), secret_key))
    app.state.login_throttle = LoginThrottle.from_env()
    install_error_handlers(app)
    app.add_middleware(HardeningMiddleware)  # security headers, body size limit (remission.web.hardening)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(queries.router)
    app.include_router(jobs.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
