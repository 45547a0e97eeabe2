"""The CLI's own texts (issue 22, item 4): `remission indices [NAME]` wrapped for an 80-column
terminal with nothing cut, `--version`, help texts free of reST markup and mid-sentence breaks."""

from __future__ import annotations

import itertools
import re

import pytest
from typer.testing import CliRunner

from remission import __version__
from remission.cli._help import terminal_help
from remission.cli.main import app
from remission.indices import registry

runner = CliRunner(env={"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"})


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_version_option_and_command_print_the_package_version() -> None:
    assert invoke("--version") == (0, f"{__version__}\n")
    assert invoke("version") == (0, f"{__version__}\n")


def test_indices_list_fits_80_columns_and_names_every_output_whole() -> None:
    code, output = invoke("indices")
    assert code == 0
    assert max(len(line) for line in output.splitlines()) <= 80
    words = set(re.findall(r"[\w-]+", output))
    for definition in registry().values():
        assert definition.name in words
        assert set(definition.outputs) <= words, definition.name  # no output name cut or folded


@pytest.mark.parametrize("name", sorted(registry()))
def test_indices_name_shows_every_input_with_its_range_and_the_header_rule(name: str) -> None:
    code, output = invoke("indices", name)
    assert code == 0, output
    assert max(len(line) for line in output.splitlines()) <= 80
    words = set(re.findall(r"[\w-]+", output))
    definition = registry()[name]
    assert {c.code for c in definition.all_columns()} <= words
    assert {o.flag for o in definition.options} <= words
    assert "needed" in output


def test_indices_doris_states_pga_range_meaning_and_that_the_header_needs_it() -> None:
    _, output = invoke("indices", "doris")
    row = next(line for line in output.splitlines() if line.startswith("│ pga "))
    assert "a number ≥ 0 and ≤ 3" in row
    assert "physician global" in row  # meaning, wrapped over lines
    assert "--allow-antimalarial" in output


def test_indices_unknown_name_exits_2_listing_the_known_ones() -> None:
    code, output = invoke("indices", "sledai")
    assert code == 2
    assert "unknown index; known: bilag2004" in output


def _help_of_every_command() -> list[tuple[str, ...]]:
    commands = [(c.name or c.callback.__name__.replace("_", "-"),) for c in app.registered_commands]
    groups = [(g.name,) for g in app.registered_groups if g.name]
    subcommands = [
        (g.name, c.name or c.callback.__name__.replace("_", "-"))
        for g in app.registered_groups
        if g.name and g.typer_instance
        for c in g.typer_instance.registered_commands
    ]
    return [(), *commands, *groups, *subcommands]


@pytest.mark.parametrize("command", _help_of_every_command(), ids=lambda c: " ".join(c) or "remission")
def test_help_has_no_rest_markup_and_no_break_inside_a_sentence(command: tuple[str, ...]) -> None:
    code, output = invoke(*command, "--help")
    assert code == 0, output
    assert "``" not in output
    description = output.split("╭")[0]  # the text above the option panels
    lines = [line.strip() for line in description.splitlines() if line.strip()][1:]
    for line, following in itertools.pairwise(lines):
        # a line that stops short of the width although the next continues its sentence
        if following[:1].islower() and len(line) < 60:
            pytest.fail(f"hard line break in {' '.join(command)} --help: {line!r} / {following!r}")


def test_terminal_help_joins_paragraph_lines_and_keeps_list_items() -> None:
    text = "Import a file.\n\nWith ``--on-error skip`` the rest\nis written.\n- a\n- b"
    assert terminal_help(text) == "Import a file.\n\nWith `--on-error skip` the rest is written.\n- a\n- b"
