"""Plain-words diagnosis of a CSV file that a CSV parser refused (issue 22).

polars reports a row with an extra field as ``found more fields than defined in 'Schema'`` with
a hint about one of its own options and no line number. :func:`describe_csv_error` reads the file
again with Python's :mod:`csv` module, finds the first record whose number of fields differs
from the header's and says which line it is and what is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

#: Lines read at most when looking for the bad record (a larger file keeps the generic message).
MAX_LINES = 5_000_000


def ragged_record(path: Path) -> str | None:
    """The first record with more or fewer fields than the header, described; None if none.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "in.csv"
    >>> _ = p.write_text("a,b\\n1,2\\n3,4,5\\n")
    >>> print(ragged_record(p).replace(": ", ":\\n"))
    line 3 (data row 2) has 3 fields but the header has 2:
    an extra comma, or a value with a comma that is not in double quotes
    """
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return None
        for number, record in enumerate(reader, start=1):
            if reader.line_num > MAX_LINES:
                return None
            if not record or len(record) == len(header):
                continue
            fields = f"has {len(record)} fields but the header has {len(header)}"
            where = f"line {reader.line_num} (data row {number}) {fields}"
            if len(record) > len(header):
                return f"{where}: an extra comma, or a value with a comma that is not in double quotes"
            return f"{where}: a missing comma, or a line break inside a value that is not in double quotes"
    return None


def describe_csv_error(path: Path, exc: BaseException) -> str:
    """What is wrong with the CSV file ``path`` that raised ``exc``, in plain words on one line."""
    try:
        ragged = ragged_record(path)
    except (OSError, csv.Error) as err:
        return f"not a readable CSV file ({err})"
    if ragged is not None:
        return ragged
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    if "empty" in first.lower() or "no data" in first.lower():
        return "the file is empty (no header line)"
    return f"not a readable CSV file ({first})"
