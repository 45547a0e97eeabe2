"""icaht — immune effector cell-associated haematotoxicity (EHA/EBMT 2023), per patient.

Source: Rejeski K, Subklewe M, Aljurf M, et al. Immune effector cell-associated hematotoxicity:
EHA/EBMT consensus grading and best practice recommendations. Blood 2023;142:865–77.
doi:10.1182/blood.2023020578

Input (long): ``patient_id``, ``day`` (0 = infusion), ``anc_10e9_l`` (10^9/L). One output row per
patient.

Early ICAHT (days 0–30): a daily series carries each measurement forward until the next one
(the latest measurement on or before day 0 gives day 0), from day 0 to day 30 when a measurement
falls after day 30, else to the last measurement. Runs of ANC ≤ 0.5 are joined unless ≥ 3
consecutive days > 0.5 separate them; a joined run spans from its first to its last
neutropenic day. ANC ≤ 0.1 counts the longest plain run. Grade by :data:`EHA_EBMT_2023`.
Days of the series before the first measurement are unknown: the grade is computed with them
least and most severe and given when both agree. Several measurements on one day: the lowest.

Late ICAHT (days 31–100): graded by the nadir when at least two measurements in the window are
≤ 1.5; 0 otherwise; empty when the window holds no measurement.

Examples
--------
>>> series = [{"day": d, "anc_10e9_l": a} for d, a in [(0, 2.0), (2, 0.4), (9, 0.05), (12, 0.8),
...           (14, 0.3), (16, 1.8), (40, 1.2), (60, 0.9)]]
>>> r = score_patient(series)
>>> (r["icaht_early_grade"], r["icaht_early_days_anc_le_0_5"], r["icaht_early_days_anc_le_0_1"],
...  r["icaht_late_grade"])
(3, 14, 3, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from remission.errors import InvalidInputError
from remission.indices._base import (
    Column,
    Context,
    IndexDefinition,
    Option,
    ScalarResult,
    validate_table,
)


@dataclass(frozen=True)
class IcahtGrading:
    """An ICAHT grading system as data (thresholds in 10^9/L, durations in days)."""

    name: str
    version: str
    source: str
    severe_anc: float
    profound_anc: float
    recovery_days: int
    early_last_day: int
    severe_bands: tuple[tuple[int, int | None, int], ...]  # (min days, max days or None, grade)
    profound_bands: tuple[tuple[int, int | None, int], ...]
    late_first_day: int
    late_last_day: int
    late_threshold: float
    late_min_count: int
    late_bands: tuple[tuple[float, int], ...]  # (ANC ≤ limit, grade), most severe first


#: EHA/EBMT 2023 (Rejeski 2023, Table 2): early ICAHT by the duration of ANC ≤ 500/µL (1–6 days
#: → 1, 7–13 → 2, 14–30 → 3, ≥ 31 → 4) or ≤ 100/µL (7–13 → 3, ≥ 14 → 4); late ICAHT (after day
#: 30) by ANC ≤ 1500 (1), ≤ 1000 (2), ≤ 500 (3), ≤ 100/µL (4), needing ≥ 2 measurements ≤ 1500.
EHA_EBMT_2023 = IcahtGrading(
    name="eha-ebmt-2023",
    version="2023",
    source="Rejeski K, et al. Blood 2023;142:865–77",
    severe_anc=0.5,
    profound_anc=0.1,
    recovery_days=3,
    early_last_day=30,
    severe_bands=((1, 6, 1), (7, 13, 2), (14, 30, 3), (31, None, 4)),
    profound_bands=((7, 13, 3), (14, None, 4)),
    late_first_day=31,
    late_last_day=100,
    late_threshold=1.5,
    late_min_count=2,
    late_bands=((0.1, 4), (0.5, 3), (1.0, 2), (1.5, 1)),
)
GRADINGS: dict[str, IcahtGrading] = {g.name: g for g in (EHA_EBMT_2023,)}

COLUMNS: tuple[Column, ...] = (Column("anc_10e9_l", "float", "absolute neutrophil count", "10^9/L", 0, 100),)
#: Output columns besides ``patient_id`` (which compute returns first).
OUTPUTS = (
    "icaht_early_grade",
    "icaht_late_grade",
    "icaht_early_days_anc_le_0_5",
    "icaht_early_days_anc_le_0_1",
    "icaht_explain",
)
OPTIONS = (Option("grading", "choice", "eha-ebmt-2023", "ICAHT grading system", tuple(GRADINGS)),)


def _band(days: int, bands: tuple[tuple[int, int | None, int], ...]) -> int:
    for low, high, grade in bands:
        if days >= low and (high is None or days <= high):
            return grade
    return 0


# ------------------------------------------------------------------------------------------
# Scalar form (pure Python, one patient)
# ------------------------------------------------------------------------------------------


def _longest_plain(flags: list[bool]) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _longest_joined(flags: list[bool], recovery_days: int) -> int:
    runs: list[list[int]] = []
    for i, flag in enumerate(flags):
        if not flag:
            continue
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        elif runs and i - runs[-1][1] - 1 < recovery_days:
            runs[-1][1] = i  # gap without stable recovery: join
        else:
            runs.append([i, i])
    return max((end - start + 1 for start, end in runs), default=0)


def daily_series(days_anc: Iterable[tuple[int, float]], last_day: int = 30) -> list[float | None]:
    """The carried-forward daily ANC series from day 0 (None = before the first measurement).

    >>> daily_series([(-1, 1.0), (2, 0.3), (4, 0.6)])
    [1.0, 1.0, 0.3, 0.3, 0.6]
    >>> daily_series([(1, 0.3), (35, 2.0)])[:3], len(daily_series([(1, 0.3), (35, 2.0)]))
    ([None, 0.3, 0.3], 31)
    """
    by_day: dict[int, float] = {}
    for day, anc in days_anc:
        by_day[day] = min(anc, by_day.get(day, anc))
    if not by_day:
        return []
    end = last_day if max(by_day) > last_day else max(by_day)
    series: list[float | None] = []
    current: float | None = None
    earlier = [d for d in by_day if d <= 0]
    if earlier:
        current = by_day[max(earlier)]
    for day in range(0, end + 1):
        current = by_day.get(day, current)
        series.append(current)
    return series


def score_patient(rows: Iterable[Mapping[str, Any]], *, grading: str = "eha-ebmt-2023") -> ScalarResult:
    """Grade early and late ICAHT for one patient's ANC series (scalar form).

    Parameters
    ----------
    rows : iterable of mappings
        ``day`` (integer, 0 = infusion) and ``anc_10e9_l`` (10^9/L; None = not measured).
    grading : str
        A key of :data:`GRADINGS`.

    Returns
    -------
    ScalarResult
        ``icaht_early_grade`` (0–4), ``icaht_late_grade`` (0–4), the two durations and
        ``icaht_explain``; None where the data cannot decide.

    Examples
    --------
    >>> r = score_patient([{"day": d, "anc_10e9_l": 0.05} for d in range(0, 31)])
    >>> r["icaht_early_grade"], r["icaht_early_days_anc_le_0_5"], r["icaht_late_grade"]
    (4, 31, None)
    """
    g = GRADINGS[grading]
    table = pl.DataFrame(
        [{"patient_id": "p", "day": r.get("day"), "anc_10e9_l": r.get("anc_10e9_l")} for r in rows],
        schema={"patient_id": pl.Utf8, "day": pl.Int64, "anc_10e9_l": pl.Float64},
    )
    checked = validate_table(table, INDEX)
    if checked.problems:
        raise InvalidInputError(checked.problems)
    points = [
        (int(d), float(a))
        for d, a in zip(checked.typed["day"], checked.typed["anc_10e9_l"], strict=True)
        if a is not None
    ]
    values: dict[str, Any] = {"patient_id": "p"}
    values.update(_early_scalar(points, g))
    values.update(_late_scalar(points, g))
    values["icaht_explain"] = _explain_text(values, g)
    return ScalarResult(values)


def _early_scalar(points: list[tuple[int, float]], g: IcahtGrading) -> dict[str, Any]:
    empty = {
        "icaht_early_grade": None,
        "icaht_early_days_anc_le_0_5": None,
        "icaht_early_days_anc_le_0_1": None,
    }
    if not any(0 <= d <= g.early_last_day for d, _ in points):
        return empty
    series = daily_series(points, g.early_last_day)
    results = []
    for unknown in (False, True):
        severe = [unknown if a is None else a <= g.severe_anc for a in series]
        profound = [unknown if a is None else a <= g.profound_anc for a in series]
        span, plain = _longest_joined(severe, g.recovery_days), _longest_plain(profound)
        results.append((max(_band(span, g.severe_bands), _band(plain, g.profound_bands)), span, plain))
    (lg, ls, lp), (hg, hs, hp) = results
    return {
        "icaht_early_grade": lg if lg == hg else None,
        "icaht_early_days_anc_le_0_5": ls if ls == hs else None,
        "icaht_early_days_anc_le_0_1": lp if lp == hp else None,
    }


def _late_scalar(points: list[tuple[int, float]], g: IcahtGrading) -> dict[str, Any]:
    window = [a for d, a in points if g.late_first_day <= d <= g.late_last_day]
    if not window:
        return {"icaht_late_grade": None, "_nadir": None, "_n_low": None}
    n_low = sum(a <= g.late_threshold for a in window)
    nadir = min(window)
    grade = 0
    if n_low >= g.late_min_count:
        grade = next((grade for limit, grade in g.late_bands if nadir <= limit), 0)
    return {"icaht_late_grade": grade, "_nadir": nadir, "_n_low": n_low}


def _explain_text(values: dict[str, Any], g: IcahtGrading) -> str:
    def show(v: Any) -> str:
        return "?" if v is None else str(v)

    early = (
        f"early: anc_le_{g.severe_anc:g}_days={show(values['icaht_early_days_anc_le_0_5'])}, "
        f"anc_le_{g.profound_anc:g}_days={show(values['icaht_early_days_anc_le_0_1'])}"
    )
    late = (
        "late: no measurement"
        if values.get("_nadir") is None
        else f"late: nadir={values['_nadir']}, n_le_{g.late_threshold:g}={values['_n_low']}"
    )
    text = f"{early}; {late}"
    for key in ("_nadir", "_n_low"):
        values.pop(key, None)
    return text


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _runs(grid: pl.DataFrame, flag: str, recovery_days: int) -> pl.DataFrame:
    """Per patient: longest plain run and longest joined span of ``flag`` (grid sorted by day)."""
    pid = "patient_id"
    seg = grid.with_columns((pl.col(flag) != pl.col(flag).shift(1)).fill_null(True).cum_sum().over(pid).alias("_seg"))
    segments = (
        seg.group_by(pid, "_seg", maintain_order=True)
        .agg(
            pl.col(flag).first().alias("_v"),
            pl.len().alias("_len"),
            pl.col("day").min().alias("_first"),
            pl.col("day").max().alias("_last"),
        )
        .sort(pid, "_seg")
        .with_columns((~pl.col("_v") & (pl.col("_len") >= recovery_days)).cum_sum().over(pid).alias("_grp"))
    )
    true_segments = segments.filter(pl.col("_v"))
    plain = true_segments.group_by(pid).agg(pl.col("_len").max().alias("plain"))
    joined = (
        true_segments.group_by(pid, "_grp")
        .agg((pl.col("_last").max() - pl.col("_first").min() + 1).alias("span"))
        .group_by(pid)
        .agg(pl.col("span").max())
    )
    return plain.join(joined, on=pid, how="full", coalesce=True)


def _band_expr(days: pl.Expr, bands: tuple[tuple[int, int | None, int], ...]) -> pl.Expr:
    expr = pl.lit(0)
    for low, high, grade in bands:
        cond = days >= low if high is None else days.is_between(low, high)
        expr = pl.when(cond).then(grade).otherwise(expr)
    return expr


def _early(meas: pl.DataFrame, patients: pl.DataFrame, g: IcahtGrading) -> pl.DataFrame:
    pid = "patient_id"
    daily = meas.group_by(pid, "day").agg(pl.col("anc_10e9_l").min()).sort("day")  # sorted by day: asof needs it
    ends = (
        meas.group_by(pid)
        .agg(
            pl.col("day").is_between(0, g.early_last_day).any().alias("_has_early"),
            pl.when(pl.col("day").max() > g.early_last_day)
            .then(g.early_last_day)
            .otherwise(pl.col("day").max())
            .alias("_end"),
        )
        .filter(pl.col("_has_early"))
    )
    grid = (
        ends.select(pid, pl.int_ranges(0, pl.col("_end") + 1, dtype=pl.Int64).alias("day"))
        .explode("day")
        .sort("day")
        .join_asof(daily, on="day", by=pid, strategy="backward", check_sortedness=False)
        .sort(pid, "day")
    )
    out = ends.select(pid)
    for unknown, tag in ((False, "lo"), (True, "hi")):
        anc = pl.col("anc_10e9_l")
        flags = grid.with_columns(
            (anc <= g.severe_anc).fill_null(unknown).alias("_severe"),
            (anc <= g.profound_anc).fill_null(unknown).alias("_profound"),
        )
        severe = _runs(flags, "_severe", g.recovery_days).select(pid, pl.col("span").alias(f"span_{tag}"))
        profound = _runs(flags, "_profound", g.recovery_days).select(pid, pl.col("plain").alias(f"plain_{tag}"))
        out = out.join(severe, on=pid, how="left").join(profound, on=pid, how="left")
    out = out.with_columns(pl.col(r"^(span|plain)_(lo|hi)$").fill_null(0))
    grade = {
        tag: pl.max_horizontal(
            _band_expr(pl.col(f"span_{tag}"), g.severe_bands),
            _band_expr(pl.col(f"plain_{tag}"), g.profound_bands),
        )
        for tag in ("lo", "hi")
    }
    return out.select(
        pid,
        pl.when(grade["lo"] == grade["hi"]).then(grade["lo"]).alias("icaht_early_grade"),
        pl.when(pl.col("span_lo") == pl.col("span_hi")).then(pl.col("span_lo")).alias("icaht_early_days_anc_le_0_5"),
        pl.when(pl.col("plain_lo") == pl.col("plain_hi")).then(pl.col("plain_lo")).alias("icaht_early_days_anc_le_0_1"),
    )


def _late(meas: pl.DataFrame, g: IcahtGrading) -> pl.DataFrame:
    window = meas.filter(pl.col("day").is_between(g.late_first_day, g.late_last_day))
    nadir = pl.col("_nadir")
    grade = pl.lit(0)
    for limit, value in reversed(g.late_bands):
        grade = pl.when(nadir <= limit).then(value).otherwise(grade)
    return (
        window.group_by("patient_id")
        .agg(
            pl.col("anc_10e9_l").min().alias("_nadir"),
            (pl.col("anc_10e9_l") <= g.late_threshold).sum().alias("_n_low"),
        )
        .with_columns(pl.when(pl.col("_n_low") >= g.late_min_count).then(grade).otherwise(0).alias("icaht_late_grade"))
    )


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised early and late ICAHT: one row per patient, in order of first appearance."""
    g = GRADINGS[ctx.options.get("grading") or "eha-ebmt-2023"]
    patients = visits.select("patient_id").unique(maintain_order=True)
    meas = visits.filter(pl.col("anc_10e9_l").is_not_null()).select("patient_id", "day", "anc_10e9_l")
    out = patients.join(_early(meas, patients, g), on="patient_id", how="left").join(
        _late(meas, g), on="patient_id", how="left"
    )
    int_cols = (
        "icaht_early_grade",
        "icaht_late_grade",
        "icaht_early_days_anc_le_0_5",
        "icaht_early_days_anc_le_0_1",
    )
    out = out.with_columns([pl.col(c).cast(pl.Int64) for c in int_cols])
    if not ctx.explain:
        return out.select("patient_id", *OUTPUTS[:-1])

    def show(col: str) -> pl.Expr:
        return pl.col(col).cast(pl.Utf8).fill_null("?")

    explain = pl.concat_str(
        pl.lit(f"early: anc_le_{g.severe_anc:g}_days="),
        show("icaht_early_days_anc_le_0_5"),
        pl.lit(f", anc_le_{g.profound_anc:g}_days="),
        show("icaht_early_days_anc_le_0_1"),
        pl.when(pl.col("_nadir").is_null())
        .then(pl.lit("; late: no measurement"))
        .otherwise(
            pl.concat_str(
                pl.lit("; late: nadir="),
                pl.col("_nadir").cast(pl.Utf8),
                pl.lit(f", n_le_{g.late_threshold:g}="),
                pl.col("_n_low").cast(pl.Utf8),
            )
        ),
    )
    return out.with_columns(explain.alias("icaht_explain")).select("patient_id", *OUTPUTS)


INDEX = IndexDefinition(
    name="icaht",
    title="ICAHT — immune effector cell-associated haematotoxicity (EHA/EBMT 2023)",
    source="Rejeski K, Subklewe M, Aljurf M, et al. Blood 2023;142:865–77.",
    doi="10.1182/blood.2023020578",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_patient,
    layout="per_patient",
    options=OPTIONS,
    version="eha-ebmt-2023",
    missing_rule=(
        "empty ANC cells are not measurements; days before the first measurement are unknown and a "
        "grade is given only when it does not depend on them; early empty without a measurement on "
        "days "
        "0–30, late empty without one on days 31–100"
    ),
)
