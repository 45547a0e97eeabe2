"""Daily drug exposure from medication records: prednisone equivalent and class flags.

Medication records (one row per prescription period), columns:

* ``patient_id`` (text), ``drug`` (name or synonym of the drug table), ``dose`` (per
  administration, ≥ 0), ``unit`` (``mg``, ``g``, ``ug``/``µg``/``mcg``; empty = mg), ``frequency`` (see
  :data:`FREQUENCIES`; a glucocorticoid's daily dose is converted by
  :mod:`remission.medications.dose`), ``route`` (empty = systemic), ``start_day``, ``stop_day`` (days relative to
  CAR-T infusion; ``stop_day`` is the last day taken, inclusive; empty = ongoing).

A record covers the days ``start_day ≤ day ≤ stop_day``; frequency ``once`` covers its start day
only (unless a stop day is given). An empty ``start_day`` (the source gives no start) covers every
day up to ``stop_day`` — a single dose of unknown date every day — so an unknown date is never
read as "not taking" (docs/decisions/imputation.md). The records are taken as complete: a day no record covers is
a day without that drug.

Examples
--------
>>> import polars as pl
>>> meds = pl.DataFrame({"patient_id": ["p1", "p1"], "drug": ["Medrol", "HCQ"],
...     "dose": [8.0, 200.0], "unit": ["mg", "mg"], "frequency": ["daily", "bid"],
...     "route": ["oral", "oral"], "start_day": [-30, -400], "stop_day": [10, None]})
>>> visits = pl.DataFrame({"patient_id": ["p1", "p1"], "day": [0, 30]})
>>> derive_medication_exposure(visits, meds).select("day", "prednisone_mg_day", "antimalarial")
shape: (2, 3)
┌─────┬───────────────────┬──────────────┐
│ day ┆ prednisone_mg_day ┆ antimalarial │
│ --- ┆ ---               ┆ ---          │
│ i64 ┆ f64               ┆ i8           │
╞═════╪═══════════════════╪══════════════╡
│ 0   ┆ 10.0              ┆ 1            │
│ 30  ┆ 0.0               ┆ 1            │
└─────┴───────────────────┴──────────────┘
"""

from __future__ import annotations

import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.indices._base import ROW, Column, IndexDefinition, ScalarResult, validate_table
from remission.medications.dose import (
    FREQUENCIES,
    LOCAL_ROUTES,
    SINGLE_DOSE,
    UNITS,
    DoseConversion,
    convert_to_prednisone_mg_day,
)
from remission.medications.table import DrugTable, default_table

__all__ = [
    "FREQUENCIES",
    "LOCAL_ROUTES",
    "UNITS",
    "derive_drug_free_days",
    "derive_medication_exposure",
    "validate_medications",
]

#: Classes counted as immunosuppression (immunomodulators such as IVIG count, medications.md).
IMMUNOSUPPRESSION: tuple[str, ...] = (
    "glucocorticoid",
    "immunosuppressant",
    "immunomodulator",
    "biologic",
)
FLAGS: dict[str, tuple[str, ...]] = {
    "antimalarial": ("antimalarial",),
    "immunosuppressant": ("immunosuppressant", "immunomodulator"),
    "biologic": ("biologic",),
}
_OPEN_END = 10**9

RECORD_COLUMNS: tuple[Column, ...] = (
    Column("patient_id", "text", "pseudonymous patient identifier", required=True),
    Column("drug", "text", "drug name or synonym (drug table)", required=True),
    Column("dose", "float", "dose per administration", "mg", 0, 1e6),
    Column(
        "unit",
        "text",
        "unit of dose (mg, g, ug/µg/mcg convert; another unit, e.g. mg/kg, leaves a glucocorticoid's dose unknown)",
    ),
    Column("frequency", "text", "administrations (QD, BID, Q8H, QW, ONCE, PRN …; medications/dose.py)"),
    Column("route", "text", "route of administration (empty = systemic)"),
    Column("start_day", "int", "first day taken (empty = not known: before any day)", "day", -36500, 36500),
    Column("stop_day", "int", "last day taken (empty = ongoing)", "day", -36500, 36500),
)


def _no_scalar() -> ScalarResult:  # pragma: no cover - records have no scalar form
    return ScalarResult(values={})


_RECORDS = IndexDefinition(
    name="medication records",
    title="medication records",
    source="medications.md",
    columns=RECORD_COLUMNS,
    outputs=(),
    compute=lambda frame, ctx: frame,
    scalar=_no_scalar,
)


def validate_medications(
    medications: pl.DataFrame, table: DrugTable | None = None, *, strict: bool = False
) -> pl.DataFrame:
    """Type and check medication records; raise one InvalidInputError listing every problem.

    Unit empty = mg. Each systemic glucocorticoid record's daily dose goes through
    :func:`remission.medications.dose.convert_to_prednisone_mg_day` (the one conversion the
    exports use too): an unknown or known-but-unconvertible unit or frequency (``mg/kg``, ``PRN``)
    leaves its prednisone equivalent empty, with the reason — or, with ``strict``, an unknown
    unit or frequency word is a problem naming the row. Other drugs' units and frequencies do not
    matter (beyond ``ONCE`` covering the start day only).

    Adds ``drug_class``, ``prednisone_mg_day`` (per record: the converted mg/day for systemic
    glucocorticoids; 0 for local routes and for other drugs; empty when not convertible),
    ``prednisone_status`` / ``prednisone_reason`` (the conversion's status and reason, empty for
    other drugs) and ``last_day`` (stop, start for single doses, or open-ended).
    """
    table = table or default_table()
    checked = validate_table(medications, _RECORDS)
    typed = checked.typed
    problems = list(checked.problems)
    aliases = table.aliases()
    classes: list[str | None] = []
    for row, name in enumerate(typed["drug"].to_list(), start=1):
        key = " ".join(str(name).split()).lower() if name is not None else None
        drug = aliases.get(key) if key is not None else None
        if key is not None and drug is None:
            problems.append(Problem(row, "drug", str(name), table.unknown_reason(key)))
        classes.append(drug.drug_class if drug else None)
    conversions = _conversions(typed, classes, table, strict, problems)
    bad_stop = typed.filter(pl.col("stop_day") < pl.col("start_day"))
    problems += [
        Problem(r + 1, "stop_day", str(v), "before start_day")
        for r, v in zip(bad_stop[ROW].to_list(), bad_stop["stop_day"].to_list(), strict=True)
    ]
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column))
        raise InvalidInputError(problems)
    daily = [0.0 if c is None else c.systemic_mg_day for c in conversions]
    return typed.with_columns(
        pl.Series("drug_class", classes, dtype=pl.Utf8),
        pl.Series("prednisone_mg_day", daily, dtype=pl.Float64),
        pl.Series("prednisone_status", [c.status if c else None for c in conversions], dtype=pl.Utf8),
        pl.Series("prednisone_reason", [c.reason if c else None for c in conversions], dtype=pl.Utf8),
        _last_day(),
    )


def _conversions(
    typed: pl.DataFrame, classes: list[str | None], table: DrugTable, strict: bool, problems: list[Problem]
) -> list[DoseConversion | None]:
    """The dose conversion of each glucocorticoid record (None for other drugs), computed once per
    distinct (drug, dose, unit, frequency, route); strict errors are added to ``problems``."""
    fields = typed.select("drug", "dose", "unit", "frequency", "route").rows()
    seen: dict[tuple[object, ...], DoseConversion | InvalidInputError] = {}
    out: list[DoseConversion | None] = []
    for row, (values, cls) in enumerate(zip(fields, classes, strict=True), start=1):
        if cls != "glucocorticoid":
            out.append(None)
            continue
        if values not in seen:
            drug, dose, unit, frequency, route = values
            try:
                seen[values] = convert_to_prednisone_mg_day(
                    drug, dose, unit, frequency, route, table=table, strict=strict
                )
            except InvalidInputError as err:
                seen[values] = err
        result = seen[values]
        if isinstance(result, InvalidInputError):
            problems += [Problem(row, p.column, p.value, p.reason) for p in result.problems]
            out.append(None)
        else:
            out.append(result)
    return out


def _is_single_dose() -> pl.Expr:
    word = pl.col("frequency").str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")
    return word.is_in(SINGLE_DOSE).fill_null(False)


def _last_day() -> pl.Expr:
    return (
        pl.when(pl.col("stop_day").is_not_null())
        .then(pl.col("stop_day"))
        .when(_is_single_dose() & pl.col("start_day").is_not_null())
        .then(pl.col("start_day"))
        .otherwise(pl.lit(_OPEN_END))
        .alias("last_day")
    )


def _started_by(day: pl.Expr) -> pl.Expr:
    # An unknown start (empty) counts as before any day: never read as "not yet taking".
    return pl.col("start_day").is_null() | (pl.col("start_day") <= day)


def _check_visits(visits: pl.DataFrame) -> None:
    missing = [c for c in ("patient_id", "day") if c not in visits.columns]
    if missing:
        raise InvalidInputError([Problem(None, c, "", "required column is missing from visits") for c in missing])


def derive_medication_exposure(
    visits: pl.DataFrame, medications: pl.DataFrame, *, table: DrugTable | None = None, strict: bool = False
) -> pl.DataFrame:
    """Add ``prednisone_mg_day``, ``antimalarial``, ``immunosuppressant``, ``biologic`` per visit.

    Parameters
    ----------
    visits : polars.DataFrame
        ``patient_id`` and ``day`` (integer, days relative to CAR-T infusion); other columns kept.
    medications : polars.DataFrame
        Medication records (module docstring).
    table : DrugTable or None
        Drug table (default: the shipped one).
    strict : bool
        An unknown dose unit or frequency of a glucocorticoid record is an error (naming the row)
        instead of an empty dose (:func:`validate_medications`).

    Returns
    -------
    polars.DataFrame
        ``visits`` with ``prednisone_mg_day`` (mg/day prednisone equivalent: the sum over systemic
        glucocorticoid records covering the day; empty when one of them has no usable dose) and
        the 0/1 flags ``antimalarial``, ``immunosuppressant`` (immunomodulators included) and
        ``biologic``.
    """
    _check_visits(visits)
    records = validate_medications(medications, table, strict=strict)
    keyed = visits.with_row_index("__visit").select("__visit", "patient_id", pl.col("day").cast(pl.Int64))
    covered = keyed.join(records, on="patient_id", how="inner").filter(
        _started_by(pl.col("day")) & (pl.col("day") <= pl.col("last_day"))
    )
    glucocorticoid = pl.col("drug_class") == "glucocorticoid"
    per_visit = covered.group_by("__visit").agg(
        pl.when((glucocorticoid & pl.col("prednisone_mg_day").is_null()).any())
        .then(None)
        .otherwise(pl.col("prednisone_mg_day").fill_null(0.0).sum())
        .alias("prednisone_mg_day"),
        *[pl.col("drug_class").is_in(classes).any().cast(pl.Int8).alias(name) for name, classes in FLAGS.items()],
        pl.lit(True).alias("__covered"),
    )
    joined = keyed.join(per_visit, on="__visit", how="left").sort("__visit")
    added = joined.select(
        pl.when(pl.col("__covered")).then(pl.col("prednisone_mg_day")).otherwise(0.0).alias("prednisone_mg_day"),
        *[pl.col(name).fill_null(0).cast(pl.Int8) for name in FLAGS],
    )
    return pl.concat([visits.drop([c for c in added.columns if c in visits.columns]), added], how="horizontal")


def derive_drug_free_days(
    visits: pl.DataFrame,
    medications: pl.DataFrame,
    *,
    allow_antimalarial: bool = False,
    table: DrugTable | None = None,
) -> pl.DataFrame:
    """Add, as of each visit's day, the last glucocorticoid day, the immunosuppression stop day
    and the number of drug-free days.

    Parameters
    ----------
    visits : polars.DataFrame
        ``patient_id`` and ``day``; other columns kept.
    medications : polars.DataFrame
        Medication records (module docstring).
    allow_antimalarial : bool
        Antimalarials do not end drug-free time (as DORIS ``allow_antimalarial``).
    table : DrugTable or None
        Drug table (default: the shipped one).

    Returns
    -------
    polars.DataFrame
        ``visits`` with

        * ``last_glucocorticoid_day``: last day ≤ ``day`` with a systemic glucocorticoid;
        * ``immunosuppression_stop_day``: last day ≤ ``day`` with any glucocorticoid,
          immunosuppressant, immunomodulator or biologic (equal to ``day`` while still taken);
        * ``drug_free_days``: ``day`` minus the last day ≤ ``day`` with a drug that breaks
          drug-free remission (the classes above, and antimalarials unless allowed); 0 while
          one is taken. Each is empty when the patient has no such record up to ``day``.

    Examples
    --------
    >>> import polars as pl
    >>> meds = pl.DataFrame({"patient_id": ["p1", "p1"], "drug": ["prednisolone", "MMF"],
    ...     "dose": [5.0, 1000.0], "frequency": ["daily", "bid"], "start_day": [-200, -300],
    ...     "stop_day": [20, -10]})
    >>> visits = pl.DataFrame({"patient_id": ["p1", "p1"], "day": [0, 90]})
    >>> out = derive_drug_free_days(visits, meds)
    >>> out["last_glucocorticoid_day"].to_list(), out["drug_free_days"].to_list()
    ([0, 20], [0, 70])
    """
    _check_visits(visits)
    records = validate_medications(medications, table).with_columns(
        local=pl.col("route").str.strip_chars().str.to_lowercase().is_in(LOCAL_ROUTES).fill_null(False)
    )
    keyed = visits.with_row_index("__visit").select("__visit", "patient_id", pl.col("day").cast(pl.Int64))
    started = keyed.join(records, on="patient_id", how="inner").filter(_started_by(pl.col("day")))
    last = pl.min_horizontal("last_day", "day")
    systemic_gc = (pl.col("drug_class") == "glucocorticoid") & ~pl.col("local")
    local_gc = (pl.col("drug_class") == "glucocorticoid") & pl.col("local")
    immuno = pl.col("drug_class").is_in(IMMUNOSUPPRESSION) & ~local_gc
    breaking = immuno | ((pl.col("drug_class") == "antimalarial") & (not allow_antimalarial))
    per_visit = started.group_by("__visit").agg(
        last.filter(systemic_gc).max().alias("last_glucocorticoid_day"),
        last.filter(immuno).max().alias("immunosuppression_stop_day"),
        (pl.col("day").first() - last.filter(breaking).max()).alias("drug_free_days"),
    )
    added = (
        keyed.join(per_visit, on="__visit", how="left")
        .sort("__visit")
        .select("last_glucocorticoid_day", "immunosuppression_stop_day", "drug_free_days")
    )
    return pl.concat([visits.drop([c for c in added.columns if c in visits.columns]), added], how="horizontal")
