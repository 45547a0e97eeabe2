"""Number rounding and text shared by the scalar and vectorised forms, so that both agree exactly.

polars rounds a float to ``d`` decimals as ``round_half_even(x * 10**d) / 10**d`` on the binary
value; :func:`round_to` does the same in Python (Python's ``round(x, d)`` rounds the decimal
expansion instead and can differ in the last place). Both turn -0.0 into 0.0 so that it prints as 0.
"""

from __future__ import annotations

import polars as pl


def round_to(value: float, decimals: int = 4) -> float:
    """Round like :func:`round_expr` (half to even on ``value * 10**decimals``).

    Examples
    --------
    >>> round_to(15.000049), round_to(-0.00001), round_to(2 / 3 * 100)
    (15.0, 0.0, 66.6667)
    """
    scale = 10.0**decimals
    return round(value * scale) / scale + 0.0


def round_expr(expr: pl.Expr, decimals: int = 4) -> pl.Expr:
    """The vectorised twin of :func:`round_to`."""
    rounded = expr.round(decimals)
    return pl.when(rounded == 0).then(pl.lit(0.0)).otherwise(rounded)


def num_text(value: float) -> str:
    """A float as short text: ``95.0`` → ``'95'``, ``83.3333`` → ``'83.3333'``.

    Examples
    --------
    >>> num_text(95.0), num_text(-0.375), num_text(7)
    ('95', '-0.375', '7')
    """
    text = str(float(value))
    return text[:-2] if text.endswith(".0") else text


def num_text_expr(expr: pl.Expr) -> pl.Expr:
    """The vectorised twin of :func:`num_text`."""
    return expr.cast(pl.Float64).cast(pl.Utf8).str.replace(r"\.0$", "")


def signed_text(value: float) -> str:
    """A float with an explicit sign: ``'+6.48'``, ``'-0.42'``, ``'+0'``.

    Examples
    --------
    >>> signed_text(6.48), signed_text(-0.42), signed_text(0.0)
    ('+6.48', '-0.42', '+0')
    """
    return ("+" if value >= 0 else "") + num_text(value)


def signed_text_expr(expr: pl.Expr) -> pl.Expr:
    """The vectorised twin of :func:`signed_text`."""
    return pl.concat_str([pl.when(expr >= 0).then(pl.lit("+")).otherwise(pl.lit("")), num_text_expr(expr)])
