"""Clinical indices: one module per index, pure functions, no I/O.

Each module defines ``INDEX`` (or ``INDEXES``, a tuple, when one spec defines several indices, as
icans.md defines ``ice`` and ``icans``): an :class:`~remission.indices._base.IndexDefinition`
built from that module's single table of items, weights and thresholds. The registry below finds
them by scanning this package, so adding an index is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from remission.errors import InvalidInputError, Problem
from remission.indices._base import IndexDefinition

__all__ = ["IndexDefinition", "get_index", "registry"]


@cache
def registry() -> dict[str, IndexDefinition]:
    """Every index of this package by its public name (e.g. ``sledai2k``, ``myositis-tis``)."""
    found: dict[str, IndexDefinition] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        definitions = getattr(module, "INDEXES", None) or ((module.INDEX,) if hasattr(module, "INDEX") else ())
        for definition in definitions:
            found[definition.name] = definition
    return dict(sorted(found.items()))


def get_index(name: str) -> IndexDefinition:
    """The index called ``name``, or an InvalidInputError that lists the known ones."""
    known = registry()
    if not isinstance(name, str) or name not in known:
        raise InvalidInputError([Problem(None, "index", str(name), "unknown index; known: " + ", ".join(known))])
    return known[name]
