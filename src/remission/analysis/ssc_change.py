"""Change from baseline in systemic sclerosis: EUSTAR-AI and mRSS per patient, visit and cohort.

Pure polars functions (no I/O) over a long table — one row per assessment with ``patient_id``,
``day`` (days from CAR-T infusion), optionally ``baseline`` (0/1) and the scores (``eustar_ai``,
``mrss``, as computed by the indices of the same names). Baseline follows the spec README: the
row marked ``baseline`` = 1, else the latest assessment with ``day <= 0``.

* :func:`derive_change_from_baseline` — absolute and percent change of each score.
* :func:`derive_mrss_improvement` — clinically meaningful mRSS improvement (≥ 5 points and
  ≥ 25 %; Khanna D, et al. Ann Rheum Dis 2006;65:1325–9).
* :func:`assign_visit_months` — the assessment that stands for month *m*: the nearest to the
  target day round(30.4375·m) within ±14 days (m ≤ 3) or ±30 days (m > 3).
* :func:`summarise_change_by_month` — median (IQR) of change per disease cohort and month.

Decisions (ties, rounding, percent with baseline 0) are in docs/decisions/myositis-ssc.md.

Examples
--------
>>> import polars as pl
>>> visits = pl.DataFrame({"patient_id": ["a", "a", "a"], "day": [-5, 92, 181],
...                        "mrss": [24, 17, 10]})
>>> out = derive_mrss_improvement(derive_change_from_baseline(visits, ["mrss"]))
>>> out.select("mrss_change", "mrss_pct_change", "mrss_improved").rows()
[(0.0, 0.0, None), (-7.0, -29.1667, 1), (-14.0, -58.3333, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from remission.analysis.windows import DEFAULT_RULE, WindowRule, assign_windows
from remission.errors import InvalidInputError, Problem
from remission.indices._base import ROW, with_baseline
from remission.indices._numbers import num_text_expr, round_expr

DEFAULT_MEASURES: tuple[str, ...] = ("eustar_ai", "mrss")
#: Scheduled months of a typical CAR-T trial follow-up.
DEFAULT_MONTHS: tuple[int, ...] = (1, 2, 3, 6, 9, 12, 18, 24)
PERCENT_DECIMALS = 4


#: The report's visit windows (analysis/windows.py), under the name this module has always used.
VisitWindows = WindowRule


def _checked(visits: pl.DataFrame, measures: Sequence[str]) -> pl.DataFrame:
    needed = ["patient_id", "day", *measures]
    absent = [c for c in needed if c not in visits.columns]
    if absent:
        raise InvalidInputError([Problem(None, c, "", "required column is missing from the table") for c in absent])
    problems: list[Problem] = []
    casts = {}
    for code in ("day", *measures):
        cast = visits[code].cast(pl.Float64, strict=False)
        bad = (cast.is_null() & visits[code].is_not_null()) | ~cast.is_finite().fill_null(True)
        problems += [
            Problem(i + 1, code, str(visits[code][i]), "not a finite number") for i in bad.arg_true().to_list()
        ]
        casts[code] = cast
    if problems:
        raise InvalidInputError(problems)
    baseline = (
        visits["baseline"].cast(pl.Utf8).str.to_lowercase().is_in(["1", "1.0", "true", "yes"])
        if "baseline" in visits.columns
        else pl.Series([None] * visits.height, dtype=pl.Boolean)
    )
    return visits.with_columns(
        pl.Series(ROW, range(visits.height), dtype=pl.Int64),
        pl.Series("__baseline", baseline),
        casts["day"].alias("__day"),
        *[casts[m].alias(f"__{m}") for m in measures],
    )


def derive_change_from_baseline(visits: pl.DataFrame, measures: Sequence[str] = DEFAULT_MEASURES) -> pl.DataFrame:
    """Add ``<m>_baseline``, ``<m>_change`` and ``<m>_pct_change`` for each measure.

    Parameters
    ----------
    visits : polars.DataFrame
        Long table: ``patient_id``, ``day`` (integer days from infusion), optional ``baseline``
        (0/1) and the numeric measure columns.
    measures : sequence of str
        The score columns (default ``eustar_ai`` and ``mrss``).

    Returns
    -------
    polars.DataFrame
        ``visits`` with, per measure, the baseline value, ``change`` = now − baseline and
        ``pct_change`` = 100 · (now − baseline) / baseline rounded to 4 decimals (empty when the
        baseline is 0). Empty on rows before baseline, in patients without one, and where a value
        is missing; 0 on the baseline row itself.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"patient_id": ["p", "p"], "day": [0, 180], "eustar_ai": [4.0, 1.5]})
    >>> derive_change_from_baseline(t, ["eustar_ai"])["eustar_ai_pct_change"].to_list()
    [0.0, -62.5]
    """
    frame = _checked(visits, measures)
    keyed = frame.select(
        ROW,
        "patient_id",
        pl.col("__day").alias("day"),
        pl.col("__baseline").alias("baseline"),
        *[pl.col(f"__{m}") for m in measures],
    )
    based = with_baseline(keyed, [f"__{m}" for m in measures])
    scored = (based["is_baseline"] | based["is_followup"]).alias("__scored")
    outputs = []
    for m in measures:
        now, base = pl.col(f"__{m}"), pl.col(f"__{m}_base")
        change = now - base
        pct = pl.when(base != 0).then(round_expr(change / base * 100, PERCENT_DECIMALS))
        outputs += [
            pl.when(pl.col("__scored")).then(base).alias(f"{m}_baseline"),
            pl.when(pl.col("__scored")).then(change).alias(f"{m}_change"),
            pl.when(pl.col("__scored")).then(pct).alias(f"{m}_pct_change"),
        ]
    added = based.with_columns(scored).select(outputs)
    return pl.concat([visits, added], how="horizontal")


def derive_mrss_improvement(
    visits: pl.DataFrame, *, min_points: float = 5.0, min_percent: float = 25.0
) -> pl.DataFrame:
    """Add ``mrss_improved``: 1 when mRSS fell by ≥ ``min_points`` and ≥ ``min_percent`` %.

    Parameters
    ----------
    visits : polars.DataFrame
        A table with ``mrss_change`` and ``mrss_pct_change`` (from
        :func:`derive_change_from_baseline`; computed here when absent).
    min_points, min_percent : float
        The clinically meaningful improvement (default 5 points and 25 %; MCID 3.2–5.3,
        Khanna 2006).

    Returns
    -------
    polars.DataFrame
        ``visits`` plus ``mrss_improved`` (Int8 0/1) on follow-up rows; empty on the baseline
        row, before baseline and where mRSS (now or at baseline) is missing. A baseline of 0
        cannot improve (0).

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"patient_id": ["p"] * 3, "day": [0, 90, 180], "mrss": [20, 15, 16]})
    >>> derive_mrss_improvement(t)["mrss_improved"].to_list()
    [None, 1, 0]
    """
    if "mrss_change" not in visits.columns:
        visits = derive_change_from_baseline(visits, ["mrss"])
    frame = _checked(visits, ["mrss"])
    based = with_baseline(
        frame.select(ROW, "patient_id", pl.col("__day").alias("day"), pl.col("__baseline").alias("baseline")),
        [],
    )
    drop = -pl.col("mrss_change")
    drop_pct = -pl.col("mrss_pct_change")
    improved = (
        pl.when(~pl.col("__followup") | drop.is_null())
        .then(None)
        .when(pl.col("mrss_baseline") == 0)
        .then(False)
        .otherwise((drop >= min_points) & (drop_pct >= min_percent))
    )
    return (
        visits.with_columns(based["is_followup"].alias("__followup"))
        .with_columns(improved.cast(pl.Int8).alias("mrss_improved"))
        .drop("__followup")
    )


def assign_visit_months(
    visits: pl.DataFrame,
    months: Sequence[int] = DEFAULT_MONTHS,
    *,
    windows: WindowRule = DEFAULT_RULE,
) -> pl.DataFrame:
    """Pick, per patient and scheduled month, the assessment nearest to the month's target day.

    Parameters
    ----------
    visits : polars.DataFrame
        Long table with ``patient_id`` and ``day``.
    months : sequence of int
        Scheduled months (≥ 1).
    windows : VisitWindows
        Target days and window half widths (±14 days up to month 3, ±30 after).

    Returns
    -------
    polars.DataFrame
        One row per patient and month that has an assessment in its window: the assessment's
        columns plus ``month``, ``target_day`` and ``day_offset`` (day − target). Equidistant
        assessments: as ``windows.tie`` says (the later by default, as in the report). An
        assessment may stand for two months whose windows overlap.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"patient_id": ["p"] * 4, "day": [0, 27, 88, 200]})
    >>> assign_visit_months(t, [1, 3, 6]).select("month", "day", "day_offset").rows()
    [(1, 27, -3), (3, 88, -3), (6, 200, 17)]
    """
    bad = [m for m in months if not isinstance(m, int) or m < 1]
    if bad:
        raise InvalidInputError([Problem(None, "months", str(m), "expected a whole month ≥ 1") for m in bad])
    frame = _checked(visits, [])
    picked = assign_windows(frame.with_columns(pl.col("__day").cast(pl.Int64).alias("day")), months, windows)
    return picked.with_columns((pl.col("day") - pl.col("target_day")).alias("day_offset")).drop(
        [c for c in picked.columns if c.startswith("__")]
    )


def _median_iqr_text(median: pl.Expr, q1: pl.Expr, q3: pl.Expr) -> pl.Expr:
    def text(x: pl.Expr) -> pl.Expr:
        return num_text_expr(round_expr(x, 2))

    return pl.format("{} ({} to {})", text(median), text(q1), text(q3))


def summarise_change_by_month(
    visits: pl.DataFrame,
    *,
    cohort: str = "disease",
    measures: Sequence[str] = DEFAULT_MEASURES,
    months: Sequence[int] = DEFAULT_MONTHS,
    windows: WindowRule = DEFAULT_RULE,
) -> pl.DataFrame:
    """Median (IQR) of the change from baseline per cohort, month and measure.

    Parameters
    ----------
    visits : polars.DataFrame
        Long table with ``patient_id``, ``day``, the ``cohort`` column (e.g. disease), optional
        ``baseline`` and the measures.
    cohort : str
        The grouping column (default ``disease``).
    measures, months, windows
        As in :func:`derive_change_from_baseline` and :func:`assign_visit_months`.

    Returns
    -------
    polars.DataFrame
        One row per cohort, month and measure: ``target_day``, ``n`` (patients with a change),
        ``change_median``, ``change_q1``, ``change_q3``, and ``pct_change_n`` (baseline not 0)
        with the same statistics of ``pct_change``
        (quantiles with linear interpolation, as R type 7), plus ``change_text`` —
        ``"median (Q1 to Q3)"`` rounded to 2 decimals.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"disease": ["ssc"] * 6, "patient_id": list("aabbcc"),
    ...                   "day": [0, 180, 0, 185, 0, 170], "mrss": [20, 10, 30, 27, 16, 12]})
    >>> s = summarise_change_by_month(t, measures=["mrss"], months=[6])
    >>> s.select("month", "n", "change_median", "change_q1", "change_q3", "change_text").rows()
    [(6, 3, -4.0, -7.0, -3.5, '-4 (-7 to -3.5)')]
    """
    if cohort not in visits.columns:
        raise InvalidInputError([Problem(None, cohort, "", "cohort column is missing")])
    changed = derive_change_from_baseline(visits, measures)
    assigned = assign_visit_months(changed, months, windows=windows)
    long = pl.concat(
        [
            assigned.select(
                pl.col(cohort),
                "patient_id",
                "month",
                "target_day",
                pl.lit(m).alias("measure"),
                pl.col(f"{m}_change").cast(pl.Float64).alias("change"),
                pl.col(f"{m}_pct_change").cast(pl.Float64).alias("pct_change"),
            )
            for m in measures
        ]
    ).filter(pl.col("change").is_not_null())
    stats = []
    for what in ("change", "pct_change"):
        col = pl.col(what)
        stats += [
            col.median().alias(f"{what}_median"),
            col.quantile(0.25, interpolation="linear").alias(f"{what}_q1"),
            col.quantile(0.75, interpolation="linear").alias(f"{what}_q3"),
        ]
    summary = (
        long.group_by([cohort, "month", "target_day", "measure"])
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("pct_change").count().cast(pl.Int64).alias("pct_change_n"),
            *stats,
        )
        .with_columns(
            _median_iqr_text(pl.col("change_median"), pl.col("change_q1"), pl.col("change_q3")).alias("change_text")
        )
    )
    order = {m: i for i, m in enumerate(measures)}
    return summary.sort([cohort, "month", pl.col("measure").replace_strict(order, return_dtype=pl.Int64)])
