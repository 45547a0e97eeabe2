"""`engine_for`: the one connect / check / fail / dispose of every database command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from remission.cli.main import app, engine_for
from remission.errors import InvalidInputError, Problem


@pytest.mark.parametrize("command", [["rescore"], ["report", "--out", "x"], ["queries"], ["check"], ["imports"]])
def test_a_command_on_an_uninitialised_database_exits_2_saying_so(tmp_path: Path, command: list[str]) -> None:
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(app, [*command, "--db", db])
    assert result.exit_code == 2, result.output
    assert "database not initialised: run `remission init`" in result.output


def test_bad_input_inside_the_block_exits_2_and_the_engine_is_disposed(tmp_path: Path) -> None:
    seen = []
    with pytest.raises(typer.Exit) as exit_info, engine_for(f"sqlite:///{tmp_path / 'r.db'}", check_schema=False) as e:
        seen.append(e)
        raise InvalidInputError([Problem(3, "dose", "-1", "must be positive")])
    assert exit_info.value.exit_code == 2
    assert seen[0].pool.checkedout() == 0
