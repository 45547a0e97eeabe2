"""The drug table: names, synonyms, ATC codes, classes and prednisone equivalents, kept as data.

The shipped table is ``drugs_v1.csv`` next to this module (version :data:`TABLE_VERSION`); a
user table with the same columns extends it (:func:`load_drug_table`). Columns:

* ``name`` — generic name (lower case), ``synonyms`` — other names and brands, ``|``-separated;
* ``atc`` — WHO ATC code where known (empty otherwise);
* ``class`` — one of :data:`CLASSES`;
* ``prednisone_equivalent_mg`` — for glucocorticoids, the dose in mg equivalent to 5 mg
  prednisone (medications.md); ``prednisone_mg_day = dose × 5 / equivalent``.

Examples
--------
>>> drug_class("Plaquenil")
'antimalarial'
>>> default_table().lookup("Medrol").prednisone_equivalent_mg
4.0
>>> try:
...     drug_class("plaquenill")
... except InvalidInputError as err:
...     print(err)
column drug: value plaquenill: unknown drug; did you mean plaquenil? (or extend the drug table)
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from remission.errors import InvalidInputError, Problem

TABLE_VERSION = "1"
TABLE_FILE = "drugs_v1.csv"
CLASSES: tuple[str, ...] = (
    "glucocorticoid",
    "antimalarial",
    "immunosuppressant",
    "immunomodulator",
    "biologic",
    "antifibrotic",
    "other",
)
HEADER: tuple[str, ...] = ("name", "synonyms", "atc", "class", "prednisone_equivalent_mg")
#: Prednisone mg that one "equivalent" dose corresponds to (medications.md).
PREDNISONE_REFERENCE_MG = 5.0


@dataclass(frozen=True)
class Drug:
    """One row of the drug table."""

    name: str
    synonyms: tuple[str, ...]
    atc: str | None
    drug_class: str
    prednisone_equivalent_mg: float | None

    @property
    def aliases(self) -> tuple[str, ...]:
        """The name and every synonym, lower case."""
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class DrugTable:
    """A versioned, immutable drug table with case-insensitive lookup by name or synonym."""

    version: str
    drugs: tuple[Drug, ...]

    def _index(self) -> dict[str, Drug]:
        return {alias: drug for drug in self.drugs for alias in drug.aliases}

    def lookup(self, name: str) -> Drug:
        """The drug called ``name`` (any case, surrounding spaces ignored).

        Raises
        ------
        InvalidInputError
            Unknown name; the message suggests the closest known names (difflib).
        """
        key = " ".join(str(name).split()).lower()
        index = self._index()
        if key in index:
            return index[key]
        raise InvalidInputError([Problem(None, "drug", str(name), self.unknown_reason(key))])

    def unknown_reason(self, key: str) -> str:
        """The error wording for an unknown drug, with the closest known names."""
        close = difflib.get_close_matches(key, list(self._index()), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "no similar name known"
        return f"unknown drug; {hint} (or extend the drug table)"

    def drug_class(self, name: str) -> str:
        """The class of drug ``name`` (one of :data:`CLASSES`)."""
        return self.lookup(name).drug_class

    def aliases(self) -> dict[str, Drug]:
        """Every lower-case name and synonym → its drug."""
        return self._index()

    def extended(self, drugs: Iterable[Drug], version: str) -> DrugTable:
        """A new table with ``drugs`` added; a name already known is an error."""
        added = tuple(drugs)
        known = self._index()
        clash = [a for d in added for a in d.aliases if a in known]
        if clash:
            raise InvalidInputError([Problem(None, "drug", a, "already in the drug table") for a in clash])
        return DrugTable(version, self.drugs + added)


def _parse_rows(text: str, source: str) -> tuple[Drug, ...]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in HEADER if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInputError([Problem(None, c, "", f"column missing from drug table {source}") for c in missing])
    drugs: list[Drug] = []
    problems: list[Problem] = []
    for row_number, row in enumerate(reader, start=1):
        name = " ".join((row["name"] or "").split()).lower()
        cls = (row["class"] or "").strip().lower()
        equivalent = (row["prednisone_equivalent_mg"] or "").strip()
        if not name:
            problems.append(Problem(row_number, "name", "", "a drug name is required"))
        if cls not in CLASSES:
            problems.append(Problem(row_number, "class", cls, "expected one of " + ", ".join(CLASSES)))
        try:
            value = float(equivalent) if equivalent else None
        except ValueError:
            value = None
            problems.append(Problem(row_number, "prednisone_equivalent_mg", equivalent, "not a number"))
        if value is not None and (value <= 0 or cls != "glucocorticoid"):
            problems.append(
                Problem(
                    row_number,
                    "prednisone_equivalent_mg",
                    equivalent,
                    "only for glucocorticoids, > 0",
                )
            )
        synonyms = tuple(" ".join(s.split()).lower() for s in (row["synonyms"] or "").split("|") if s.strip())
        drugs.append(Drug(name, synonyms, (row["atc"] or "").strip().upper() or None, cls, value))
    if problems:
        raise InvalidInputError(problems)
    return tuple(drugs)


@cache
def default_table() -> DrugTable:
    """The drug table shipped with remission (``drugs_v1.csv``)."""
    text = resources.files("remission.medications").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return DrugTable(TABLE_VERSION, _parse_rows(text, TABLE_FILE))


def load_drug_table(extra: str | Path | None = None, *, version: str | None = None) -> DrugTable:
    """The shipped drug table, extended by the rows of a user CSV with the same columns.

    Parameters
    ----------
    extra : path or None
        A CSV with columns ``name, synonyms, atc, class, prednisone_equivalent_mg``.
    version : str or None
        The version recorded for the extended table (default ``"1+<file name>"``).

    Examples
    --------
    >>> load_drug_table().version
    '1'
    """
    table = default_table()
    if extra is None:
        return table
    path = Path(extra)
    if not path.exists():
        raise InvalidInputError([Problem(None, "drug table", str(path), "no such file")])
    added = _parse_rows(path.read_text(encoding="utf-8"), path.name)
    return table.extended(added, version or f"{table.version}+{path.name}")


def drug_class(name: str, table: DrugTable | None = None) -> str:
    """The class of a drug given by name or synonym, case-insensitive.

    Parameters
    ----------
    name : str
        Generic name, synonym or brand, e.g. ``"MMF"``, ``"Plaquenil"``.
    table : DrugTable or None
        Default: the shipped table.

    Returns
    -------
    str
        One of :data:`CLASSES`.

    Examples
    --------
    >>> drug_class("IVIG"), drug_class("  Rituximab ")
    ('immunomodulator', 'biologic')
    """
    return (table or default_table()).drug_class(name)
