"""Endpoint summaries as a trial paper prints them.

- Binary endpoints: ``n/N (%)`` — ``N`` counts patients with a known value at the time point (an
  empty value is missing, not "no"), ``n`` those with value 1; the percentage is rounded half away
  from zero to a whole number.
- Continuous endpoints: median (IQR; range). Quartiles use linear interpolation between order
  statistics (Hyndman–Fan type 7, NumPy's and R's default): for sorted ``x_1..x_n`` the ``p``
  quantile is ``x_k + f (x_{k+1} − x_k)`` with ``h = (n − 1) p``, ``k = floor(h) + 1``,
  ``f = h − floor(h)``.
- Change from baseline: value minus the patient's baseline value (latest ``day <= 0``) and the
  percentage change ``100 × change / baseline`` (empty when the baseline is 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from remission.analysis.windows import MONTH_DAYS, baseline_visits


def round_half_away(value: float, digits: int = 0) -> float:
    """Round half away from zero (``2.5 → 3``, ``-2.5 → -3``), unlike Python's ``round``.

    >>> round_half_away(2.5), round_half_away(0.125, 2)
    (3.0, 0.13)
    """
    scale = 10**digits
    return math.copysign(math.floor(abs(value) * scale + 0.5 + 1e-9), value) / scale


def format_number(value: float | None, digits: int = 1) -> str:
    """A number with at most ``digits`` decimals and no trailing zeros (empty → "—").

    >>> format_number(4.0), format_number(4.25), format_number(None)
    ('4', '4.3', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{round_half_away(float(value), digits):.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class BinarySummary:
    """``n`` of ``total`` patients with the endpoint."""

    n: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.n / self.total

    def text(self) -> str:
        """``n/N (p %)``; "0/0" when no patient has a known value.

        >>> BinarySummary(5, 8).text(), BinarySummary(0, 0).text()
        ('5/8 (63%)', '0/0')
        """
        if self.total == 0:
            return "0/0"
        return f"{self.n}/{self.total} ({format_number(self.percent, 0)}%)"


@dataclass(frozen=True)
class ContinuousSummary:
    """Median, quartiles and range of the known values."""

    n: int
    median: float | None
    q1: float | None
    q3: float | None
    minimum: float | None
    maximum: float | None

    def text(self, digits: int = 1) -> str:
        """``median (IQR q1 to q3; range min to max)``, or "—" when there is no value.

        >>> summarise_continuous([1, 2, 3, 4]).text()
        '2.5 (IQR 1.8 to 3.3; range 1 to 4)'
        """
        if self.n == 0:
            return "—"
        f = lambda v: format_number(v, digits)  # noqa: E731
        return f"{f(self.median)} (IQR {f(self.q1)} to {f(self.q3)}; range {f(self.minimum)} to {f(self.maximum)})"

    def text_range(self, digits: int = 1) -> str:
        """``median (range min–max)``, as a baseline table prints age.

        >>> summarise_continuous([20, 35, 60]).text_range()
        '35 (20–60)'
        """
        if self.n == 0:
            return "—"
        f = lambda v: format_number(v, digits)  # noqa: E731
        return f"{f(self.median)} ({f(self.minimum)}–{f(self.maximum)})"


def summarise_binary(values: Iterable[object]) -> BinarySummary:
    """Count 1s among known values (``None``/NaN are missing; 1/true/"1" count as yes).

    >>> summarise_binary([1, 0, None, 1]).text()
    '2/3 (67%)'
    """
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    yes = sum(1 for v in known if v is True or v == 1 or (isinstance(v, str) and v.strip().lower() in ("1", "true")))
    return BinarySummary(yes, len(known))


def _quantile(ordered: Sequence[float], p: float) -> float:
    h = (len(ordered) - 1) * p
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def summarise_continuous(values: Iterable[float | int | None]) -> ContinuousSummary:
    """Median, quartiles (type 7) and range of the known values.

    >>> s = summarise_continuous([7, 1, None, 3, 5])
    >>> s.median, s.q1, s.q3, s.minimum, s.maximum
    (4.0, 2.5, 5.5, 1.0, 7.0)
    """
    known = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not known:
        return ContinuousSummary(0, None, None, None, None, None)
    return ContinuousSummary(
        len(known), _quantile(known, 0.5), _quantile(known, 0.25), _quantile(known, 0.75), known[0], known[-1]
    )


def derive_change_from_baseline(visits: pl.DataFrame, value: str) -> pl.DataFrame:
    """Add ``<value>_baseline``, ``<value>_change`` and ``<value>_pct_change`` per patient.

    Baseline is the latest assessment with ``day <= 0`` (see :func:`baseline_visits`); rows of a
    patient without a baseline value get empty changes.

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A"], "day": [-7, 90, 180], "mrss": [20, 15, 10]})
    >>> derive_change_from_baseline(v, "mrss").select("mrss_change", "mrss_pct_change").rows()
    [(0.0, 0.0), (-5.0, -25.0), (-10.0, -50.0)]
    """
    base = baseline_visits(visits.filter(pl.col(value).is_not_null())).select(
        "patient_id", pl.col(value).cast(pl.Float64).alias(f"{value}_baseline")
    )
    current = pl.col(value).cast(pl.Float64)
    baseline = pl.col(f"{value}_baseline")
    return (
        visits.join(base, on="patient_id", how="left")
        .with_columns((current - baseline).alias(f"{value}_change"))
        .with_columns(
            pl.when(baseline != 0)
            .then(100.0 * pl.col(f"{value}_change") / baseline)
            .otherwise(None)
            .alias(f"{value}_pct_change")
        )
    )


@dataclass(frozen=True)
class Endpoint:
    """One row of an endpoint table.

    Attributes
    ----------
    label : str
        Row label, e.g. "DORIS remission".
    column : str
        Column of the time-point table holding the value.
    kind : {"binary", "continuous", "level"}
        binary: 0/1 → n/N (%); continuous: median (IQR; range); level: category == ``level`` → n/N (%).
    level : str
        The category counted when ``kind == "level"``.
    unavailable : str
        When not empty the row prints "not available: <unavailable>" (e.g. an index not computed).
    digits : int
        Decimals of continuous summaries.
    """

    label: str
    column: str
    kind: Literal["binary", "continuous", "level"] = "binary"
    level: str = ""
    unavailable: str = ""
    digits: int = 1


def summarise_endpoint(values: pl.Series, endpoint: Endpoint) -> str:
    """The cell text of one endpoint at one time point.

    >>> summarise_endpoint(pl.Series(["major", "none", None]), Endpoint("TIS major", "tis", "level", "major"))
    '1/2 (50%)'
    """
    if endpoint.kind == "continuous":
        return summarise_continuous(values.cast(pl.Float64, strict=False).to_list()).text(endpoint.digits)
    if endpoint.kind == "level":
        known = values.drop_nulls()
        return BinarySummary(int((known.cast(pl.String) == endpoint.level).sum()), known.len()).text()
    return summarise_binary(values.to_list()).text()


def endpoint_table(timepoints: pl.DataFrame, endpoints: Sequence[Endpoint], labels: Sequence[str]) -> pl.DataFrame:
    """Endpoints (rows) by time point (columns) as text cells.

    Parameters
    ----------
    timepoints : polars.DataFrame
        Output of :func:`remission.analysis.windows.derive_timepoints` (``timepoint`` column plus
        one column per endpoint); one row per patient and time point.
    endpoints : sequence of Endpoint
        The rows.
    labels : sequence of str
        The time points, in column order.

    Examples
    --------
    >>> tp = pl.DataFrame({"timepoint": ["month 3", "month 3", "month 6"], "r": [1, 0, 1]})
    >>> endpoint_table(tp, [Endpoint("remission", "r")], ["month 3", "month 6"]).rows()
    [('remission', '1/2 (50%)', '1/1 (100%)')]
    """
    rows = []
    for endpoint in endpoints:
        row = {"endpoint": endpoint.label}
        for label in labels:
            if endpoint.unavailable:
                row[label] = f"not available: {endpoint.unavailable}"
            elif endpoint.column not in timepoints.columns:
                row[label] = "—"
            else:
                row[label] = summarise_endpoint(
                    timepoints.filter(pl.col("timepoint") == label)[endpoint.column], endpoint
                )
        rows.append(row)
    return pl.DataFrame(rows, schema={"endpoint": pl.String, **{label: pl.String for label in labels}})


def follow_up_days(*tables: pl.DataFrame, day_columns: Sequence[str] = ("day",)) -> pl.DataFrame:
    """Each patient's follow-up: the latest day on which any record was made (``>= 0``).

    Every table needs ``patient_id`` and at least one of ``day_columns``.

    >>> a = pl.DataFrame({"patient_id": ["A", "B"], "day": [90, 30]})
    >>> b = pl.DataFrame({"patient_id": ["A"], "day": [120]})
    >>> follow_up_days(a, b).rows()
    [('A', 120), ('B', 30)]
    """
    parts = []
    for table in tables:
        for column in day_columns:
            if not table.is_empty() and column in table.columns:
                parts.append(table.select("patient_id", pl.col(column).cast(pl.Int64).alias("day")))
    if not parts:
        return pl.DataFrame(schema={"patient_id": pl.String, "follow_up_days": pl.Int64})
    return (
        pl.concat(parts)
        .drop_nulls("day")
        .group_by("patient_id")
        .agg(pl.col("day").max().clip(lower_bound=0).alias("follow_up_days"))
        .sort("patient_id")
    )


def summarise_follow_up(days: Iterable[int | float | None]) -> str:
    """Follow-up in months: ``median (range a–b; IQR c–d)``.

    >>> summarise_follow_up([121.75, 365.25, 730.5])
    '12 months (range 4–24; IQR 8–18)'
    """
    months = summarise_continuous([d / MONTH_DAYS for d in days if d is not None])
    if months.n == 0:
        return "—"
    f = format_number
    return (
        f"{f(months.median)} months (range {f(months.minimum)}–{f(months.maximum)}; IQR {f(months.q1)}–{f(months.q3)})"
    )
