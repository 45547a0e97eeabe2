"""Safety tables: maximum grades per patient, infections, hypogammaglobulinaemia.

Rules (docs/specs safety.md, crs.md, icans.md; decisions in docs/decisions/report.md):

- A patient's maximum CRS (ICANS) grade is the highest grade among their adverse-event records of
  that category and, where stored, the daily ``crs_grade`` (``icans_grade``) scores; a patient with
  neither an event nor a positive score has grade 0.
- New-onset hypogammaglobulinaemia: some IgG after day 0 below the lower limit (7.0 g/L) in a
  patient whose baseline IgG (latest ``day <= 0``) was at or above it; severe below 4.0 g/L.
- Infections: adverse events of category ``infection``; serious = hospitalised (``serious`` flag).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from remission.analysis.endpoints import BinarySummary

IGG_LLN_G_L = 7.0
IGG_SEVERE_G_L = 4.0


def derive_max_grade(patients: pl.DataFrame, *grades: pl.DataFrame) -> pl.DataFrame:
    """Per patient the highest ``grade`` over the given tables (``patient_id``, ``grade``); 0 when
    a patient appears in none.

    >>> p = pl.DataFrame({"patient_id": ["A", "B", "C"]})
    >>> ae = pl.DataFrame({"patient_id": ["A"], "grade": [1]})
    >>> scores = pl.DataFrame({"patient_id": ["A", "A", "B"], "grade": [2, 0, None]})
    >>> derive_max_grade(p, ae, scores).rows()
    [('A', 2), ('B', 0), ('C', 0)]
    """
    parts = [
        g.select(pl.col("patient_id").cast(pl.String), pl.col("grade").cast(pl.Int64))
        for g in grades
        if not g.is_empty()
    ]
    ids = patients.select(pl.col("patient_id").cast(pl.String)).unique(maintain_order=True)
    if not parts:
        return ids.with_columns(max_grade=pl.lit(0, pl.Int64))
    worst = pl.concat(parts).drop_nulls().group_by("patient_id").agg(pl.col("grade").max().alias("max_grade"))
    return (
        ids.join(worst, on="patient_id", how="left").with_columns(pl.col("max_grade").fill_null(0)).sort("patient_id")
    )


def grade_counts(max_grades: pl.DataFrame, grades: Sequence[int] = (0, 1, 2, 3, 4, 5)) -> pl.DataFrame:
    """``grade`` and ``patients`` as ``n/N (%)`` of patients whose maximum grade is each grade.

    >>> g = pl.DataFrame({"patient_id": ["A", "B", "C", "D"], "max_grade": [0, 1, 1, 2]})
    >>> grade_counts(g, (0, 1, 2, 3)).rows()
    [('0', '1/4 (25%)'), ('1', '2/4 (50%)'), ('2', '1/4 (25%)'), ('3', '0/4 (0%)')]
    """
    total = max_grades.height
    return pl.DataFrame(
        {
            "grade": [str(g) for g in grades],
            "patients": [BinarySummary(int((max_grades["max_grade"] == g).sum()), total).text() for g in grades],
        }
    )


def derive_hypogammaglobulinaemia(
    igg: pl.DataFrame, lln: float = IGG_LLN_G_L, severe: float = IGG_SEVERE_G_L, value: str = "igg_g_l"
) -> pl.DataFrame:
    """Per patient: ``igg_baseline``, ``igg_nadir`` (after day 0), ``nadir_day``, ``new_onset``
    (1/0; empty without a baseline or a post-infusion value) and ``severe`` (nadir < 4 g/L).

    >>> s = pl.DataFrame({"patient_id": ["A", "A", "A", "B", "B"], "day": [-7, 90, 180, -7, 90],
    ...                   "igg_g_l": [9.5, 6.9, 7.4, 6.0, 5.0]})
    >>> derive_hypogammaglobulinaemia(s).rows()
    [('A', 9.5, 6.9, 90, 1, 0), ('B', 6.0, 5.0, 90, 0, 0)]
    """
    known = igg.filter(pl.col(value).is_not_null()).sort("patient_id", "day")
    base = (
        known.filter(pl.col("day") <= 0)
        .group_by("patient_id")
        .agg(pl.col(value).last().cast(pl.Float64).alias("igg_baseline"))
    )
    after = (
        known.filter(pl.col("day") > 0)
        .group_by("patient_id")
        .agg(
            pl.col(value).min().cast(pl.Float64).alias("igg_nadir"),
            pl.col("day").filter(pl.col(value) == pl.col(value).min()).first().cast(pl.Int64).alias("nadir_day"),
        )
    )
    return (
        known.select(pl.col("patient_id").cast(pl.String))
        .unique(maintain_order=True)
        .join(base, on="patient_id", how="left")
        .join(after, on="patient_id", how="left")
        .with_columns(
            pl.when(pl.col("igg_baseline").is_null() | pl.col("igg_nadir").is_null())
            .then(None)
            .otherwise((pl.col("igg_baseline") >= lln) & (pl.col("igg_nadir") < lln))
            .cast(pl.Int8)
            .alias("new_onset"),
            (pl.col("igg_nadir") < severe).cast(pl.Int8).alias("severe"),
        )
        .sort("patient_id")
    )


def summarise_infections(events: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    """Counts of patients with any infection, a serious (hospitalised) one and one of grade ≥ 3.

    >>> ae = pl.DataFrame({"patient_id": ["A", "A", "B"], "category": ["infection", "crs", "infection"],
    ...                    "grade": [3, 1, 2], "serious": [True, False, False]})
    >>> summarise_infections(ae, pl.DataFrame({"patient_id": ["A", "B", "C", "D"]}))["patients"].to_list()
    ['2/4 (50%)', '1/4 (25%)', '1/4 (25%)']
    """
    total = patients.select(pl.col("patient_id")).n_unique()
    infections = events.filter(pl.col("category") == "infection") if not events.is_empty() else events

    def count(frame: pl.DataFrame) -> str:
        return BinarySummary(0 if frame.is_empty() else frame["patient_id"].n_unique(), total).text()

    empty = infections.is_empty()
    rows = [
        ("any infection", count(infections)),
        (
            "serious (hospitalised) infection",
            count(infections if empty else infections.filter(pl.col("serious").cast(pl.Boolean))),
        ),
        ("infection grade ≥ 3", count(infections if empty else infections.filter(pl.col("grade") >= 3))),
    ]
    return pl.DataFrame(rows, schema={"event": pl.String, "patients": pl.String}, orient="row")
