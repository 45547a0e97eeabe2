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
        return f"{where}column {_one_line(self.column)}: value {_one_line(self.value)}: {_one_line(self.reason)}"


def _one_line(text: object) -> str:
    """``text`` with line breaks and other unprintable characters escaped (``\\n``, ``\\x00``).

    A problem is one line on stderr or in a log, whatever the cell held: a value with a newline
    must not be read as two problems (or forge a log line).

    >>> print(_one_line("a\\nb\\x00"))
    a\\nb\\x00
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


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


class StaleVersionError(InvalidInputError):
    """A write based on a version of a record that another writer has changed since (optimistic
    concurrency): reload the record and apply the change again. The web layer answers HTTP 409.

    Examples
    --------
    >>> err = StaleVersionError("P1", expected=3, current=4)
    >>> print(err)
    column version: value 3: stale; current version is 4
    >>> isinstance(err, InvalidInputError), err.current
    (True, 4)
    """

    def __init__(self, patient_id: str, *, expected: int, current: int) -> None:
        #: What a person reads: the patient, both versions, what to do.
        self.message = (
            f"patient {patient_id} changed since version {expected} (now {current}); "
            "reload it and apply the change again"
        )
        self.patient_id = patient_id
        self.expected = expected
        self.current = current
        reason = f"stale; current version is {current}"
        super().__init__([Problem(None, "version", str(expected), reason)])


class VersionRequiredError(InvalidInputError):
    """A change of a patient's records that does not name the version it was based on, where one
    is required (updates and deletes). The web layer answers HTTP 428.

    >>> print(VersionRequiredError("P1"))
    column version: value : missing; read patient P1 first and send its version
    """

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        reason = f"missing; read patient {patient_id} first and send its version"
        super().__init__([Problem(None, "version", "", reason)])


@dataclass(frozen=True)
class AbsentColumn:
    """An input column an index needs that the table's header does not have, with the header's
    names that look closest to it (by :func:`difflib.get_close_matches`, case-insensitive)."""

    code: str
    index: str
    closest: tuple[str, ...] = ()

    def __str__(self) -> str:
        hint = " — did you mean " + " or ".join(f"`{c}`" for c in self.closest) + "?" if self.closest else ""
        return f"no column `{self.code}` in the header (an input of {self.index}){hint}"


class MissingColumnsError(InvalidInputError):
    """Input columns an index needs are absent from the header (not merely empty): the table
    would otherwise be scored as if every one of their cells were missing. The CLI exits 2;
    ``allow_missing_columns=True`` (CLI ``--allow-missing-columns``) scores them as missing.

    Examples
    --------
    One problem per column, in the contract's wording (the value is empty: there is no cell):

    >>> err = MissingColumnsError([AbsentColumn("pga", "doris", ("PGA",))])
    >>> print(err)
    column pga: value : no column `pga` in the header (an input of doris) — did you mean `PGA`?
    >>> isinstance(err, InvalidInputError), err.absent[0].closest
    (True, ('PGA',))
    """

    def __init__(self, absent: list[AbsentColumn]) -> None:
        self.absent: list[AbsentColumn] = list(absent)
        super().__init__([Problem(None, a.code, "", str(a)) for a in self.absent])


class UnknownColumnsWarning(UserWarning):
    """Columns of a scored table that no input of the index reads (kept in the output as they
    are): often a misspelled column code, e.g. ``seizures`` for ``seizure``."""
