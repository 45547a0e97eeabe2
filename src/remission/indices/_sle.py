"""Shared pieces of the SLE indices (doris, lldas, sri4): SLEDAI-2K items and three-valued logic.

The SLEDAI-2K item table, its measurement derivations and its resolution of a visit's
descriptors live in :mod:`remission.indices.sledai2k`; this module only gives them the public
names the other SLE indices use, so that no index copies them.

Three-valued logic: ``None`` (scalar) and null (polars) mean "unknown". :func:`all3` and
:func:`any3` are the scalar twins of polars' Kleene ``all_horizontal``/``any_horizontal``.

Examples
--------
>>> all3([True, None]), all3([False, None]), any3([None, True]), any3([False, None])
(None, False, True, None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from remission.indices import sledai2k
from remission.indices._base import Column, Context, MissingRule

#: The SLEDAI-2K descriptor codes, weights and input columns (items, measurements, window).
SLEDAI_CODES: tuple[str, ...] = sledai2k.CODES
SLEDAI_WEIGHTS: Mapping[str, int] = sledai2k.WEIGHTS
SLEDAI_COLUMNS: tuple[Column, ...] = sledai2k.COLUMNS
SEROLOGY: tuple[str, ...] = tuple(i.code for i in sledai2k.ITEMS if i.serology)
CLINICAL_CODES: tuple[str, ...] = tuple(i.code for i in sledai2k.ITEMS if not i.serology)
PREFIX = "__p_"


def present_columns(visits: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    """Expressions adding ``__p_<code>``: each descriptor after derivation (and ``missing``)."""
    return sledai2k.present_exprs(visits, ctx)


def present_col(code: str) -> pl.Expr:
    """The scratch column of one resolved descriptor (see :func:`present_columns`)."""
    return pl.col(PREFIX + code)


def resolve_descriptors(values: Mapping[str, Any], missing: MissingRule) -> dict[str, bool | None]:
    """Scalar twin of :func:`present_columns`: each descriptor present (True/False/None)."""
    return {code: present for code, (present, _) in sledai2k.resolve_items(values, missing).items()}


def sledai_bounds(present: Mapping[str, bool | None]) -> tuple[int, int]:
    """The lowest and highest SLEDAI-2K a visit can have: missing items counted 0, then all."""
    low = sum(SLEDAI_WEIGHTS[c] for c, p in present.items() if p)
    high = low + sum(SLEDAI_WEIGHTS[c] for c, p in present.items() if p is None)
    return low, high


def sledai_bound_exprs(suffix: str = "") -> tuple[pl.Expr, pl.Expr]:
    """Vectorised :func:`sledai_bounds` over the ``__p_<code><suffix>`` columns."""
    cols = [(pl.col(PREFIX + c + suffix), SLEDAI_WEIGHTS[c]) for c in SLEDAI_CODES]
    low = pl.sum_horizontal([p.fill_null(False).cast(pl.Int32) * w for p, w in cols])
    high = low + pl.sum_horizontal([p.is_null().cast(pl.Int32) * w for p, w in cols])
    return low, high


def all3(values: Iterable[bool | None]) -> bool | None:
    """Kleene AND: False if any is False, else None if any is None, else True."""
    seen = list(values)
    if any(v is False for v in seen):
        return False
    return None if any(v is None for v in seen) else True


def any3(values: Iterable[bool | None]) -> bool | None:
    """Kleene OR: True if any is True, else None if any is None, else False."""
    seen = list(values)
    if any(v is True for v in seen):
        return True
    return None if any(v is None for v in seen) else False


def not3(value: bool | None) -> bool | None:
    """Kleene NOT."""
    return None if value is None else not value


def flag(value: bool | None) -> int | None:
    """A three-valued boolean as the 0/1 (or None) the contract prints."""
    return None if value is None else int(value)
