"""Per-patient toxicity summary, like the CIBMTR cellular-therapy forms (pure polars).

Each ``summarise_*`` function takes a long table (``patient_id``, ``day`` …, already validated and
typed; grades already computed with the ``crs``/``icans`` indices) and returns one row per
patient. :func:`summarise_safety` joins whichever are given. Thresholds are parameters
(:class:`SafetyParameters`); decisions are recorded in ``docs/decisions/safety.md``.

Tables and their columns
------------------------
* CRS / ICANS assessments: ``patient_id``, ``day``, ``crs_grade`` / ``icans_grade``.
* medications: ``patient_id``, ``drug`` (name, case-insensitive), ``start_day``, ``stop_day``
  (empty = ongoing).
* ANC: ``patient_id``, ``day``, ``anc_10e9_l`` (graded with the ``icaht`` index).
* infections: ``patient_id``, ``onset_day``, ``ctcae_grade`` (1–5; or derived, see
  :func:`derive_infection_grade`), ``hospitalised`` (0/1), ``organism``, ``site``,
  ``resolution_day``.
* IgG: ``patient_id``, ``day``, ``igg_g_l``; B cells: ``cd19_cells_ul``; CAR-T:
  ``car_t_cells_ul``.

Examples
--------
>>> import polars as pl
>>> crs = pl.DataFrame({"patient_id": ["a"] * 4, "day": [0, 1, 2, 3], "crs_grade": [0, 1, 2, 0]})
>>> meds = pl.DataFrame({"patient_id": ["a"], "drug": ["Tocilizumab"], "start_day": [2],
...                      "stop_day": [2]})
>>> summarise_crs(crs, meds).columns[1:]
['crs_onset_day', 'crs_max_grade', 'crs_duration_days', 'crs_tocilizumab', 'crs_steroids']
>>> summarise_crs(crs, meds).row(0)
('a', 1, 2, 2, 1, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

PID = "patient_id"

#: Systemic glucocorticoids (../shared/specs/medications.md), matched case-insensitively.
GLUCOCORTICOIDS: tuple[str, ...] = (
    "prednisone",
    "prednisolone",
    "methylprednisolone",
    "hydrocortisone",
    "cortisone",
    "dexamethasone",
    "betamethasone",
    "triamcinolone",
    "deflazacort",
    "budesonide",
)


@dataclass(frozen=True)
class SafetyParameters:
    """Thresholds of the summary (protocol parameters, with the trials' defaults).

    igg_lln_g_l : IgG lower limit of normal, g/L (hypogammaglobulinaemia below it).
    igg_severe_g_l : severe hypogammaglobulinaemia below it, g/L (IVIG trigger).
    b_cell_aplasia_cells_ul : B-cell aplasia when CD19+ cells/µL are below it.
    car_t_auc_last_day : the CAR-T AUC runs from day 0 to this day.
    car_t_detection_limit : CAR-T cells/µL above this are detectable.
    """

    igg_lln_g_l: float = 7.0
    igg_severe_g_l: float = 4.0
    b_cell_aplasia_cells_ul: float = 1.0
    car_t_auc_last_day: int = 28
    car_t_detection_limit: float = 0.0
    tocilizumab: tuple[str, ...] = ("tocilizumab",)
    steroids: tuple[str, ...] = GLUCOCORTICOIDS


DEFAULT = SafetyParameters()


# ------------------------------------------------------------------------------------------
# CRS and ICANS
# ------------------------------------------------------------------------------------------


def _episodes(assessments: pl.DataFrame, grade: str, prefix: str) -> pl.DataFrame:
    present = pl.col(grade) >= 1
    return (
        assessments.group_by(PID, maintain_order=True)
        .agg(
            pl.col("day").filter(present).min().alias(f"{prefix}_onset_day"),
            pl.col(grade).max().alias(f"{prefix}_max_grade"),
            pl.col("day").filter(present).max().alias("_last"),
        )
        .with_columns(
            (pl.col("_last") - pl.col(f"{prefix}_onset_day") + 1).alias(f"{prefix}_duration_days"),
        )
    )


def _treated(
    episodes: pl.DataFrame,
    medications: pl.DataFrame | None,
    drugs: tuple[str, ...],
    prefix: str,
    name: str,
) -> pl.Expr | pl.DataFrame:
    column = f"{prefix}_{name}"
    if medications is None:
        return episodes.with_columns(pl.lit(None, pl.Int8).alias(column))
    wanted = [d.lower() for d in drugs]
    meds = medications.select(
        PID,
        pl.col("drug").cast(pl.Utf8).str.strip_chars().str.to_lowercase().alias("_drug"),
        pl.col("start_day").cast(pl.Int64).alias("_start"),
        pl.col("stop_day").cast(pl.Int64).alias("_stop"),
    ).filter(pl.col("_drug").is_in(wanted))
    overlap = (
        episodes.select(PID, f"{prefix}_onset_day", "_last")
        .join(meds, on=PID, how="inner")
        .filter(
            (pl.col("_start") <= pl.col("_last"))
            & (pl.col("_stop").is_null() | (pl.col("_stop") >= pl.col(f"{prefix}_onset_day")))
        )
        .select(PID)
        .unique()
        .with_columns(pl.lit(1, pl.Int8).alias(column))
    )
    return episodes.join(overlap, on=PID, how="left").with_columns(pl.col(column).fill_null(0))


def _summarise_episode(
    assessments: pl.DataFrame,
    medications: pl.DataFrame | None,
    grade: str,
    prefix: str,
    params: SafetyParameters,
    with_tocilizumab: bool,
) -> pl.DataFrame:
    out = _episodes(assessments, grade, prefix)
    if with_tocilizumab:
        out = _treated(out, medications, params.tocilizumab, prefix, "tocilizumab")  # type: ignore[assignment]
    out = _treated(out, medications, params.steroids, prefix, "steroids")  # type: ignore[assignment]
    return out.drop("_last")


def summarise_crs(
    crs: pl.DataFrame, medications: pl.DataFrame | None = None, params: SafetyParameters = DEFAULT
) -> pl.DataFrame:
    """Per patient: CRS onset day, maximum grade, duration and treatment.

    ``crs_onset_day`` is the first day graded ≥ 1; ``crs_duration_days`` runs from onset to the
    last day graded ≥ 1, inclusive; ``crs_max_grade`` is the highest known grade (0 when never
    ≥ 1). ``crs_tocilizumab``/``crs_steroids`` are 1 when such a drug was given on a day of the
    episode (start ≤ last CRS day and stop ≥ onset), 0 otherwise, empty without a medications table.
    """
    return _summarise_episode(crs, medications, "crs_grade", "crs", params, with_tocilizumab=True)


def summarise_icans(
    icans: pl.DataFrame, medications: pl.DataFrame | None = None, params: SafetyParameters = DEFAULT
) -> pl.DataFrame:
    """Per patient: ICANS onset day, maximum grade, duration, and steroids (as for CRS).

    >>> icans = pl.DataFrame({"patient_id": ["a", "a", "b"], "day": [5, 6, 5],
    ...                       "icans_grade": [1, 0, 0]})
    >>> summarise_icans(icans).rows()
    [('a', 5, 1, 1, None), ('b', None, 0, None, None)]
    """
    return _summarise_episode(icans, medications, "icans_grade", "icans", params, with_tocilizumab=False)


# ------------------------------------------------------------------------------------------
# ICAHT
# ------------------------------------------------------------------------------------------


def summarise_icaht(anc: pl.DataFrame) -> pl.DataFrame:
    """Per patient: early and late ICAHT grades (the ``icaht`` index, EHA/EBMT 2023)."""
    from remission.api import score

    inputs = [c for c in ("patient_id", "day", "anc_10e9_l") if c in anc.columns]
    return score("icaht", anc.select(inputs), explain=False)


# ------------------------------------------------------------------------------------------
# Infections (CTCAE v5.0)
# ------------------------------------------------------------------------------------------

#: CTCAE v5.0 "Infections and infestations" grade by the most severe feature present:
#: (feature column, grade). Grade 1 when none applies (mild, no intervention).
INFECTION_GRADES: tuple[tuple[str, int], ...] = (
    ("death", 5),
    ("life_threatening", 4),
    ("iv_anti_infective", 3),
    ("invasive_intervention", 3),
    ("hospitalised", 3),
    ("oral_anti_infective", 2),
)


def derive_infection_grade(infections: pl.DataFrame) -> pl.DataFrame:
    """Add ``ctcae_grade`` where empty, from the 0/1 feature columns of :data:`INFECTION_GRADES`.

    An empty cell makes the derived grade empty unless the known features already give it; an
    absent column counts as a feature not present.

    >>> t = pl.DataFrame({"iv_anti_infective": [1, 0, None], "oral_anti_infective": [0, 1, 0]})
    >>> derive_infection_grade(t)["ctcae_grade"].to_list()
    [3, 2, None]
    """
    features = [(c, g) for c, g in INFECTION_GRADES]

    def bound(fill: bool) -> pl.Expr:
        terms = [
            pl.when(pl.col(c).cast(pl.Boolean).fill_null(fill) if c in infections.columns else pl.lit(False))
            .then(g)
            .otherwise(1)
            for c, g in features
        ]
        return pl.max_horizontal(terms)

    derived = pl.when(bound(False) == bound(True)).then(bound(False)).cast(pl.Int64)
    given = pl.col("ctcae_grade").cast(pl.Int64) if "ctcae_grade" in infections.columns else pl.lit(None, pl.Int64)
    return infections.with_columns(pl.coalesce(given, derived).alias("ctcae_grade"))


def summarise_infections(infections: pl.DataFrame) -> pl.DataFrame:
    """Per patient: number of infections, max CTCAE grade, grade ≥ 3 and serious counts,
    first onset day and organisms.

    ``serious`` = hospitalised (1). Organisms: the distinct non-empty names, sorted, ``; ``-joined.

    >>> inf = pl.DataFrame({"patient_id": ["a", "a"], "onset_day": [12, 40], "ctcae_grade": [2, 3],
    ...                     "hospitalised": [0, 1], "organism": ["SARS-CoV-2", "E. coli"]})
    >>> summarise_infections(inf).row(0)
    ('a', 2, 3, 1, 1, 12, 'E. coli; SARS-CoV-2')
    """
    table = derive_infection_grade(infections)
    hosp = pl.col("hospitalised").cast(pl.Boolean) if "hospitalised" in table.columns else pl.lit(None, pl.Boolean)
    organism = pl.col("organism").cast(pl.Utf8) if "organism" in table.columns else pl.lit(None, pl.Utf8)
    return table.group_by(PID, maintain_order=True).agg(
        pl.len().cast(pl.Int64).alias("infections_n"),
        pl.col("ctcae_grade").max().alias("infections_max_grade"),
        (pl.col("ctcae_grade") >= 3).sum().cast(pl.Int64).alias("infections_grade3plus_n"),
        hosp.sum().cast(pl.Int64).alias("infections_serious_n"),
        pl.col("onset_day").min().cast(pl.Int64).alias("infections_first_day"),
        organism.str.strip_chars()
        .filter(organism.str.strip_chars() != "")
        .unique()
        .sort()
        .str.join("; ")
        .alias("infections_organisms"),
    )


# ------------------------------------------------------------------------------------------
# Hypogammaglobulinaemia
# ------------------------------------------------------------------------------------------


def summarise_igg(igg: pl.DataFrame, params: SafetyParameters = DEFAULT) -> pl.DataFrame:
    """Per patient: baseline and nadir IgG, (new-onset) and severe hypogammaglobulinaemia.

    Baseline = the latest IgG on or before day 0. After infusion (day > 0):
    ``hypogammaglobulinemia`` = any IgG < LLN; ``new_hypogammaglobulinemia`` = that with a
    baseline ≥ LLN (0 when the baseline is already < LLN; empty without a baseline);
    ``severe_hypogammaglobulinemia`` = any IgG < the severe threshold. ``*_day`` = first such day.

    >>> igg = pl.DataFrame({"patient_id": ["a"] * 3, "day": [-7, 30, 90],
    ...                     "igg_g_l": [9.1, 6.5, 3.8]})
    >>> summarise_igg(igg).select("new_hypogammaglobulinemia", "new_hypogammaglobulinemia_day",
    ...                           "severe_hypogammaglobulinemia_day").row(0)
    (1, 30, 90)
    """
    lln, severe = params.igg_lln_g_l, params.igg_severe_g_l
    known = igg.filter(pl.col("igg_g_l").is_not_null()).sort(PID, "day")
    post = pl.col("day") > 0
    low, very_low = post & (pl.col("igg_g_l") < lln), post & (pl.col("igg_g_l") < severe)
    out = known.group_by(PID, maintain_order=True).agg(
        pl.col("igg_g_l").filter(pl.col("day") <= 0).last().alias("igg_baseline_g_l"),
        pl.col("igg_g_l").filter(post).min().alias("igg_nadir_g_l"),
        post.any().alias("_post"),
        low.any().alias("_low"),
        very_low.any().alias("_very_low"),
        pl.col("day").filter(low).min().alias("_low_day"),
        pl.col("day").filter(very_low).min().alias("severe_hypogammaglobulinemia_day"),
    )
    base = pl.col("igg_baseline_g_l")
    new = (
        pl.when(~pl.col("_post"))
        .then(None)
        .when(base.is_not_null() & (base < lln))
        .then(False)
        .when(~pl.col("_low"))
        .then(False)
        .when(base.is_null())
        .then(None)
        .otherwise(True)
    )
    out = out.with_columns(
        pl.when(pl.col("_post")).then(pl.col("_low")).cast(pl.Int8).alias("hypogammaglobulinemia"),
        new.cast(pl.Int8).alias("new_hypogammaglobulinemia"),
        pl.when(new).then(pl.col("_low_day")).alias("new_hypogammaglobulinemia_day"),
        pl.when(pl.col("_post")).then(pl.col("_very_low")).cast(pl.Int8).alias("severe_hypogammaglobulinemia"),
    )
    return (
        igg.select(PID)
        .unique(maintain_order=True)
        .join(out, on=PID, how="left")
        .select(
            PID,
            "igg_baseline_g_l",
            "igg_nadir_g_l",
            "hypogammaglobulinemia",
            "new_hypogammaglobulinemia",
            "new_hypogammaglobulinemia_day",
            "severe_hypogammaglobulinemia",
            "severe_hypogammaglobulinemia_day",
        )
    )


# ------------------------------------------------------------------------------------------
# B-cell aplasia
# ------------------------------------------------------------------------------------------


def summarise_b_cells(cd19: pl.DataFrame, params: SafetyParameters = DEFAULT) -> pl.DataFrame:
    """Per patient: first day of B-cell aplasia, reconstitution day and aplasia duration.

    Aplasia starts at the first measurement after infusion (day > 0) below the threshold;
    reconstitution is the first later measurement ≥ threshold; duration = reconstitution −
    start (days), empty while ongoing (``b_cell_aplasia_ongoing`` = 1).

    >>> b = pl.DataFrame({"patient_id": ["a"] * 4, "day": [-5, 7, 60, 112],
    ...                   "cd19_cells_ul": [180.0, 0.0, 0.4, 35.0]})
    >>> summarise_b_cells(b).row(0)
    ('a', 7, 112, 105, 0, 112)
    """
    thr = params.b_cell_aplasia_cells_ul
    known = cd19.filter(pl.col("cd19_cells_ul").is_not_null() & (pl.col("day") > 0)).sort(PID, "day")
    start = pl.col("day").filter(pl.col("cd19_cells_ul") < thr).min()
    marked = known.with_columns(start.over(PID).alias("_start"))
    out = marked.group_by(PID, maintain_order=True).agg(
        pl.col("_start").first().alias("b_cell_aplasia_start_day"),
        pl.col("day")
        .filter((pl.col("day") > pl.col("_start")) & (pl.col("cd19_cells_ul") >= thr))
        .min()
        .alias("b_cell_reconstitution_day"),
        pl.col("day").max().alias("b_cell_last_day"),
    )
    out = out.with_columns(
        (pl.col("b_cell_reconstitution_day") - pl.col("b_cell_aplasia_start_day")).alias("b_cell_aplasia_days"),
        pl.when(pl.col("b_cell_aplasia_start_day").is_not_null())
        .then(pl.col("b_cell_reconstitution_day").is_null())
        .otherwise(False)
        .cast(pl.Int8)
        .alias("b_cell_aplasia_ongoing"),
    )
    return (
        cd19.select(PID)
        .unique(maintain_order=True)
        .join(out, on=PID, how="left")
        .select(
            PID,
            "b_cell_aplasia_start_day",
            "b_cell_reconstitution_day",
            "b_cell_aplasia_days",
            "b_cell_aplasia_ongoing",
            "b_cell_last_day",
        )
    )


# ------------------------------------------------------------------------------------------
# CAR-T expansion
# ------------------------------------------------------------------------------------------


def summarise_car_t(car_t: pl.DataFrame, params: SafetyParameters = DEFAULT) -> pl.DataFrame:
    """Per patient: CAR-T peak day and level, AUC day 0–28 (trapezoid) and last detectable day.

    The AUC (cells/µL × days) joins the measurements on days 0 … ``car_t_auc_last_day`` by
    straight lines (linear trapezoid), without extrapolation beyond the first and last of them.
    Peak day: the first day the maximum is reached. Last detectable: the last day with a level
    above ``car_t_detection_limit``.

    >>> t = pl.DataFrame({"patient_id": ["a"] * 5, "day": [0, 7, 9, 14, 28],
    ...                   "car_t_cells_ul": [0.0, 40.0, 60.0, 20.0, 0.0]})
    >>> summarise_car_t(t).row(0)
    ('a', 9, 60.0, 580.0, 14)
    """
    known = car_t.filter(pl.col("car_t_cells_ul").is_not_null()).sort(PID, "day")
    level = pl.col("car_t_cells_ul")
    window = known.filter(pl.col("day").is_between(0, params.car_t_auc_last_day))
    auc = (
        window.with_columns(
            ((level + level.shift(1).over(PID)) / 2 * (pl.col("day") - pl.col("day").shift(1).over(PID))).alias(
                "_piece"
            )
        )
        .group_by(PID)
        .agg(pl.when(pl.len() > 0).then(pl.col("_piece").sum()).alias("car_t_auc_0_28"))
    )
    out = known.group_by(PID, maintain_order=True).agg(
        pl.col("day").filter(level == level.max()).min().alias("car_t_peak_day"),
        level.max().alias("car_t_peak_cells_ul"),
        pl.col("day").filter(level > params.car_t_detection_limit).max().alias("car_t_last_detectable_day"),
    )
    return (
        car_t.select(PID)
        .unique(maintain_order=True)
        .join(out, on=PID, how="left")
        .join(auc, on=PID, how="left")
        .select(
            PID,
            "car_t_peak_day",
            "car_t_peak_cells_ul",
            "car_t_auc_0_28",
            "car_t_last_detectable_day",
        )
    )


# ------------------------------------------------------------------------------------------
# Everything together
# ------------------------------------------------------------------------------------------


def summarise_safety(
    *,
    crs: pl.DataFrame | None = None,
    icans: pl.DataFrame | None = None,
    anc: pl.DataFrame | None = None,
    infections: pl.DataFrame | None = None,
    igg: pl.DataFrame | None = None,
    cd19: pl.DataFrame | None = None,
    car_t: pl.DataFrame | None = None,
    medications: pl.DataFrame | None = None,
    params: SafetyParameters = DEFAULT,
) -> pl.DataFrame:
    """One row per patient joining every summary whose table is given (outer join on patient_id).

    >>> crs = pl.DataFrame({"patient_id": ["a", "b"], "day": [1, 1], "crs_grade": [1, 0]})
    >>> cd = pl.DataFrame({"patient_id": ["b"], "day": [10], "cd19_cells_ul": [0.0]})
    >>> out = summarise_safety(crs=crs, cd19=cd)
    >>> out.select("patient_id", "crs_max_grade", "b_cell_aplasia_start_day").rows()
    [('a', 1, None), ('b', 0, 10)]
    """
    parts: list[pl.DataFrame] = []
    if crs is not None:
        parts.append(summarise_crs(crs, medications, params))
    if icans is not None:
        parts.append(summarise_icans(icans, medications, params))
    if anc is not None:
        parts.append(summarise_icaht(anc))
    if infections is not None:
        parts.append(summarise_infections(infections))
    if igg is not None:
        parts.append(summarise_igg(igg, params))
    if cd19 is not None:
        parts.append(summarise_b_cells(cd19, params))
    if car_t is not None:
        parts.append(summarise_car_t(car_t, params))
    if not parts:
        return pl.DataFrame({PID: []}, schema={PID: pl.Utf8})
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, on=PID, how="full", coalesce=True)
    return out
