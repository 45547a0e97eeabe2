"""Time-to-event endpoints: time to remission and relapse-free survival (Kaplan–Meier).

Definitions (docs/decisions/report.md):

- **Time to remission**: days from infusion (day 0) to the first assessment after day 0 with the
  remission flag 1; patients never in remission are censored at their last assessment with a known
  flag. Reported as the cumulative probability of remission ``1 − S(t)``.
- **Relapse**: the first assessment after the first remission at which the flag is 0 again (loss
  of remission). :func:`derive_relapse_free` runs from infusion to relapse or death, censored at
  the last follow-up day (kept for callers); the report uses :func:`derive_remission_duration`:
  from the **first remission** to relapse or death, censored at the **last efficacy assessment**
  (docs/decisions/sap.md), and :func:`derive_time_to_sustained` (infusion to the onset of the
  first sustained run).

Kaplan–Meier estimates come from lifelines (``KaplanMeierFitter``) with its default 95 %
confidence interval, the exponential Greenwood ("log(−log)") interval of Kalbfleisch & Prentice:
``exp(−exp(log(−log S) ± z·σ))`` with ``σ² = Σ d/(n(n−d)) / (log S)²``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

#: Float noise allowed when testing ``S(t) <= 0.5`` (products of fractions are not exact).
MEDIAN_TOLERANCE = 1e-9

EVENT_SCHEMA = {"patient_id": pl.String, "duration": pl.Float64, "observed": pl.Int8}


def derive_time_to_first(visits: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Per patient: ``duration`` (days from infusion) to the first ``flag == 1`` after day 0 and
    ``observed`` (1 = event, 0 = censored at the last post-infusion assessment with a known flag).

    Patients without any known flag after day 0 are left out.

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "B", "B"], "day": [30, 90, 30, 60], "r": [0, 1, 0, None]})
    >>> derive_time_to_first(v, "r").rows()
    [('A', 90.0, 1), ('B', 30.0, 0)]
    """
    known = visits.filter((pl.col("day") > 0) & pl.col(flag).is_not_null()).sort("patient_id", "day")
    if known.is_empty():
        return pl.DataFrame(schema=EVENT_SCHEMA)
    yes = pl.col(flag).cast(pl.Int64) == 1
    return (
        known.group_by("patient_id", maintain_order=True)
        .agg(
            pl.col("day").filter(yes).first().alias("_event"),
            pl.col("day").last().alias("_last"),
        )
        .select(
            "patient_id",
            pl.coalesce("_event", "_last").cast(pl.Float64).alias("duration"),
            pl.col("_event").is_not_null().cast(pl.Int8).alias("observed"),
        )
    )


def derive_relapses(visits: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Per patient: ``remission_day`` (first flag 1 after day 0) and ``relapse_day`` (first flag 0
    after that; empty when none).

    >>> v = pl.DataFrame({"patient_id": ["A"] * 4, "day": [30, 90, 180, 270], "r": [0, 1, 1, 0]})
    >>> derive_relapses(v, "r").rows()
    [('A', 90, 270)]
    """
    known = visits.filter((pl.col("day") > 0) & pl.col(flag).is_not_null()).sort("patient_id", "day")
    schema = {"patient_id": pl.String, "remission_day": pl.Int64, "relapse_day": pl.Int64}
    if known.is_empty():
        return pl.DataFrame(schema=schema)
    value = pl.col(flag).cast(pl.Int64)
    first = known.filter(value == 1).group_by("patient_id").agg(pl.col("day").min().alias("remission_day"))
    relapse = (
        known.join(first, on="patient_id")
        .filter((pl.col("day") > pl.col("remission_day")) & (value == 0))
        .group_by("patient_id")
        .agg(pl.col("day").min().alias("relapse_day"))
    )
    return (
        known.select("patient_id")
        .unique(maintain_order=True)
        .join(first, on="patient_id", how="left")
        .join(relapse, on="patient_id", how="left")
        .select(pl.col("patient_id").cast(pl.String), pl.col("remission_day").cast(pl.Int64), "relapse_day")
        .cast(schema)  # type: ignore[arg-type]
    )


def derive_relapse_free(
    relapses: pl.DataFrame, follow_up: pl.DataFrame, deaths: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Relapse-free survival per patient from :func:`derive_relapses`, follow-up days
    (``patient_id``, ``follow_up_days``) and deaths (``patient_id``, ``death_day``).

    >>> r = pl.DataFrame({"patient_id": ["A", "B"], "remission_day": [90, 60], "relapse_day": [270, None]})
    >>> f = pl.DataFrame({"patient_id": ["A", "B"], "follow_up_days": [400, 500]})
    >>> derive_relapse_free(r, f).rows()
    [('A', 270.0, 1), ('B', 500.0, 0)]
    """
    table = follow_up.join(relapses.select("patient_id", "relapse_day"), on="patient_id", how="left")
    if deaths is not None and not deaths.is_empty():
        table = table.join(deaths.select("patient_id", "death_day"), on="patient_id", how="left")
    else:
        table = table.with_columns(death_day=pl.lit(None, pl.Int64))
    event_day = pl.min_horizontal("relapse_day", "death_day")
    return table.select(
        pl.col("patient_id").cast(pl.String),
        pl.coalesce(event_day, "follow_up_days").cast(pl.Float64).alias("duration"),
        event_day.is_not_null().cast(pl.Int8).alias("observed"),
    ).sort("patient_id")


def kaplan_meier(events: pl.DataFrame, times: Sequence[float] | None = None, alpha: float = 0.05) -> pl.DataFrame:
    """Kaplan–Meier survival ``S(t)`` with its 95 % CI (lifelines), at each event/censoring time or
    at the given ``times``.

    Parameters
    ----------
    events : polars.DataFrame
        ``duration`` (days, ≥ 0) and ``observed`` (1 event, 0 censored), one row per patient.
    times : sequence of float, optional
        Days at which to read the step function; default every distinct duration (and 0).
    alpha : float
        1 − confidence level.

    Returns
    -------
    polars.DataFrame
        ``day``, ``at_risk`` (patients with duration ≥ day), ``events`` (events at day),
        ``censored`` (patients censored at day), ``survival``, ``lower``, ``upper``.

    Examples
    --------
    >>> e = pl.DataFrame({"duration": [2.0, 3, 3, 5, 8], "observed": [1, 1, 0, 1, 0]})
    >>> kaplan_meier(e)["survival"].round(4).to_list()
    [1.0, 0.8, 0.6, 0.3, 0.3]
    """
    from lifelines import KaplanMeierFitter

    schema = {
        "day": pl.Float64,
        "at_risk": pl.Int64,
        "events": pl.Int64,
        "censored": pl.Int64,
        "survival": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
    }
    if events.is_empty():
        return pl.DataFrame(schema=schema)
    durations = events["duration"].cast(pl.Float64).to_list()
    observed = events["observed"].cast(pl.Int64).to_list()
    fitter = KaplanMeierFitter(alpha=alpha).fit(durations, observed)
    grid = sorted({0.0, *durations}) if times is None else [float(t) for t in times]
    survival = fitter.survival_function_at_times(grid).to_numpy()
    ci = fitter.confidence_interval_survival_function_
    ci_index = ci.index.to_numpy()
    lower, upper = [], []
    for t in grid:
        position = int((ci_index <= t).sum()) - 1
        lower.append(float(ci.iloc[max(position, 0), 0]))
        upper.append(float(ci.iloc[max(position, 0), 1]))
    return pl.DataFrame(
        {
            "day": grid,
            "at_risk": [sum(d >= t for d in durations) for t in grid],
            "events": [sum(1 for d, o in zip(durations, observed, strict=True) if o and d == t) for t in grid],
            "censored": [sum(1 for d, o in zip(durations, observed, strict=True) if not o and d == t) for t in grid],
            "survival": [float(s) for s in survival],
            "lower": lower,
            "upper": upper,
        },
        schema=schema,
    )


def median_time(events: pl.DataFrame) -> float | None:
    """Median time to event (first day with ``S(t) <= 0.5``), or ``None`` when not reached.

    ``S(t)`` is a product of fractions, so an exact half (4/8) can come out as
    0.5000000000000001; it is compared with a tolerance of ``MEDIAN_TOLERANCE`` so that every
    row of a table follows one rule (docs/decisions/report.md).

    >>> median_time(pl.DataFrame({"duration": [2.0, 3, 3, 5, 8], "observed": [1, 1, 0, 1, 0]}))
    5.0
    """
    table = kaplan_meier(events)
    reached = table.filter(pl.col("survival") <= 0.5 + MEDIAN_TOLERANCE)
    return None if reached.is_empty() else float(reached["day"][0])


def last_efficacy_day(visits: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Per patient the day of the latest post-infusion assessment with a known ``flag``: where an
    efficacy event is censored (a relapse cannot be seen on a laboratory or adverse-event day).

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "A"], "day": [90, 274, 300], "r": [1, 1, None]})
    >>> last_efficacy_day(v, "r").rows()
    [('A', 274)]
    """
    known = visits.filter((pl.col("day") > 0) & pl.col(flag).is_not_null())
    return (
        known.group_by("patient_id")
        .agg(pl.col("day").max().cast(pl.Int64).alias("last_assessment_day"))
        .select(pl.col("patient_id").cast(pl.String), "last_assessment_day")
        .sort("patient_id")
    )


def derive_remission_duration(visits: pl.DataFrame, flag: str, deaths: pl.DataFrame | None = None) -> pl.DataFrame:
    """Duration of remission (relapse-free survival from first remission), per patient who was
    ever in remission.

    Time origin: the first assessment after day 0 with ``flag == 1``. Event: loss of remission (the
    first later assessment with ``flag == 0``) or death (``deaths``: ``patient_id``, ``death_day``),
    whichever is first. Censored at the last assessment with a known flag (efficacy censoring).
    ``duration`` is in days since the first remission.

    >>> v = pl.DataFrame({"patient_id": ["A"] * 3 + ["B"] * 3, "day": [91, 183, 274, 91, 183, 274],
    ...                   "r": [1, 1, 0, 0, 1, 1]})
    >>> derive_remission_duration(v, "r").rows()
    [('A', 183.0, 1), ('B', 91.0, 0)]
    """
    relapses = derive_relapses(visits, flag).filter(pl.col("remission_day").is_not_null())
    if relapses.is_empty():
        return pl.DataFrame(schema=EVENT_SCHEMA)
    table = relapses.join(last_efficacy_day(visits, flag), on="patient_id", how="left")
    if deaths is not None and not deaths.is_empty():
        table = table.join(deaths.select("patient_id", "death_day"), on="patient_id", how="left").with_columns(
            death_day=pl.when(pl.col("death_day") >= pl.col("remission_day")).then(pl.col("death_day"))
        )
    else:
        table = table.with_columns(death_day=pl.lit(None, pl.Int64))
    event_day = pl.min_horizontal("relapse_day", "death_day")
    return table.select(
        pl.col("patient_id").cast(pl.String),
        (pl.coalesce(event_day, "last_assessment_day") - pl.col("remission_day")).cast(pl.Float64).alias("duration"),
        event_day.is_not_null().cast(pl.Int8).alias("observed"),
    ).sort("patient_id")


def derive_time_to_sustained(runs: pl.DataFrame, visits: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Time from infusion to the onset of the first *sustained* remission run (``runs`` from
    :func:`remission.analysis.durations.derive_remission_runs`); patients without one are censored
    at their last assessment with a known ``flag``. The event day is the run's first day (the
    onset), known only once the run has lasted the minimum duration.

    >>> runs = pl.DataFrame({"patient_id": ["A"], "start_day": [91], "sustained": [1]})
    >>> v = pl.DataFrame({"patient_id": ["A", "A", "B"], "day": [91, 300, 200], "r": [1, 1, 1]})
    >>> derive_time_to_sustained(runs, v, "r").rows()
    [('A', 91.0, 1), ('B', 200.0, 0)]
    """
    last = last_efficacy_day(visits, flag)
    if last.is_empty():
        return pl.DataFrame(schema=EVENT_SCHEMA)
    first = (
        runs.filter(pl.col("sustained") == 1)
        .group_by("patient_id")
        .agg(pl.col("start_day").min().alias("_onset"))
        .select(pl.col("patient_id").cast(pl.String), "_onset")
    )
    return (
        last.join(first, on="patient_id", how="left")
        .select(
            "patient_id",
            pl.coalesce("_onset", "last_assessment_day").cast(pl.Float64).alias("duration"),
            pl.col("_onset").is_not_null().cast(pl.Int8).alias("observed"),
        )
        .sort("patient_id")
    )
