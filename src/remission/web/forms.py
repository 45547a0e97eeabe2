"""Visit-entry forms generated from an index's column specs (the registry is the only source).

bool → checkbox, category → select, int/float → number input with the spec's min/max, text →
text input. A ticked box is 1; an unticked box follows the CLI's missing rule (``remission score
--missing``): missing ("not assessed", the default, as ``--missing empty``) unless the form says
explicitly that unticked items are absent (0, as ``--missing absent``), so that nothing left
unticked is silently scored as absent and derivations from measurements still apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remission.indices._base import Column, IndexDefinition

_KEYS = ("patient_id", "day")
#: What an unticked box means unless the form says otherwise: not assessed (missing), as the CLI.
UNTICKED_DEFAULT = "missing"


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    code: str
    widget: str  # checkbox, select, number, text
    label: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    choices: tuple[str, ...] = ()
    allowed: str = ""


def field_of(column: Column) -> Field:
    label = column.description or column.code.replace("_", " ")
    if column.kind == "bool":
        return Field(column.code, "checkbox", label, allowed=column.allowed())
    if column.kind == "category":
        return Field(column.code, "select", label, column.unit, choices=column.choices, allowed=column.allowed())
    if column.kind in ("int", "float"):
        low = column.minimum
        return Field(
            column.code,
            "number",
            label,
            column.unit,
            minimum=low,
            maximum=column.maximum,
            step="1" if column.kind == "int" else "any",
            allowed=column.allowed(),
        )
    return Field(column.code, "text", label, column.unit, allowed=column.allowed())


def fields_of(definition: IndexDefinition) -> list[Field]:
    """The form's inputs: every column of the index except the long-layout keys."""
    return [field_of(c) for c in definition.all_columns() if c.code not in _KEYS]


def items_from_form(definition: IndexDefinition, form: Mapping[str, Any]) -> dict[str, Any]:
    """The visit's items (code → text, None = missing) from a submitted form.

    >>> from remission.indices import get_index
    >>> items = items_from_form(get_index("sledai2k"), {"rash": "1", "unticked": "absent", "c3_g_l": ""})
    >>> items["rash"], items["arthritis"], items["c3_g_l"]
    ('1', '0', None)
    >>> items_from_form(get_index("sledai2k"), {"rash": "1"})["arthritis"] is None  # default: not assessed
    True
    """
    unticked = "0" if form.get("unticked", UNTICKED_DEFAULT) == "absent" else None
    items: dict[str, Any] = {}
    for f in fields_of(definition):
        raw = form.get(f.code)
        if f.widget == "checkbox":
            items[f.code] = "1" if raw not in (None, "", "0") else unticked
        else:
            text = "" if raw is None else str(raw).strip()
            items[f.code] = text or None
    return items
