"""Durations: drug-free status with a minimum treatment-free period, and sustained remission.

Definitions (docs/decisions/sap.md):

- **Drug-free on a day** (:func:`derive_drug_free`): no maintenance course of a counted class
  (glucocorticoid, immunosuppressant — IVIG included —, biologic; antimalarial when
  ``DrugFreeRule.antimalarial``) runs that day, *and* at least ``min_free_days`` (30) days have
  passed since the last dose of one (``day − last stop_day ≥ 30``). Conditioning and CRS treatment
  are not maintenance (analysis/treatment.py). A patient whose medication history does not cover
  the follow-up — no maintenance record running at or starting after ``history_from_day`` (day 0,
  the infusion) — is **unknown**, never "drug-free": a day without a record is not a day without
  treatment.
- **Drug-free remission**: remission and drug-free on the same assessment day (unknown when either
  is unknown and the other does not already say no).
- **A remission run** (:func:`derive_remission_runs`): consecutive post-infusion assessments with a
  known flag equal to 1; a flag 0 ends it ("lost"), so does a gap of more than ``max_gap_days``
  (120) between two consecutive remission assessments ("gap": nobody looked for four months).
  Assessments without a known flag are skipped (they neither extend nor break a run; the gap is
  measured between known ones). **Sustained** when the run spans at least ``min_days`` (180) from
  its first to its latest assessment. The report's "in sustained remission at month m": the month-m
  assessment is in a run that has lasted ≥ ``min_days`` by that day (:func:`derive_sustained`).

Sources: ICH E9(R1) (2019) on defining the variable and intercurrent events; the 6-month
"sustained" convention of the DORIS task force (van Vollenhoven et al., Ann Rheum Dis 2021) and of
the drug-free remission reports after CD19 CAR-T (Müller et al., N Engl J Med 2024).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from remission.analysis.treatment import course_runs_on, derive_drug_class


@dataclass(frozen=True)
class DrugFreeRule:
    """When a patient counts as drug-free.

    Attributes
    ----------
    min_free_days : int
        Days since the last dose of a counted class before "drug-free" counts (30).
    antimalarial : bool
        Whether antimalarials (hydroxychloroquine) must stop too (default True: "drug-free" in
        Müller 2024 means every maintenance drug stopped; False gives the DORIS-compatible variant).
    history_from_day : int
        The medication history must reach this day (0 = infusion) or the status is unknown.
    """

    min_free_days: int = 30
    antimalarial: bool = True
    history_from_day: int = 0

    @property
    def classes(self) -> tuple[str, ...]:
        """The drug classes whose courses prevent "drug-free"."""
        base = ("glucocorticoid", "immunosuppressant", "biologic")
        return (*base, "antimalarial") if self.antimalarial else base


@dataclass(frozen=True)
class SustainedRule:
    """When a remission run counts as sustained.

    Attributes
    ----------
    min_days : int
        Minimum span in days from the first to the latest assessment of the run (180 ≈ 6 months).
    max_gap_days : int
        A longer gap between two consecutive remission assessments breaks the run (120).
    """

    min_days: int = 180
    max_gap_days: int = 120


DEFAULT_DRUG_FREE = DrugFreeRule()
DEFAULT_SUSTAINED = SustainedRule()
_MED_SCHEMA = {"patient_id": pl.String, "drug": pl.String, "start_day": pl.Int64, "stop_day": pl.Int64}


def derive_medication_coverage(medications: pl.DataFrame, rule: DrugFreeRule = DEFAULT_DRUG_FREE) -> pl.DataFrame:
    """Patients whose maintenance medication history reaches ``rule.history_from_day``: a course
    running then or later (empty ``stop_day`` or ``stop_day ≥`` it) or starting then or later.

    >>> m = pl.DataFrame({"patient_id": ["A", "B"], "drug": ["prednisone", "prednisone"],
    ...                   "start_day": [-400, -400], "stop_day": [113, -100]})
    >>> derive_medication_coverage(m)["patient_id"].to_list()
    ['A']
    """
    if medications.is_empty():
        return pl.DataFrame(schema={"patient_id": pl.String})
    since = rule.history_from_day
    covered = derive_drug_class(medications).filter(
        (pl.col("maintenance") == 1)
        & (pl.col("stop_day").is_null() | (pl.col("stop_day") >= since) | (pl.col("start_day") >= since))
    )
    return covered.select(pl.col("patient_id").cast(pl.String)).unique().sort("patient_id")


def derive_drug_free(
    visits: pl.DataFrame, medications: pl.DataFrame, rule: DrugFreeRule = DEFAULT_DRUG_FREE
) -> pl.DataFrame:
    """Add ``treatment_free_days`` (days since the last dose of a counted class; empty while one
    runs, when none was ever given, or when the history is unknown) and ``drug_free`` (1/0; empty =
    unknown history) on each visit (``patient_id``, ``day``).

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A", "B"], "day": [100, 122, 143, 143]})
    >>> m = pl.DataFrame({"patient_id": ["A"], "drug": ["prednisone"], "start_day": [-400], "stop_day": [113]})
    >>> derive_drug_free(v, m).select("day", "treatment_free_days", "drug_free").rows()
    [(100, None, 0), (122, 9, 0), (143, 30, 1), (143, None, None)]
    """
    meds = medications if not medications.is_empty() else pl.DataFrame(schema=_MED_SCHEMA)
    counted = derive_drug_class(meds).filter(
        (pl.col("maintenance") == 1) & pl.col("drug_class").is_in(list(rule.classes))
    )
    keyed = visits.with_row_index("_visit")
    pairs = keyed.select("_visit", "patient_id", "day").join(
        counted.select("patient_id", "start_day", "stop_day"), on="patient_id", how="inner"
    )
    running = course_runs_on(pl.col("day"))
    per_visit = pairs.group_by("_visit").agg(
        running.any().alias("_on"),
        pl.col("stop_day").filter(pl.col("stop_day") < pl.col("day")).max().alias("_last_stop"),
    )
    covered = derive_medication_coverage(meds, rule).with_columns(_covered=pl.lit(True))
    free_days = pl.col("day") - pl.col("_last_stop")
    on = pl.col("_on").fill_null(False)
    return (
        keyed.join(per_visit, on="_visit", how="left")
        .join(covered, on="patient_id", how="left")
        .with_columns(
            treatment_free_days=pl.when(pl.col("_covered").is_null() | on).then(None).otherwise(free_days),
            drug_free=pl.when(pl.col("_covered").is_null())
            .then(None)
            .otherwise(~on & (pl.col("_last_stop").is_null() | (free_days >= rule.min_free_days)))
            .cast(pl.Int8),
        )
        .sort("_visit")
        .drop("_visit", "_on", "_last_stop", "_covered")
    )


def derive_drug_free_remission(visits: pl.DataFrame, flag: str = "remission") -> pl.DataFrame:
    """Add ``drug_free_remission``: 1 when ``flag`` and ``drug_free`` are both 1, 0 when either is
    0, empty otherwise (one of them unknown and the other not 0).

    >>> v = pl.DataFrame({"remission": [1, 1, 0, 1, None], "drug_free": [1, 0, None, None, 1]})
    >>> derive_drug_free_remission(v)["drug_free_remission"].to_list()
    [1, 0, 0, None, None]
    """
    r, f = pl.col(flag), pl.col("drug_free")
    return visits.with_columns(
        drug_free_remission=pl.when((r == 0) | (f == 0))
        .then(0)
        .when((r == 1) & (f == 1))
        .then(1)
        .otherwise(None)
        .cast(pl.Int8)
    )


def _runs_frame(visits: pl.DataFrame, flag: str, rule: SustainedRule) -> pl.DataFrame:
    """Post-infusion rows with a known flag, each in-remission row with ``_run`` (run number per
    patient) and ``_run_start`` (its first day)."""
    known = visits.filter((pl.col("day") > 0) & pl.col(flag).is_not_null()).sort("patient_id", "day")
    yes = pl.col(flag).cast(pl.Int64) == 1
    previous_yes = yes.shift(1).over("patient_id").fill_null(False)
    gap = pl.col("day") - pl.col("day").shift(1).over("patient_id")
    starts = yes & (~previous_yes | (gap > rule.max_gap_days))
    return (
        known.with_columns(_yes=yes, _starts=starts)
        .with_columns(_run=pl.col("_starts").cast(pl.Int64).cum_sum().over("patient_id"))
        .with_columns(_run_start=pl.when(pl.col("_yes")).then(pl.col("day").min().over("patient_id", "_run", "_yes")))
    )


def derive_remission_runs(
    visits: pl.DataFrame, flag: str = "remission", rule: SustainedRule = DEFAULT_SUSTAINED
) -> pl.DataFrame:
    """Per patient and run: ``start_day``, ``end_day`` (latest assessment in remission),
    ``span_days``, ``sustained`` (1 when ``span_days ≥ rule.min_days``), ``sustained_day`` (the
    first assessment at which the run had lasted ``min_days``; empty if never) and ``ended``
    ("lost", "gap" or "ongoing").

    >>> v = pl.DataFrame({"patient_id": ["A"] * 7, "day": [30, 91, 183, 274, 365, 548, 600],
    ...                   "remission": [0, 1, 1, 1, 1, 1, 0]})
    >>> derive_remission_runs(v).rows()  # 365 → 548 is a gap of 183 days > 120: a new run
    [('A', 91, 365, 274, 1, 274, 'gap'), ('A', 548, 548, 0, 0, None, 'lost')]
    """
    schema = {
        "patient_id": pl.String,
        "start_day": pl.Int64,
        "end_day": pl.Int64,
        "span_days": pl.Int64,
        "sustained": pl.Int8,
        "sustained_day": pl.Int64,
        "ended": pl.String,
    }
    frame = _runs_frame(visits, flag, rule) if not visits.is_empty() else pl.DataFrame()
    if frame.is_empty() or not frame["_yes"].any():
        return pl.DataFrame(schema=schema)
    next_day = pl.col("day").shift(-1).over("patient_id")
    next_yes = pl.col("_yes").shift(-1).over("patient_id")
    frame = frame.with_columns(
        _end=pl.when(next_day.is_null())
        .then(pl.lit("ongoing"))
        .when(~next_yes)
        .then(pl.lit("lost"))
        .otherwise(pl.lit("gap"))
    )
    runs = (
        frame.filter(pl.col("_yes"))
        .group_by("patient_id", "_run", maintain_order=True)
        .agg(
            pl.col("day").min().alias("start_day"),
            pl.col("day").max().alias("end_day"),
            pl.col("day").filter(pl.col("day") - pl.col("_run_start") >= rule.min_days).min().alias("sustained_day"),
            pl.col("_end").last().alias("ended"),
        )
    )
    return (
        runs.with_columns(span_days=pl.col("end_day") - pl.col("start_day"))
        .with_columns(sustained=(pl.col("span_days") >= rule.min_days).cast(pl.Int8))
        .select(*schema)
        .cast(schema)  # type: ignore[arg-type]
        .sort("patient_id", "start_day")
    )


def derive_sustained(
    visits: pl.DataFrame, flag: str = "remission", rule: SustainedRule = DEFAULT_SUSTAINED
) -> pl.DataFrame:
    """Add ``<flag>_sustained`` per visit: 1 when the visit is in a remission run that has lasted
    at least ``rule.min_days`` by that day, 0 when the flag is known otherwise, empty when the flag
    is empty. Assessments on or before day 0 are never sustained.

    >>> v = pl.DataFrame({"patient_id": ["A"] * 4, "day": [-7, 91, 183, 274], "remission": [0, 1, 1, 1]})
    >>> derive_sustained(v)["remission_sustained"].to_list()
    [0, 0, 0, 1]
    """
    name = f"{flag}_sustained"
    if visits.is_empty():
        return visits.with_columns(pl.lit(None, pl.Int8).alias(name))
    frame = _runs_frame(visits, flag, rule)
    hits = (
        frame.filter(pl.col("_yes") & (pl.col("day") - pl.col("_run_start") >= rule.min_days))
        .select("patient_id", "day", pl.lit(1, pl.Int8).alias("_hit"))
        .unique()
    )
    return (
        visits.join(hits, on=["patient_id", "day"], how="left")
        .with_columns(
            pl.when(pl.col(flag).is_null()).then(None).otherwise(pl.col("_hit").fill_null(0)).cast(pl.Int8).alias(name)
        )
        .drop("_hit")
    )
