"""The one exception type of remission's public boundary.

Every invalid input, whatever the layer that finds it, is reported as an :class:`InvalidInputError`
holding one :class:`Problem` per bad cell, worded as the CLI contract says::

    row N, column C: value V: reason
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is (1-based data row, column), what it was and why it is bad."""

    row: int | None
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}column {self.column}: value {self.value}: {self.reason}"


class InvalidInputError(ValueError):
    """Input that remission refuses, with every problem found (not only the first).

    Examples
    --------
    >>> err = InvalidInputError([Problem(3, "pga", "4", "must be between 0 and 3")])
    >>> print(err)
    row 3, column pga: value 4: must be between 0 and 3
    """

    def __init__(self, problems: list[Problem] | str, *, record: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(None, record or "input", "", problems)]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
