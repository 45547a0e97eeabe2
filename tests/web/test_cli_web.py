"""`remission user add` and `remission serve --help` through the typer app."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner
from webhelpers import small_cohort

from remission.cli.main import app
from remission.store import connect, migrate, save_cohort
from remission.web.security import authenticate

runner = CliRunner()


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = connect(url)
    migrate(engine)
    save_cohort(engine, small_cohort())
    return url


def test_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    url = _db(tmp_path)
    result = runner.invoke(
        app,
        ["user", "add", "--username", "ina", "--role", "investigator", "--site", "A", "--db", url],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    user = authenticate(connect(url), "ina", "a-long-password")
    assert user is not None and (user.role, user.site_id) == ("investigator", "A")


def test_user_add_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    url = _db(tmp_path)
    result = runner.invoke(
        app, ["user", "add", "--username", "x", "--role", "boss", "--site", "Z", "--db", url], input="short\n"
    )
    assert result.exit_code == 2
    assert "column role: value boss: expected one of admin, investigator, monitor, statistician" in result.output
    assert "column site: value Z: no such site" in result.output
    assert "column password: value ***: must have at least 8 characters" in result.output


def test_serve_help_names_its_options() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--host", "--port"):
        assert option in result.output
