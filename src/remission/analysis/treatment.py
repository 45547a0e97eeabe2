"""Maintenance treatment after CAR-T: when glucocorticoids and immunosuppressants stopped.

Drug classes follow docs/specs medications.md (glucocorticoid, antimalarial, immunosuppressant —
immunoglobulin counted with it — and biologic). Two kinds of record are *not* maintenance
immunosuppression and are left out (docs/decisions/report.md):

- **lymphodepleting conditioning**: fludarabine, and cyclophosphamide given from day −14 to day 0
  (the protocol gives it on days −5 to −3); cyclophosphamide outside that window is maintenance;
- **CRS treatment**: tocilizumab (and other anti-cytokine drugs) started on or after day 0.

A patient is *off* a class on a day when no course of that class runs that day (a course runs from
``start_day`` to ``stop_day`` inclusive; an empty ``stop_day`` runs on; an empty ``start_day`` —
the source gives no start — runs from before any day, the conservative reading for drug-free
remission, docs/decisions/imputation.md). The *stop day* of a class
is the last ``stop_day`` of its courses when every course has stopped, empty while one runs on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import polars as pl

from remission.medications.table import default_table


def drug_classes() -> dict[str, str]:
    """Every lower-case drug name and synonym of the shipped drug table → its class, with
    immunomodulators (IVIG) counted as immunosuppressants (medications.md)."""
    return dict(_drug_classes())


@functools.cache
def _drug_classes() -> dict[str, str]:
    classes = {alias: drug.drug_class for alias, drug in default_table().aliases().items()}
    return {alias: "immunosuppressant" if c == "immunomodulator" else c for alias, c in classes.items()}


CONDITIONING_DRUGS = ("fludarabine", "cyclophosphamide")
CONDITIONING_WINDOW = (-14, 0)
CRS_TREATMENT_DRUGS = ("tocilizumab", "siltuximab", "anakinra")
#: Classes whose stop makes a patient "drug-free" (antimalarials included, as in DORIS).
DRUG_FREE_CLASSES = ("glucocorticoid", "immunosuppressant", "biologic", "antimalarial")


def derive_drug_class(medications: pl.DataFrame) -> pl.DataFrame:
    """Add ``drug_class`` (glucocorticoid, antimalarial, immunosuppressant, biologic, other) and
    ``maintenance`` (1 unless the record is conditioning or CRS treatment).

    >>> m = pl.DataFrame({"patient_id": ["A"] * 3, "drug": ["Prednisone", "cyclophosphamide", "tocilizumab"],
    ...                   "start_day": [-400, -3, 3], "stop_day": [60, -3, 3]})
    >>> derive_drug_class(m).select("drug_class", "maintenance").rows()
    [('glucocorticoid', 1), ('immunosuppressant', 0), ('biologic', 0)]
    """
    drug = pl.col("drug").str.strip_chars().str.to_lowercase()
    start = pl.col("start_day")
    conditioning = drug.is_in(list(CONDITIONING_DRUGS)) & start.is_between(*CONDITIONING_WINDOW)
    crs = drug.is_in(list(CRS_TREATMENT_DRUGS)) & (start >= 0)
    return medications.with_columns(
        drug_class=drug.replace_strict(drug_classes(), default="other", return_dtype=pl.String),
        maintenance=(~(conditioning | crs | (drug == "fludarabine"))).cast(pl.Int8),
    )


def course_runs_on(day: pl.Expr) -> pl.Expr:
    """True where the course (``start_day``, ``stop_day``) runs on ``day``: an empty start counts
    as before any day, an empty stop as ongoing (never null, so an unknown start is never read as
    "not taking")."""
    start, stop = pl.col("start_day"), pl.col("stop_day")
    return (start.is_null() | (day >= start)) & (stop.is_null() | (day <= stop))


def summarise_stop_days(medications: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    """Per patient: the day glucocorticoids stopped, the day immunosuppressants (with biologics)
    stopped and the day all maintenance drugs (also antimalarials) stopped.

    ``patients`` lists every ``patient_id`` to report. A class never given counts as stopped
    before infusion only if the patient had no course of it at all: the stop day is then empty
    and ``<class>_stopped`` is 1. A course still running (empty ``stop_day``) leaves the stop day
    empty and ``<class>_stopped`` 0.

    >>> m = pl.DataFrame({"patient_id": ["A", "A", "A"], "drug": ["prednisone", "prednisone", "methotrexate"],
    ...                   "start_day": [-400, 15, -400], "stop_day": [14, 120, -14]})
    >>> summarise_stop_days(m, pl.DataFrame({"patient_id": ["A"]})).row(0)
    ('A', 120, 1, -14, 1, 120, 1)
    """
    classified = derive_drug_class(medications).filter(pl.col("maintenance") == 1)
    out = patients.select(pl.col("patient_id").cast(pl.String)).unique(maintain_order=True)
    for name, classes in STOP_GROUPS.items():
        rows = classified.filter(pl.col("drug_class").is_in(list(classes)))
        per = rows.group_by("patient_id").agg(
            pl.col("stop_day").is_null().any().alias("_running"),
            pl.col("stop_day").max().alias("_last"),
        )
        out = (
            out.join(per, on="patient_id", how="left")
            .with_columns(
                pl.when(pl.col("_running").fill_null(False))
                .then(None)
                .otherwise(pl.col("_last"))
                .cast(pl.Int64)
                .alias(f"{name}_stop_day"),
                (~pl.col("_running").fill_null(False)).cast(pl.Int8).alias(f"{name}_stopped"),
            )
            .drop("_running", "_last")
        )
    return out


#: The class groups whose stop days :func:`summarise_stop_days` reports.
STOP_GROUPS: dict[str, tuple[str, ...]] = {
    "glucocorticoid": ("glucocorticoid",),
    "immunosuppressant": ("immunosuppressant", "biologic"),
    "drug_free": DRUG_FREE_CLASSES,
}
#: What polars' ``str.strip_chars()`` strips (Unicode White_Space), for the scalar forms.
_WHITESPACE = "".join(
    ["\t\n\x0b\x0c\r \x85\xa0\u1680", *map(chr, range(0x2000, 0x200B)), "\u2028\u2029\u202f\u205f\u3000"]
)


def maintenance_class(drug: str, start_day: int | None) -> str | None:
    """The class of one course as :func:`derive_drug_class` gives it, or None when the course
    is not maintenance treatment (conditioning, CRS treatment, or unknown whether it is)."""
    name = drug.strip(_WHITESPACE).lower()
    low, high = CONDITIONING_WINDOW
    conditioning = None if start_day is None else low <= start_day <= high
    crs = None if start_day is None else start_day >= 0
    if name == "fludarabine":
        return None
    if name in CONDITIONING_DRUGS and conditioning is not False:
        return None
    if name in CRS_TREATMENT_DRUGS and crs is not False:
        return None
    return _drug_classes().get(name, "other")


def stop_days_of(courses: Iterable[tuple[str, int | None, int | None]]) -> dict[str, int | None]:
    """One patient's row of :func:`summarise_stop_days` from its courses (drug, start_day,
    stop_day): the scalar form, for a single patient's status (tested equal to the table form)."""
    by_class: dict[str, list[int | None]] = {}
    for drug, start_day, stop_day in courses:
        kind = maintenance_class(drug, start_day)
        if kind is not None:
            by_class.setdefault(kind, []).append(stop_day)
    out: dict[str, int | None] = {}
    for name, classes in STOP_GROUPS.items():
        stops = [day for kind in classes for day in by_class.get(kind, [])]
        running = any(day is None for day in stops)
        out[f"{name}_stop_day"] = None if running or not stops else max(d for d in stops if d is not None)
        out[f"{name}_stopped"] = 0 if running else 1
    return out


def derive_on_treatment(visits: pl.DataFrame, medications: pl.DataFrame) -> pl.DataFrame:
    """Add ``on_glucocorticoid``, ``on_immunosuppressant`` (with biologics) and ``on_any_drug``
    (any maintenance class, antimalarials included) flags (0/1) on each visit day.

    >>> v = pl.DataFrame({"patient_id": ["A", "A"], "day": [10, 200]})
    >>> m = pl.DataFrame({"patient_id": ["A"], "drug": ["prednisone"], "start_day": [-400], "stop_day": [120]})
    >>> derive_on_treatment(v, m).select("on_glucocorticoid", "on_any_drug").rows()
    [(1, 1), (0, 0)]
    """
    classified = derive_drug_class(medications).filter(pl.col("maintenance") == 1)
    keyed = visits.with_row_index("_visit")
    pairs = keyed.select("_visit", "patient_id", "day").join(
        classified.select("patient_id", "drug_class", "start_day", "stop_day"), on="patient_id", how="inner"
    )
    running = pairs.filter(course_runs_on(pl.col("day")))
    flags = running.group_by("_visit").agg(
        (pl.col("drug_class") == "glucocorticoid").any().alias("on_glucocorticoid"),
        pl.col("drug_class").is_in(["immunosuppressant", "biologic"]).any().alias("on_immunosuppressant"),
        pl.col("drug_class").is_in(list(DRUG_FREE_CLASSES)).any().alias("on_any_drug"),
    )
    names = ["on_glucocorticoid", "on_immunosuppressant", "on_any_drug"]
    return (
        keyed.join(flags, on="_visit", how="left")
        .with_columns([pl.col(n).fill_null(False).cast(pl.Int8) for n in names])
        .sort("_visit")
        .drop("_visit")
    )
