"""SLE remission over time: first, drug-free, sustained and ongoing DORIS remission per patient.

Built on the per-visit flags of the ``doris`` index (``doris_remission``,
``drug_free_remission``: 1, 0 or empty). Only assessments after ``after_day`` count (default:
after CAR-T infusion, day > 0). Three-valued throughout: an empty flag is unknown, never "not in
remission".

* ``first_remission_day`` / ``first_drug_free_remission_day``: day of the first assessment in
  remission; empty when none, or when an earlier assessment's flag is unknown (it might have
  been the first).
* ``sustained_remission``: 1 when the patient was in remission at every assessment of a run of
  consecutive assessments spanning ≥ ``sustained_days`` days (first to last assessment of the
  run); 0 when no run could span that long even if every unknown flag were remission; else empty.
  ``sustained_remission_from_day`` is the first day of the first such known run.
* ``remission_ongoing``: the flag at the patient's last assessment.

Examples
--------
>>> import polars as pl
>>> visits = pl.DataFrame({"patient_id": ["a"] * 5, "day": [-10, 30, 90, 180, 270],
...     "doris_remission": [0, 0, 1, 1, 1], "drug_free_remission": [0, 0, 0, 1, 1]})
>>> out = derive_sle_remission(visits)
>>> out.select("first_remission_day", "first_drug_free_remission_day", "sustained_remission",
...            "sustained_remission_from_day", "remission_ongoing").row(0)
(90, 180, 1, 90, 1)
"""

from __future__ import annotations

import polars as pl

from remission.errors import InvalidInputError, Problem

#: Default minimum span of sustained remission, days (≈ 6 months).
SUSTAINED_DAYS = 180
TRUE = ("1", "1.0", "true")
FALSE = ("0", "0.0", "false")
REQUIRED = ("patient_id", "day", "doris_remission", "drug_free_remission")
OUTPUTS = (
    "patient_id",
    "n_assessments",
    "first_remission_day",
    "first_drug_free_remission_day",
    "sustained_remission",
    "sustained_remission_from_day",
    "remission_ongoing",
)


def _typed(visits: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in REQUIRED if c not in visits.columns]
    if missing:
        raise InvalidInputError([Problem(None, c, "", "required column is missing from the visits") for c in missing])
    problems: list[Problem] = []
    for column in ("doris_remission", "drug_free_remission"):
        values = visits[column].cast(pl.Utf8).str.strip_chars()
        bad = values.is_not_null() & (values != "") & ~values.is_in([*TRUE, *FALSE])
        for row in bad.arg_true().to_list():
            problems.append(Problem(row + 1, column, str(visits[column][row]), "expected 0, 1 or empty"))
    day = visits["day"].cast(pl.Int64, strict=False)
    for row in (day.is_null() & visits["day"].is_not_null()).arg_true().to_list():
        problems.append(Problem(row + 1, "day", str(visits["day"][row]), "expected a whole number"))
    if problems:
        raise InvalidInputError(problems)

    def as_bool(column: str) -> pl.Expr:
        text = pl.col(column).cast(pl.Utf8).str.strip_chars()
        return pl.when(text.is_in(TRUE)).then(True).when(text.is_in(FALSE)).then(False)

    return visits.select(
        pl.col("patient_id").cast(pl.Utf8),
        pl.col("day").cast(pl.Int64),
        as_bool("doris_remission").alias("remission"),
        as_bool("drug_free_remission").alias("drug_free"),
    ).filter(pl.col("day").is_not_null())


def _first_day(flag: str) -> pl.Expr:
    """Day of the first known 1, unless an unknown flag comes before it."""
    first = pl.col("day").filter(pl.col(flag).fill_null(False)).min()
    unknown_before = (pl.col(flag).is_null() & (pl.col("day") < first)).any()
    return pl.when(unknown_before).then(None).otherwise(first)


def _runs(frame: pl.DataFrame, optimistic: bool) -> pl.DataFrame:
    """Runs of consecutive assessments in remission: patient, run start day and span."""
    in_remission = pl.col("remission").fill_null(optimistic)
    return (
        frame.with_columns(_in=in_remission, _run=(~in_remission).cum_sum().over("patient_id"))
        .filter(pl.col("_in"))
        .group_by("patient_id", "_run")
        .agg(
            pl.col("day").min().alias("start"),
            (pl.col("day").max() - pl.col("day").min()).alias("span"),
        )
    )


def derive_sle_remission(
    visits: pl.DataFrame, *, sustained_days: int = SUSTAINED_DAYS, after_day: int = 0
) -> pl.DataFrame:
    """Per patient: first DORIS and drug-free remission, sustained and ongoing remission.

    Parameters
    ----------
    visits : polars.DataFrame
        One row per assessment: ``patient_id``, ``day`` (days relative to CAR-T infusion),
        ``doris_remission`` and ``drug_free_remission`` (0/1/empty, as the ``doris`` index
        writes them).
    sustained_days : int
        Minimum span, in days, of an uninterrupted run of remission assessments (default 180).
    after_day : int
        Only assessments with ``day > after_day`` count (default 0: after infusion).

    Returns
    -------
    polars.DataFrame
        One row per patient (sorted by ``patient_id``; a patient without assessments after
        ``after_day`` has ``n_assessments`` 0) with the columns of :data:`OUTPUTS`;
        flags are Int8 0/1, days are integers, empty where unknown or never reached.

    Examples
    --------
    >>> import polars as pl
    >>> visits = pl.DataFrame({"patient_id": ["b"] * 3, "day": [30, 120, 240],
    ...     "doris_remission": [1, None, 1], "drug_free_remission": [0, None, 0]})
    >>> derive_sle_remission(visits)["sustained_remission"].to_list()  # unknown at day 120
    [None]
    """
    if sustained_days < 0:
        raise InvalidInputError([Problem(None, "sustained_days", str(sustained_days), "must be ≥ 0")])
    typed = _typed(visits)
    patients = typed.select("patient_id").unique()
    frame = typed.filter(pl.col("day") > after_day).sort("patient_id", "day")
    known = _runs(frame, optimistic=False).filter(pl.col("span") >= sustained_days)
    possible = _runs(frame, optimistic=True).filter(pl.col("span") >= sustained_days)
    sustained = (
        patients.join(
            known.group_by("patient_id").agg(pl.col("start").min().alias("from_day")),
            on="patient_id",
            how="left",
        )
        .join(
            possible.group_by("patient_id").agg(pl.lit(True).alias("_possible")),
            on="patient_id",
            how="left",
        )
        .select(
            "patient_id",
            pl.when(pl.col("from_day").is_not_null())
            .then(1)
            .when(pl.col("_possible").is_null())
            .then(0)
            .otherwise(None)
            .cast(pl.Int8)
            .alias("sustained_remission"),
            pl.col("from_day").alias("sustained_remission_from_day"),
        )
    )
    per_patient = frame.group_by("patient_id").agg(
        pl.len().cast(pl.Int64).alias("n_assessments"),
        _first_day("remission").alias("first_remission_day"),
        _first_day("drug_free").alias("first_drug_free_remission_day"),
        pl.col("remission").last().cast(pl.Int8).alias("remission_ongoing"),
    )
    return (
        patients.join(per_patient, on="patient_id", how="left")
        .join(sustained, on="patient_id", how="left")
        .with_columns(pl.col("n_assessments").fill_null(0))
        .select(OUTPUTS)
        .sort("patient_id")
    )
