"""CAR-T expansion and B-cell aplasia per patient, from laboratory series.

Rules (docs/specs safety.md; parameters documented in docs/decisions/report.md):

- CAR-T (``car_t_cells_ul``, cells/µL): peak level and the first day it was reached, over
  measurements from day 0 on.
- B cells (``cd19_cells_ul``, cells/µL): aplasia when below ``threshold`` (1 cell/µL); the
  aplasia starts on the first measurement after day 0 below the threshold; reconstitution is the
  first measurement at or above the threshold after the aplasia started; the aplasia lasts
  ``reconstitution_day − aplasia_start_day`` days. A patient still aplastic at the last measurement
  has no reconstitution day (``ongoing`` = 1, duration censored at the last measurement).
"""

from __future__ import annotations

import polars as pl

B_CELL_APLASIA_THRESHOLD = 1.0


def summarise_car_t(series: pl.DataFrame, value: str = "car_t_cells_ul") -> pl.DataFrame:
    """Per patient: ``car_t_peak_day``, ``car_t_peak`` (cells/µL) and ``car_t_last_detectable_day``.

    >>> s = pl.DataFrame({"patient_id": ["A"] * 4, "day": [0, 7, 9, 28], "car_t_cells_ul": [0.1, 40.0, 55.0, 0.0]})
    >>> summarise_car_t(s).row(0)
    ('A', 9, 55.0, 9)
    """
    rows = series.filter((pl.col("day") >= 0) & pl.col(value).is_not_null()).sort("patient_id", "day")
    return (
        rows.group_by("patient_id", maintain_order=True)
        .agg(
            pl.col("day").filter(pl.col(value) == pl.col(value).max()).first().cast(pl.Int64).alias("car_t_peak_day"),
            pl.col(value).max().cast(pl.Float64).alias("car_t_peak"),
            pl.col("day").filter(pl.col(value) > 0).max().cast(pl.Int64).alias("car_t_last_detectable_day"),
        )
        .with_columns(pl.col("patient_id").cast(pl.String))
    )


def summarise_b_cells(
    series: pl.DataFrame, value: str = "cd19_cells_ul", threshold: float = B_CELL_APLASIA_THRESHOLD
) -> pl.DataFrame:
    """Per patient: ``aplasia_start_day``, ``reconstitution_day``, ``aplasia_days``, ``ongoing``.

    ``aplasia_days`` is ``reconstitution_day − aplasia_start_day``; for an ongoing aplasia it is
    the time to the last measurement (a censored duration) and ``ongoing`` is 1. Patients never
    aplastic after day 0 have empty days and ``ongoing`` 0.

    >>> s = pl.DataFrame({"patient_id": ["A"] * 4 + ["B"] * 2, "day": [-7, 7, 90, 120, 7, 60],
    ...                   "cd19_cells_ul": [150.0, 0.0, 0.5, 12.0, 0.0, 0.0]})
    >>> summarise_b_cells(s).rows()
    [('A', 7, 120, 113, 0), ('B', 7, None, 53, 1)]
    """
    rows = series.filter((pl.col("day") > 0) & pl.col(value).is_not_null()).sort("patient_id", "day")
    low = pl.col(value) < threshold
    start = rows.filter(low).group_by("patient_id").agg(pl.col("day").min().alias("aplasia_start_day"))
    after = rows.join(start, on="patient_id")
    back = (
        after.filter((pl.col("day") > pl.col("aplasia_start_day")) & ~low)
        .group_by("patient_id")
        .agg(pl.col("day").min().alias("reconstitution_day"))
    )
    last = rows.group_by("patient_id").agg(pl.col("day").max().alias("_last"))
    return (
        rows.select("patient_id")
        .unique(maintain_order=True)
        .join(start, on="patient_id", how="left")
        .join(back, on="patient_id", how="left")
        .join(last, on="patient_id", how="left")
        .select(
            pl.col("patient_id").cast(pl.String),
            pl.col("aplasia_start_day").cast(pl.Int64),
            pl.col("reconstitution_day").cast(pl.Int64),
            (pl.coalesce("reconstitution_day", "_last") - pl.col("aplasia_start_day"))
            .cast(pl.Int64)
            .alias("aplasia_days"),
            (pl.col("aplasia_start_day").is_not_null() & pl.col("reconstitution_day").is_null())
            .cast(pl.Int8)
            .alias("ongoing"),
        )
        .sort("patient_id")
    )
