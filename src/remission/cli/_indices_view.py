"""What ``remission indices [NAME]`` prints: rich tables that wrap at the terminal's width."""

from __future__ import annotations

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text

from remission.indices._base import Column, IndexDefinition


def _table(*headers: str, codes: int = 1) -> Table:
    """A table whose first ``codes`` columns hold codes (never broken), the rest wrapped text."""
    table = Table(show_lines=False, expand=False)
    for i, header in enumerate(headers):
        if i < codes:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    return table


def index_list(definitions: dict[str, IndexDefinition]) -> Group:
    """One row per index: name and layout, outputs and options (one per line), title."""
    table = _table("index", "outputs, options", "title", codes=2)
    table.columns[2].min_width = 24
    for name, d in definitions.items():
        produced = "\n".join((*d.outputs, *(o.flag for o in d.options)))
        table.add_row(f"{name}\n({d.layout})", produced, d.title)
    hint = Text("remission indices NAME shows one index in full: each input with its type, range and meaning.")
    return Group(table, hint)


def _header_rule(column: Column) -> str:
    """Whether a header must have the column (../shared/specs/README.md, "Header")."""
    if column.required:
        return "required, with a value in every row"
    if column.optional:
        return "optional"
    if column.unless:
        return "needed unless the header has any of " + ", ".join(column.unless)
    return "needed"


def _range(column: Column) -> str:
    """The type and allowed values, e.g. ``int: a whole number ≥ 0 and ≤ 10 points``."""
    if column.kind == "category":
        return "category, one of:\n" + "\n".join(column.choices)
    allowed = column.allowed()
    if column.kind in ("int", "float"):
        scale = re.fullmatch(r"[\d.]+–[\d.]+", column.unit)  # a unit such as "0–3" repeats the range
        return allowed if scale else f"{allowed} {column.unit}".strip()
    return f"{column.kind}: {allowed}" if column.kind == "bool" else allowed


def index_detail(definition: IndexDefinition) -> Group:
    """One index in full: its source, inputs (type, range, meaning, header rule), options, outputs."""
    about = Text.assemble(
        (f"{definition.name}", "bold"),
        f" — {definition.title}\nsource: {definition.source}",
        f" (doi:{definition.doi})" if definition.doi else "",
        f"\nlayout: {definition.layout}; rules version {definition.version}\nmissing: {definition.missing_rule}",
    )
    inputs = _table("input column", "type and allowed values", "meaning; whether the header needs it")
    longest = max((len(c) for col in definition.all_columns() for c in col.choices), default=0)
    inputs.columns[1].min_width = min(max(longest, 14), 24)
    for column in definition.all_columns():
        meaning = Text(column.description or column.code)
        meaning.append("\n" + _header_rule(column), style="dim")
        inputs.add_row(column.code, _range(column), meaning)
    options = _table("option", "type", "default", "meaning")
    for option in definition.options:
        kind = "one of " + ", ".join(option.choices) if option.choices else option.kind
        options.add_row(option.flag, kind, str(option.default), option.help)
    outputs = Text("outputs: " + ", ".join(definition.outputs) + " (every input column is kept)")
    shown: Table | Text = options if definition.options else Text("options: none")
    return Group(about, inputs, shown, outputs)
