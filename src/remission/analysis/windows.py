"""Visit windows: which assessment counts for month 3, 6, 12, … after CAR-T infusion.

Rule (docs/specs report.md): month ``m`` has the target day ``round(30.4375 × m)``; the assessment
nearest the target within ±14 days (``m ≤ 3``) or ±30 days (``m > 3``) counts for month ``m``.
Decisions (docs/decisions/report.md): the rounding is half away from zero (month 24 → day 731,
month 8 → day 244), as everywhere else in the project; a tie (two assessments equally far from the
target, one before and one after) goes to the *earlier* assessment by default (``tie="earlier"``):
after CAR-T the cohort improves over time, so the later assessment favours response; the earlier
one does not, and the choice does not depend on the value (one visit serves every endpoint of a
table, whichever direction is "worse" for it). ``tie="later"`` stays available as a sensitivity
analysis. Window edges are inclusive (month 6: days 153–213; day 152 is outside, by one day, and
is not pulled in); the windows of different months are independent, so one
assessment may count for two neighbouring months when their windows overlap (they do not for
months 3, 6, 12, 18, 24). Baseline is the latest assessment with ``day <= 0``; "last visit" is the
latest assessment with ``day > 0``.

All functions are pure: they take a long table (``patient_id``, ``day``, any other columns) and
return a new one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

MONTH_DAYS = 30.4375
REPORT_MONTHS = (3, 6, 12, 18, 24)


@dataclass(frozen=True)
class WindowRule:
    """Parameters of the visit windows.

    Attributes
    ----------
    month_days : float
        Days per month (365.25 / 12 = 30.4375).
    early_half_width : int
        Half-width in days of the window of months ``<= early_until`` (±14).
    late_half_width : int
        Half-width in days of the window of later months (±30).
    early_until : int
        Last month that uses the early (narrow) window (3).
    tie : {"earlier", "later"}
        Which of two assessments equally far from the target counts (default earlier: does not
        favour response in an improving cohort, docs/decisions/report.md).
    """

    month_days: float = MONTH_DAYS
    early_half_width: int = 14
    late_half_width: int = 30
    early_until: int = 3
    tie: Literal["later", "earlier"] = "earlier"

    def target_day(self, month: int) -> int:
        """Target day of ``month``: ``month_days × month`` rounded half away from zero.

        >>> WindowRule().target_day(3), WindowRule().target_day(24)
        (91, 731)
        """
        value = self.month_days * month
        return int(math.copysign(math.floor(abs(value) + 0.5), value))

    def half_width(self, month: int) -> int:
        """Half-width of the window of ``month`` in days (inclusive at both ends)."""
        return self.early_half_width if month <= self.early_until else self.late_half_width


DEFAULT_RULE = WindowRule()


def assign_windows(
    visits: pl.DataFrame, months: Sequence[int] = REPORT_MONTHS, rule: WindowRule = DEFAULT_RULE
) -> pl.DataFrame:
    """The assessment that counts for each month, per patient.

    Parameters
    ----------
    visits : polars.DataFrame
        Long table with ``patient_id`` (text) and ``day`` (integer, infusion = 0) and any other
        columns, one row per assessment.
    months : sequence of int
        Months after infusion to window (default 3, 6, 12, 18, 24).
    rule : WindowRule
        Window parameters.

    Returns
    -------
    polars.DataFrame
        ``month``, ``target_day`` and every column of ``visits``; one row per patient and month
        that has an assessment in its window (a month without one has no row), sorted by
        patient and month.

    Examples
    --------
    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A"], "day": [80, 100, 190], "s": [4, 2, 0]})
    >>> assign_windows(v, [3, 6]).select("month", "target_day", "day", "s").rows()
    [(3, 91, 100, 2), (6, 183, 190, 0)]
    """
    columns = visits.columns
    if visits.is_empty() or not months:
        return (
            visits.clear()
            .with_columns(month=pl.lit(None, pl.Int64), target_day=pl.lit(None, pl.Int64))
            .select("month", "target_day", *columns)
        )
    targets = pl.DataFrame(
        {
            "month": list(months),
            "target_day": [rule.target_day(m) for m in months],
            "_half": [rule.half_width(m) for m in months],
        },
        schema={"month": pl.Int64, "target_day": pl.Int64, "_half": pl.Int64},
    )
    later_first = rule.tie == "later"
    return (
        visits.with_row_index("_row")
        .join(targets, how="cross")
        .with_columns(_distance=(pl.col("day").cast(pl.Int64) - pl.col("target_day")).abs())
        .filter(pl.col("_distance") <= pl.col("_half"))
        .sort(["patient_id", "month", "_distance", "day", "_row"], descending=[False, False, False, later_first, False])
        .unique(["patient_id", "month"], keep="first", maintain_order=True)
        .select("month", "target_day", *columns)
    )


def baseline_visits(visits: pl.DataFrame) -> pl.DataFrame:
    """The baseline assessment of each patient: the latest with ``day <= 0`` (or the one whose
    ``baseline`` column is 1 when the table has that column).

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A"], "day": [-30, -2, 5]})
    >>> baseline_visits(v)["day"].to_list()
    [-2]
    """
    if "baseline" in visits.columns:
        marked = visits.filter(pl.col("baseline").cast(pl.Int64, strict=False) == 1)
        if not marked.is_empty():
            return marked.unique("patient_id", keep="last", maintain_order=True).sort("patient_id")
    return (
        visits.filter(pl.col("day") <= 0).sort("patient_id", "day").unique("patient_id", keep="last").sort("patient_id")
    )


def last_visits(visits: pl.DataFrame) -> pl.DataFrame:
    """Each patient's latest assessment after infusion (``day > 0``).

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "B"], "day": [-2, 90, -1]})
    >>> last_visits(v)["day"].to_list()
    [90]
    """
    return (
        visits.filter(pl.col("day") > 0).sort("patient_id", "day").unique("patient_id", keep="last").sort("patient_id")
    )


def derive_timepoints(
    visits: pl.DataFrame, months: Sequence[int] = REPORT_MONTHS, rule: WindowRule = DEFAULT_RULE
) -> pl.DataFrame:
    """Baseline, each windowed month and the last visit stacked, with a ``timepoint`` label.

    Returns ``timepoint`` ("baseline", "month 3", …, "last visit"), ``month`` (0 at baseline,
    empty at the last visit) and every column of ``visits``.

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A"], "day": [-7, 92, 400]})
    >>> derive_timepoints(v, [3])["timepoint"].to_list()
    ['baseline', 'month 3', 'last visit']
    """
    columns = visits.columns
    base = baseline_visits(visits).with_columns(timepoint=pl.lit("baseline"), month=pl.lit(0, pl.Int64))
    windowed = assign_windows(visits, months, rule).with_columns(timepoint=pl.format("month {}", pl.col("month")))
    last = last_visits(visits).with_columns(timepoint=pl.lit("last visit"), month=pl.lit(None, pl.Int64))
    order = ["timepoint", "month", *columns]
    return pl.concat([base.select(order), windowed.select(order), last.select(order)], how="vertical_relaxed")


def timepoint_labels(months: Sequence[int] = REPORT_MONTHS) -> list[str]:
    """Column order of endpoint tables: baseline, each month, last visit.

    >>> timepoint_labels([3, 6])
    ['baseline', 'month 3', 'month 6', 'last visit']
    """
    return ["baseline", *(f"month {m}" for m in months), "last visit"]
