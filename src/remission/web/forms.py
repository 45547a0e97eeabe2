"""Visit-entry forms generated from an index's column specs (the registry is the only source).

bool → checkbox, category → select, int/float → number input with the spec's min/max, text →
text input. A ticked box is 1; an unticked box is 0 when the form says "unticked items are
absent" (the default, as on a paper CRF) and missing otherwise, so that derivations from
measurements still apply and nothing missing is silently scored as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remission.indices._base import Column, IndexDefinition

_KEYS = ("patient_id", "day")


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
    >>> items_from_form(get_index("sledai2k"), {"unticked": "missing"})["arthritis"] is None
    True
    """
    unticked = "0" if form.get("unticked", "absent") == "absent" else None
    items: dict[str, Any] = {}
    for f in fields_of(definition):
        raw = form.get(f.code)
        if f.widget == "checkbox":
            items[f.code] = "1" if raw not in (None, "", "0") else unticked
        else:
            text = "" if raw is None else str(raw).strip()
            items[f.code] = text or None
    return items
