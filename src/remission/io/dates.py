"""Partial ISO 8601 dates imputed the ADaM way (pharmaverse admiral ``derive_vars_dt``).

A collected date (``--STDTC``, ``--ENDTC``) may be known to the year or the month only. The analysis
date is imputed to the first or the last day of the known period, and its flag (``--DTF``) says
what was imputed: ``D`` the day, ``M`` the month and the day. A missing year is not imputed
(``Y`` would be; admiral imputes at most what ``highest_imputation`` allows — "n", nothing, by
default — and this registry uses "M"): the date stays empty.

Which end of the period is used is a choice per derivation, made to be conservative for the
endpoint it feeds (docs/decisions/imputation.md):

* adverse-event onset: the first day, but not before the infusion when the known period contains
  it (admiral's ``min_dates``), so a partially dated AE of the infusion month is treatment-emergent;
* adverse-event end and medication end: the last day (a drug is taken, an AE lasts, as long as the
  data allow);
* medication start: the first day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Side = Literal["first", "last"]

#: How a data-entry form writes a part of a date that is not known (CDASH ``UN``/``UNK``, ``UK``, ``NK``, ``XX``).
UNKNOWN_PARTS = ("UNK", "UN", "UK", "NK", "XX")
_PART = r"\d{2}|" + "|".join(UNKNOWN_PARTS)
_ENTERED = re.compile(
    rf"^(?P<y>\d{{4}})(?:-(?P<m>{_PART})(?:-(?P<d>{_PART}))?)?(?:[ T](?P<t>\d{{2}}(?::\d{{2}}){{0,2}}))?$",
    re.IGNORECASE,
)
_ISO = re.compile(r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<t>\d{2}(?::\d{2}){0,2}))?)?)?$")


@dataclass(frozen=True)
class Imputed:
    """An analysis date with its imputation flag and the collected time of day ("hh:mm")."""

    date: dt.date | None
    flag: Literal["D", "M"] | None
    time: str | None = None


def impute_date(
    text: str | None, side: Side, *, not_before: dt.date | None = None, not_after: dt.date | None = None
) -> Imputed:
    """The analysis date of an ISO 8601 text (``YYYY[-MM[-DD[Thh[:mm[:ss]]]]]``).

    ``not_before``/``not_after`` bound the imputed date where they fall inside the known period
    (admiral ``min_dates``/``max_dates``); a complete date is never changed. Text that is not an
    ISO 8601 date raises ``ValueError``.

    >>> impute_date("2014-07", "first")
    Imputed(date=datetime.date(2014, 7, 1), flag='D', time=None)
    >>> impute_date("2014", "last")
    Imputed(date=datetime.date(2014, 12, 31), flag='M', time=None)
    >>> impute_date("2014-07", "first", not_before=dt.date(2014, 7, 10)).date
    datetime.date(2014, 7, 10)
    >>> impute_date("2014-07-03T10:30", "first")
    Imputed(date=datetime.date(2014, 7, 3), flag=None, time='10:30')
    """
    if text is None or not text.strip():
        return Imputed(None, None)
    match = _ISO.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 date (YYYY[-MM[-DD[Thh:mm[:ss]]]])")
    year, month, day, clock = match["y"], match["m"], match["d"], match["t"]
    time = clock[:5] if clock and len(clock) >= 5 else None
    if day is not None:
        return Imputed(_valid(text, int(year), int(month), int(day)), None, time)
    low = _valid(text, int(year), int(month) if month else 1, 1)
    high_month = int(month) if month else 12
    high = dt.date(int(year), high_month, calendar.monthrange(int(year), high_month)[1])
    flag: Literal["D", "M"] = "D" if month else "M"
    chosen = low if side == "first" else high
    if not_before is not None and low <= not_before <= high:
        chosen = max(chosen, not_before)
    if not_after is not None and low <= not_after <= high:
        chosen = min(chosen, not_after)
    return Imputed(chosen, flag, None)


def iso_8601(text: str) -> str:
    """The ISO 8601 form (SDTM ``--DTC``) of a date as a form collects it: unknown parts cut off.

    A REDCap text field (or any data-entry form) holds a partial date as ``2021-03``, ``2021``, or
    with the unknown parts written out (``2021-03-UN``, ``2021-UNK-UNK``); a datetime may use a
    space for the ``T``. ISO 8601 writes a partial date by leaving the unknown parts off, which is
    what :func:`impute_date` reads. Anything else is returned as it is (``impute_date`` then says
    why it is not a date); so is a known day in an unknown month (``2021-UN-05``).

    >>> [iso_8601(t) for t in ("2021-03-UN", "2021-unk-unk", "2021-03", "2021-03-05 08:30", "2021-UN-05")]
    ['2021-03', '2021', '2021-03', '2021-03-05T08:30', '2021-UN-05']
    """
    stripped = text.strip()
    match = _ENTERED.match(stripped)
    if match is None:
        return stripped
    year, month, day, clock = match["y"], match["m"], match["d"], match["t"]
    unknown_month = month is not None and not month.isdigit()
    unknown_day = day is not None and not day.isdigit()
    if unknown_month and day is not None and not unknown_day:
        return stripped
    if unknown_month:
        return year
    if unknown_day or day is None:
        return year if month is None else f"{year}-{month}"
    return f"{year}-{month}-{day}" + (f"T{clock}" if clock else "")


def _valid(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a calendar date") from None
