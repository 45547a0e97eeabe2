"""Help texts written for the terminal: docstrings lose their reST markup and hard line breaks.

Commands take their help from their docstrings, which are wrapped at the source's line length
and use reST literals (````--db````). A terminal wraps text itself, so a line break inside a
sentence shows as a ragged break; :func:`terminal_help` joins the lines of each paragraph (list
items and indented lines stay lines of their own) and turns ````code```` into ```code```.
"""

from __future__ import annotations

import inspect
import re

import typer

_LITERAL = re.compile(r"``([^`]+)``")
_OWN_LINE = re.compile(r"^(\s+|[-*•] |\d+[.)] |[A-Z][A-Za-z ]+:$)")


def terminal_help(text: str) -> str:
    """``text`` with paragraphs on one line each and reST double backticks made single.

    >>> print(terminal_help("Start the app.\\n\\nWith ``--workers N`` uvicorn starts N\\nprocesses.\\n- one\\n- two"))
    Start the app.
    <BLANKLINE>
    With `--workers N` uvicorn starts N processes.
    - one
    - two
    """
    paragraphs = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and not _OWN_LINE.match(line):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return _LITERAL.sub(r"`\1`", "\n\n".join(paragraphs))


def clean_help(app: typer.Typer) -> None:
    """Rewrite with :func:`terminal_help` the help of every command and group of ``app``."""
    if app.info.help and isinstance(app.info.help, str):
        app.info.help = terminal_help(app.info.help)
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback)
        if text:
            command.help = terminal_help(text)
    for group in app.registered_groups:
        if group.help and isinstance(group.help, str):
            group.help = terminal_help(group.help)
        if group.typer_instance is not None:
            clean_help(group.typer_instance)
