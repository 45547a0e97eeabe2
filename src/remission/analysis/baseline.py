"""Laboratory baseline before lymphodepletion, and the post-conditioning pre-infusion nadir.

Fludarabine/cyclophosphamide (days −5 to −3 in the protocol) deplete lymphocytes and lower IgG
before the CAR-T cells are given, so a day-0 value is not the patient's baseline. Rule
(docs/decisions/sap.md), configurable with :class:`LabBaselineRule`:

- **baseline** = the latest value with ``day <`` the first lymphodepletion dose (fludarabine, or
  cyclophosphamide started within days −14 to 0: analysis/treatment.py); a patient without a
  conditioning record falls back to the latest value with ``day ≤ 0`` and the rule used is named
  in ``baseline_rule``;
- **pre-infusion nadir** = the lowest value from the first lymphodepletion dose to day 0
  (inclusive), shown separately (CD19+ B cells, IgG): what conditioning alone did.

Source: the CAR-T reporting conventions of the EBMT/EHA (Hayden et al., Ann Oncol 2022) and the
lupus CAR-T reports (Mackensen et al., Nat Med 2022; Müller et al., N Engl J Med 2024), which take
screening values before lymphodepletion as baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from remission.analysis.treatment import CONDITIONING_DRUGS, CONDITIONING_WINDOW


@dataclass(frozen=True)
class LabBaselineRule:
    """Where a laboratory baseline is taken.

    Attributes
    ----------
    anchor : {"conditioning", "infusion"}
        ``conditioning``: latest value before the first lymphodepletion dose (default);
        ``infusion``: latest value with day ≤ 0 (the rule before issue 21).
    """

    anchor: Literal["conditioning", "infusion"] = "conditioning"


DEFAULT_LAB_BASELINE = LabBaselineRule()


def derive_conditioning_start(medications: pl.DataFrame) -> pl.DataFrame:
    """Per patient ``conditioning_day``: the first day of a lymphodepleting course (fludarabine,
    or cyclophosphamide started in days −14 to 0).

    >>> m = pl.DataFrame({"patient_id": ["A", "A", "A"], "drug": ["Fludarabine", "cyclophosphamide", "prednisone"],
    ...                   "start_day": [-5, -3, -400], "stop_day": [-3, -3, 60]})
    >>> derive_conditioning_start(m).rows()
    [('A', -5)]
    """
    schema = {"patient_id": pl.String, "conditioning_day": pl.Int64}
    if medications.is_empty():
        return pl.DataFrame(schema=schema)
    drug = pl.col("drug").str.strip_chars().str.to_lowercase()
    low, high = CONDITIONING_WINDOW
    courses = medications.filter(
        (drug.is_in(list(CONDITIONING_DRUGS)) & pl.col("start_day").is_between(low, high))
        | ((drug == "fludarabine") & (pl.col("start_day") <= high))
    )
    return (
        courses.group_by("patient_id")
        .agg(pl.col("start_day").min().alias("conditioning_day"))
        .cast(schema)  # type: ignore[arg-type]
        .sort("patient_id")
    )


def derive_lab_baseline(
    series: pl.DataFrame, value: str, conditioning: pl.DataFrame, rule: LabBaselineRule = DEFAULT_LAB_BASELINE
) -> pl.DataFrame:
    """Per patient ``<value>_baseline``, ``baseline_day``, ``baseline_rule`` and the
    post-conditioning pre-infusion nadir ``<value>_nadir_pre_infusion`` (empty without a
    conditioning record or value in that interval).

    >>> s = pl.DataFrame({"patient_id": ["A"] * 4, "day": [-7, -4, 0, 30], "igg": [9.0, 8.1, 7.6, 6.0]})
    >>> c = pl.DataFrame({"patient_id": ["A"], "conditioning_day": [-5]})
    >>> derive_lab_baseline(s, "igg", c).rows()
    [('A', 9.0, -7, 'before conditioning (day < -5)', 7.6)]
    """
    table = series.join(conditioning, on="patient_id", how="left")
    if rule.anchor == "conditioning":
        before = pl.col("conditioning_day").is_not_null() & (pl.col("day") < pl.col("conditioning_day"))
    else:
        before = pl.lit(False)
    fallback = pl.col("conditioning_day").is_null() | pl.lit(rule.anchor == "infusion")
    eligible = table.filter((before | (fallback & (pl.col("day") <= 0))) & pl.col(value).is_not_null())
    baseline = (
        eligible.sort("patient_id", "day")
        .group_by("patient_id", maintain_order=True)
        .agg(
            pl.col(value).last().cast(pl.Float64).alias(f"{value}_baseline"),
            pl.col("day").last().cast(pl.Int64).alias("baseline_day"),
            pl.col("conditioning_day").first().alias("_cond"),
        )
        .with_columns(
            baseline_rule=pl.when(pl.col("_cond").is_not_null() & pl.lit(rule.anchor == "conditioning"))
            .then(pl.format("before conditioning (day < {})", pl.col("_cond")))
            .otherwise(pl.lit("latest with day ≤ 0"))
        )
        .drop("_cond")
    )
    nadir = (
        table.filter(
            pl.col("conditioning_day").is_not_null()
            & (pl.col("day") >= pl.col("conditioning_day"))
            & (pl.col("day") <= 0)
        )
        .group_by("patient_id")
        .agg(pl.col(value).min().cast(pl.Float64).alias(f"{value}_nadir_pre_infusion"))
    )
    patients = series.select(pl.col("patient_id")).unique()
    return (
        patients.join(baseline, on="patient_id", how="left")
        .join(nadir, on="patient_id", how="left")
        .select(
            pl.col("patient_id").cast(pl.String),
            f"{value}_baseline",
            "baseline_day",
            "baseline_rule",
            f"{value}_nadir_pre_infusion",
        )
        .sort("patient_id")
    )


def drop_conditioning_interval(series: pl.DataFrame, conditioning: pl.DataFrame) -> pl.DataFrame:
    """The series without the values from the first lymphodepletion dose to day 0, so that a rule
    "latest value with day ≤ 0" (hypogammaglobulinaemia's baseline, analysis/toxicity.py) reads the
    pre-conditioning value; patients without a conditioning record keep every value.

    >>> s = pl.DataFrame({"patient_id": ["A"] * 3, "day": [-7, 0, 30], "igg": [9.0, 7.6, 6.0]})
    >>> drop_conditioning_interval(s, pl.DataFrame({"patient_id": ["A"], "conditioning_day": [-5]}))["day"].to_list()
    [-7, 30]
    """
    table = series.join(conditioning, on="patient_id", how="left")
    inside = pl.col("conditioning_day").is_not_null() & pl.col("day").is_between(pl.col("conditioning_day"), 0)
    return table.filter(~inside).drop("conditioning_day")
