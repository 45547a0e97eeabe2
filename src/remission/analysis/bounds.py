"""Endpoints with their imputation bounds: each partially dated record read at the other end of
its known period (issue 17 item 4; docs/decisions/imputation.md, "Bounds").

Imports store the *conservative* analysis date of a partial date (io/dates.py): medication start
the first day of the known period, medication end the last day, adverse-event onset the first day
but not before the infusion when the period contains it. That is the **reported** value of every
endpoint. The **opposite rule** reads the same collected text at the other end of the period:

- medication start: the *last* day of the known period, medication end: the *first* day (a drug
  taken as briefly as the data allow), kept in order (a start never after its end);
- adverse-event onset: the *first* day of the period even before the infusion (admiral
  ``derive_vars_dt`` without ``min_dates``): the only reading that can make an AE of the
  infusion month not treatment-emergent (its last day can only make it more emergent).

The known period comes from the collected ISO 8601 text and its ADaM flag (``D``: the month of
the text, ``M``: its year; the stored analysis date when the text is absent). A record without a
flag (a complete date, or no date at all: a missing year is not imputed and has no known period)
is read the same under both rules, so where nothing is imputed the two agree and no bounds are
produced. An empty medication end stays ongoing under both rules: it has no known period.

Time to B-cell reconstitution reads only laboratory dates, which imports never impute (a partial
findings date excludes the row), and the infusion date, which is never imputed either: it has no
bounds to compute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from remission.analysis.durations import DEFAULT_DRUG_FREE, DrugFreeRule
from remission.analysis.endpoints import BinarySummary, summarise_binary
from remission.analysis.nri import nri_rows, summarise_at_month
from remission.analysis.survival import derive_time_to_first
from remission.analysis.treatment import DRUG_FREE_CLASSES, derive_drug_class, stop_days_of
from remission.analysis.windows import DEFAULT_RULE, WindowRule

#: The flags of an imputed analysis date (io/dates.py): ``D`` day, ``M`` month and day.
IMPUTED_FLAGS = ("D", "M")
#: (collected text, flag, analysis date, day) of each medication and adverse-event date.
MEDICATION_START = ("start_dtc", "start_date_flag", "start_date", "start_day")
MEDICATION_STOP = ("stop_dtc", "stop_date_flag", "stop_date", "stop_day")
AE_ONSET = ("onset_dtc", "onset_date_flag", "onset_date", "onset_day")


def has_imputed_dates(records: pl.DataFrame, *flags: str) -> bool:
    """True when some record has an imputed date (a ``D``/``M`` flag in one of ``flags``).

    >>> has_imputed_dates(pl.DataFrame({"start_date_flag": [None, "D"]}), "start_date_flag")
    True
    >>> has_imputed_dates(pl.DataFrame({"drug": ["prednisone"]}), "start_date_flag")
    False
    """
    present = [f for f in flags if f in records.columns]
    return any(records[f].cast(pl.String).is_in(IMPUTED_FLAGS).any() for f in present)


def _is_imputed(flag: str) -> pl.Expr:
    return pl.col(flag).cast(pl.String).is_in(IMPUTED_FLAGS).fill_null(False)


def known_period(dtc: str, flag: str, date: str) -> tuple[pl.Expr, pl.Expr]:
    """(first, last) day of the known period of an imputed date: the collected month (flag
    ``D``) or year (flag ``M``) of the text ``dtc``, else of the analysis date ``date``; empty
    where the date is not imputed.

    >>> import datetime as dt
    >>> t = pl.DataFrame({"x_dtc": ["2024-05", "2024", "2024-05-20"], "x_flag": ["D", "M", None],
    ...                   "x_date": [dt.date(2024, 5, 1), dt.date(2024, 1, 1), dt.date(2024, 5, 20)]})
    >>> first, last = known_period("x_dtc", "x_flag", "x_date")
    >>> t.select(first.dt.to_string().alias("first"), last.dt.to_string().alias("last")).rows()
    [('2024-05-01', '2024-05-31'), ('2024-01-01', '2024-12-31'), (None, None)]
    """
    flag_, text = pl.col(flag).cast(pl.String), pl.col(dtc).cast(pl.String).str.strip_chars()
    stored = pl.col(date).cast(pl.Date)
    from_text = (
        pl.when(flag_ == "D")
        .then(text.str.slice(0, 7) + "-01")
        .when(flag_ == "M")
        .then(text.str.slice(0, 4) + "-01-01")
        .str.to_date("%Y-%m-%d", strict=False)
    )
    from_date = pl.when(flag_ == "D").then(stored.dt.truncate("1mo")).when(flag_ == "M").then(stored.dt.truncate("1y"))
    first = pl.coalesce(from_text, from_date)
    last = (
        pl.when(flag_ == "D")
        .then(first.dt.month_end())
        .when(flag_ == "M")
        .then(first.dt.offset_by("1y").dt.offset_by("-1d"))
    )
    return first, last


def _shifted_day(day: str, date: str, new_date: pl.Expr) -> pl.Expr:
    """The study day of ``new_date``: the stored day moved by as many days as the date moved."""
    return (pl.col(day) + (new_date - pl.col(date).cast(pl.Date)).dt.total_days()).cast(pl.Int64)


def derive_medication_bounds(medications: pl.DataFrame) -> pl.DataFrame:
    """Add the opposite rule's ``start_date_opposite``, ``start_day_opposite``,
    ``stop_date_opposite``, ``stop_day_opposite`` and ``imputed`` (1 when either date of the
    record is imputed).

    Opposite rule: start on the *last* day of its known period, end on the *first* day, but the
    end not before the earliest possible start and the start not after the (opposite) end. A
    date that is not imputed keeps its stored value; an empty end stays ongoing.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"patient_id": ["A", "A"], "drug": ["prednisone"] * 2,
    ...     "start_date": [dt.date(2023, 1, 1), dt.date(2024, 5, 1)], "start_day": [-400, 82],
    ...     "stop_date": [dt.date(2024, 5, 31), None], "stop_day": [112, None],
    ...     "start_dtc": ["2023-01-01", "2024-05"], "start_date_flag": [None, "D"],
    ...     "stop_dtc": ["2024-05", None], "stop_date_flag": ["D", None]})
    >>> derive_medication_bounds(m).select("start_day_opposite", "stop_day_opposite", "imputed").rows()
    [(-400, 82, 1), (112, None, 1)]
    """
    if not has_imputed_dates(medications, MEDICATION_START[1], MEDICATION_STOP[1]):
        return medications.with_columns(
            start_date_opposite=pl.col("start_date").cast(pl.Date) if "start_date" in medications.columns else None,
            start_day_opposite=pl.col("start_day").cast(pl.Int64),
            stop_date_opposite=pl.col("stop_date").cast(pl.Date) if "stop_date" in medications.columns else None,
            stop_day_opposite=pl.col("stop_day").cast(pl.Int64),
            imputed=pl.lit(0, pl.Int8),
        )
    start_first, start_last = known_period(*MEDICATION_START[:3])
    stop_first, _ = known_period(*MEDICATION_STOP[:3])
    start, stop = pl.col("start_date").cast(pl.Date), pl.col("stop_date").cast(pl.Date)
    start_imputed, stop_imputed = _is_imputed(MEDICATION_START[1]), _is_imputed(MEDICATION_STOP[1])
    earliest_start = pl.when(start_imputed).then(start_first).otherwise(start)
    # max/min_horizontal skip empty values: an unknown start does not hold the end back, an
    # ongoing course does not hold the start back.
    opposite_stop = pl.when(stop_imputed).then(pl.max_horizontal(stop_first, earliest_start)).otherwise(stop)
    opposite_start = pl.when(start_imputed).then(pl.min_horizontal(start_last, opposite_stop)).otherwise(start)
    return medications.with_columns(start_date_opposite=opposite_start, stop_date_opposite=opposite_stop).with_columns(
        start_day_opposite=_shifted_day("start_day", "start_date", pl.col("start_date_opposite")),
        stop_day_opposite=_shifted_day("stop_day", "stop_date", pl.col("stop_date_opposite")),
        imputed=(start_imputed | stop_imputed).cast(pl.Int8),
    )


def opposite_medications(medications: pl.DataFrame) -> pl.DataFrame:
    """The medication table as the opposite rule reads it: start and stop dates and days replaced
    by :func:`derive_medication_bounds`'s opposite ones (same columns), to run any drug-free
    derivation on.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"patient_id": ["A"], "drug": ["prednisone"],
    ...     "start_date": [dt.date(2023, 1, 1)], "start_day": [-400], "stop_date": [dt.date(2024, 5, 31)],
    ...     "stop_day": [112], "start_dtc": ["2023-01-01"], "start_date_flag": [None],
    ...     "stop_dtc": ["2024-05"], "stop_date_flag": ["D"]})
    >>> opposite_medications(m).select("start_day", "stop_day").row(0)
    (-400, 82)
    """
    bounded = derive_medication_bounds(medications)
    return bounded.with_columns(
        start_date=pl.col("start_date_opposite"),
        start_day=pl.col("start_day_opposite"),
        stop_date=pl.col("stop_date_opposite"),
        stop_day=pl.col("stop_day_opposite"),
    ).drop("start_date_opposite", "start_day_opposite", "stop_date_opposite", "stop_day_opposite", "imputed")


def derive_onset_bounds(adverse_events: pl.DataFrame) -> pl.DataFrame:
    """Add ``onset_day_opposite``: the onset on the *first* day of its known period, before the
    infusion where the period contains it (the stored onset is not before day 0 there), and
    ``imputed`` (1 when the onset is imputed). A complete onset keeps its day.

    >>> import datetime as dt
    >>> ae = pl.DataFrame({"patient_id": ["A", "A"], "onset_date": [dt.date(2024, 3, 10), dt.date(2024, 4, 1)],
    ...     "onset_day": [0, 22], "onset_dtc": ["2024-03", "2024-04"], "onset_date_flag": ["D", "D"]})
    >>> derive_onset_bounds(ae).select("onset_day", "onset_day_opposite").rows()  # infusion 2024-03-10
    [(0, -9), (22, 22)]
    """
    if not has_imputed_dates(adverse_events, AE_ONSET[1]):
        return adverse_events.with_columns(
            onset_day_opposite=pl.col("onset_day").cast(pl.Int64), imputed=pl.lit(0, pl.Int8)
        )
    first, _ = known_period(*AE_ONSET[:3])
    imputed = _is_imputed(AE_ONSET[1])
    opposite = pl.when(imputed).then(first).otherwise(pl.col("onset_date").cast(pl.Date))
    return adverse_events.with_columns(
        onset_day_opposite=_shifted_day("onset_day", "onset_date", opposite), imputed=imputed.cast(pl.Int8)
    )


def derive_treatment_emergent_bounds(adverse_events: pl.DataFrame) -> pl.DataFrame:
    """Add ``treatment_emergent`` (1 when the onset is on or after day 0, the infusion: ADAE
    ``TRTEMFL``) under the reported onset and ``treatment_emergent_opposite`` under the opposite
    one (:func:`derive_onset_bounds`).

    >>> import datetime as dt
    >>> ae = pl.DataFrame({"patient_id": ["A", "A"], "onset_date": [dt.date(2024, 3, 10), dt.date(2024, 2, 1)],
    ...     "onset_day": [0, -38], "onset_dtc": ["2024-03", "2024-02"], "onset_date_flag": ["D", "D"]})
    >>> derive_treatment_emergent_bounds(ae).select("treatment_emergent", "treatment_emergent_opposite").rows()
    [(1, 0), (0, 0)]
    """
    return derive_onset_bounds(adverse_events).with_columns(
        treatment_emergent=(pl.col("onset_day") >= 0).cast(pl.Int8),
        treatment_emergent_opposite=(pl.col("onset_day_opposite") >= 0).cast(pl.Int8),
    )


@dataclass(frozen=True)
class Bounds:
    """A count as reported (conservative rule) and under the opposite rule."""

    reported: int
    opposite: int

    @property
    def differ(self) -> bool:
        return self.reported != self.opposite

    @property
    def low(self) -> int:
        return min(self.reported, self.opposite)

    @property
    def high(self) -> int:
        return max(self.reported, self.opposite)

    def text(self, what: str) -> str:
        """``"low–high depending on <what>"``, empty when the two rules agree.

        >>> Bounds(6, 7).text("partially dated medications"), Bounds(3, 3).text("x")
        ('6–7 depending on partially dated medications', '')
        """
        return f"{self.low}–{self.high} depending on {what}" if self.differ else ""


#: What the bounds text names as their cause.
MEDICATIONS_CAUSE = "partially dated medications"
ONSETS_CAUSE = "partially dated onsets"


def summary_with_bounds(reported: BinarySummary, opposite: BinarySummary, what: str = MEDICATIONS_CAUSE) -> str:
    """``n/N (p%)`` of the reported summary, followed by the bounds when the opposite rule gives
    another count: ``"6/8 (75%); 6–7 depending on partially dated medications"`` (numerators
    only when the denominators agree, ``n/N`` each otherwise).

    >>> summary_with_bounds(BinarySummary(6, 8), BinarySummary(7, 8))
    '6/8 (75%); 6–7 depending on partially dated medications'
    >>> summary_with_bounds(BinarySummary(2, 3), BinarySummary(3, 4))
    '2/3 (67%); 2/3–3/4 depending on partially dated medications'
    >>> summary_with_bounds(BinarySummary(6, 8), BinarySummary(6, 8))
    '6/8 (75%)'
    """
    if (reported.n, reported.total) == (opposite.n, opposite.total):
        return reported.text()
    if reported.total == opposite.total:
        return f"{reported.text()}; {Bounds(reported.n, opposite.n).text(what)}"
    low, high = sorted([reported, opposite], key=lambda s: (s.percent or 0.0, s.n))
    return f"{reported.text()}; {low.n}/{low.total}–{high.n}/{high.total} depending on {what}"


def summarise_treatment_emergent_bounds(adverse_events: pl.DataFrame) -> tuple[Bounds, Bounds]:
    """(events, patients) that are treatment-emergent, reported and under the opposite rule.

    >>> import datetime as dt
    >>> ae = pl.DataFrame({"patient_id": ["A", "A", "B"],
    ...     "onset_date": [dt.date(2024, 3, 10), dt.date(2024, 3, 20), dt.date(2024, 3, 10)],
    ...     "onset_day": [0, 10, 0], "onset_dtc": ["2024-03", "2024-03-20", "2024-03"],
    ...     "onset_date_flag": ["D", None, "D"]})
    >>> summarise_treatment_emergent_bounds(ae)
    (Bounds(reported=3, opposite=1), Bounds(reported=2, opposite=1))
    """
    flags = derive_treatment_emergent_bounds(adverse_events)

    def count(column: str) -> tuple[int, int]:
        emergent = flags.filter(pl.col(column) == 1)
        return emergent.height, emergent["patient_id"].n_unique()

    (events, patients), (events_opp, patients_opp) = count("treatment_emergent"), count("treatment_emergent_opposite")
    return Bounds(events, events_opp), Bounds(patients, patients_opp)


def derive_first_day_bounds(visits: pl.DataFrame, opposite_visits: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Per patient the first post-infusion day with ``flag == 1`` (time to it, days from
    infusion) as reported (``<flag>_day``) and under the opposite rule (``<flag>_day_opposite``):
    empty when never reached. Both tables hold the same assessments (``patient_id``, ``day``,
    ``flag``), derived from the medications as stored and as :func:`opposite_medications` reads them.

    >>> v = pl.DataFrame({"patient_id": ["A", "A", "B"], "day": [91, 183, 91], "f": [0, 1, 0]})
    >>> w = pl.DataFrame({"patient_id": ["A", "A", "B"], "day": [91, 183, 91], "f": [1, 1, 0]})
    >>> derive_first_day_bounds(v, w, "f").rows()
    [('A', 183, 91), ('B', None, None)]
    """

    def first(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        events = derive_time_to_first(frame, flag)
        return events.select(
            pl.col("patient_id").cast(pl.String),
            pl.when(pl.col("observed") == 1).then(pl.col("duration")).cast(pl.Int64).alias(name),
        )

    reported = first(visits, f"{flag}_day")
    opposite = first(opposite_visits, f"{flag}_day_opposite")
    return reported.join(opposite, on="patient_id", how="full", coalesce=True).sort("patient_id")


def patients_with_changed_flags(
    visits: pl.DataFrame, opposite_visits: pl.DataFrame, flags: Sequence[str], on: Sequence[str] = ("patient_id", "day")
) -> pl.DataFrame:
    """The patients (``patient_id``) with an assessment whose value of one of ``flags`` differs
    between the reported and the opposite visits (the same assessments, matched on ``on``; an
    empty value is compared as a value).

    >>> v = pl.DataFrame({"patient_id": ["A", "B"], "day": [91, 91], "f": [0, 1]})
    >>> w = pl.DataFrame({"patient_id": ["B", "A"], "day": [91, 91], "f": [1, None]})
    >>> patients_with_changed_flags(v, w, ["f"])["patient_id"].to_list()
    ['A']
    """
    present = [f for f in flags if f in visits.columns and f in opposite_visits.columns]
    opposite = opposite_visits.select(*on, *[pl.col(f).alias(f"{f}_opposite") for f in present])
    pairs = visits.select(*dict.fromkeys(["patient_id", *on]), *present).join(opposite, on=list(on), how="left")
    changed = pl.any_horizontal([pl.col(f).ne_missing(pl.col(f"{f}_opposite")) for f in present] or [pl.lit(False)])
    return pairs.filter(changed).select(pl.col("patient_id").cast(pl.String)).unique().sort("patient_id")


#: The columns of :func:`responsible_medications`.
RESPONSIBLE_COLUMNS = (
    "patient_id",
    "drug",
    "source_key",
    "start_dtc",
    "start_day",
    "start_day_opposite",
    "stop_dtc",
    "stop_day",
    "stop_day_opposite",
)


def responsible_medications(medications: pl.DataFrame, patients: pl.DataFrame) -> pl.DataFrame:
    """The medication records responsible for the bounds of ``patients`` (``patient_id``): their
    maintenance records of a drug-free class (analysis/treatment.py, under either rule) with an
    imputed date that the opposite rule moves; columns :data:`RESPONSIBLE_COLUMNS`.

    >>> import datetime as dt
    >>> m = pl.DataFrame({"patient_id": ["A", "A"], "drug": ["prednisone", "paracetamol"],
    ...     "start_date": [dt.date(2023, 1, 1)] * 2, "start_day": [-400] * 2,
    ...     "stop_date": [dt.date(2024, 5, 31)] * 2, "stop_day": [112] * 2, "source_key": ["CM/1", "CM/2"],
    ...     "start_dtc": ["2023-01-01"] * 2, "start_date_flag": [None, None],
    ...     "stop_dtc": ["2024-05"] * 2, "stop_date_flag": ["D", "D"]})
    >>> responsible_medications(m, pl.DataFrame({"patient_id": ["A"]})).select("drug", "stop_day_opposite").rows()
    [('prednisone', 82)]
    """
    bounded = derive_medication_bounds(medications)
    moved = bounded.filter(
        (pl.col("imputed") == 1)
        & (
            pl.col("start_day").ne_missing(pl.col("start_day_opposite"))
            | pl.col("stop_day").ne_missing(pl.col("stop_day_opposite"))
        )
        & pl.col("patient_id").cast(pl.String).is_in(patients["patient_id"].cast(pl.String).to_list())
    )
    counted = _counted(moved, "start_day") | _counted(moved, "start_day_opposite")
    rows = moved.filter(counted)
    for column in RESPONSIBLE_COLUMNS:
        if column not in rows.columns:
            rows = rows.with_columns(pl.lit(None, pl.String).alias(column))
    return rows.select(*RESPONSIBLE_COLUMNS).sort("patient_id", "start_day", "drug", nulls_last=True)


def _counted(medications: pl.DataFrame, start: str) -> pl.Series:
    """Whether each record is maintenance treatment of a drug-free class when it starts on ``start``."""
    classified = derive_drug_class(medications.with_columns(start_day=pl.col(start)))
    return (classified["maintenance"] == 1) & classified["drug_class"].is_in(list(DRUG_FREE_CLASSES))


def drug_free_stop_bounds(
    medications: Iterable[Mapping[str, Any]], rule: DrugFreeRule = DEFAULT_DRUG_FREE
) -> dict[str, Any]:
    """One patient's drug-free stop day (:func:`remission.analysis.treatment.stop_days_of`) under
    both rules and the records responsible, for the patient page: ``reported`` and ``opposite``
    (``drug_free_stop_day``/``drug_free_stopped`` each, and ``drug_free_from``: the first day
    drug-free counts, ``rule.min_free_days`` after the last stop, as in
    :func:`remission.analysis.durations.derive_drug_free`) and ``records`` (dicts of
    :data:`RESPONSIBLE_COLUMNS`); ``records`` is empty when nothing is imputed or the two agree.

    >>> import datetime as dt
    >>> rows = [{"patient_id": "A", "drug": "prednisone", "start_date": dt.date(2023, 1, 1), "start_day": -400,
    ...          "stop_date": dt.date(2024, 5, 31), "stop_day": 112, "start_dtc": "2023-01-01",
    ...          "start_date_flag": None, "stop_dtc": "2024-05", "stop_date_flag": "D", "source_key": "CM/1"}]
    >>> b = drug_free_stop_bounds(rows)
    >>> b["reported"]["drug_free_stop_day"], b["opposite"]["drug_free_stop_day"], len(b["records"])
    (112, 82, 1)
    >>> b["reported"]["drug_free_from"], b["opposite"]["drug_free_from"]
    (142, 112)
    """
    rows = list(medications)
    reported = _with_start(stop_days_of((r["drug"], r["start_day"], r["stop_day"]) for r in rows), rule)
    if not any(r.get(MEDICATION_START[1]) in IMPUTED_FLAGS or r.get(MEDICATION_STOP[1]) in IMPUTED_FLAGS for r in rows):
        return {"reported": reported, "opposite": reported, "records": []}
    table = pl.DataFrame(rows, infer_schema_length=None)
    opposite_table = opposite_medications(table)
    opposite = _with_start(stop_days_of(opposite_table.select("drug", "start_day", "stop_day").iter_rows()), rule)
    if opposite == reported:
        return {"reported": reported, "opposite": opposite, "records": []}
    patient = table.select(pl.col("patient_id").cast(pl.String)).unique()
    records = responsible_medications(table, patient).to_dicts()
    return {"reported": reported, "opposite": opposite, "records": records}


def _with_start(stop: dict[str, Any], rule: DrugFreeRule) -> dict[str, Any]:
    day = stop["drug_free_stop_day"]
    return stop | {"drug_free_from": None if day is None else int(day) + rule.min_free_days}


def nri_rows_with_bounds(
    windowed: pl.DataFrame,
    opposite_windowed: pl.DataFrame,
    cohort: pl.DataFrame,
    flag: str,
    label: str,
    months: Sequence[int],
    rule: WindowRule = DEFAULT_RULE,
) -> list[dict[str, str]]:
    """:func:`remission.analysis.nri.nri_rows` of the reported visits, each cell followed by its
    bounds where the opposite rule's visits (``opposite_windowed``) give another count.

    >>> w = pl.DataFrame({"patient_id": ["A", "B"], "month": [3, 3], "r": [1, 0]})
    >>> o = pl.DataFrame({"patient_id": ["A", "B"], "month": [3, 3], "r": [1, 1]})
    >>> c = pl.DataFrame({"patient_id": ["A", "B"], "potential_days": [400, 400], "exit_day": [None, None]})
    >>> nri_rows_with_bounds(w, o, c, "r", "drug-free", [3])[0]["month 3"]
    '1/2 (50%); 1–2 depending on partially dated medications'
    """
    rows = nri_rows(windowed, cohort, flag, label, months, rule)
    for month in months:
        reported = summarise_at_month(windowed, cohort, flag, month, rule)
        opposite = summarise_at_month(opposite_windowed, cohort, flag, month, rule)
        column = f"month {month}"
        rows[0][column] = summary_with_bounds(reported.nri, opposite.nri)
        rows[1][column] = summary_with_bounds(reported.observed, opposite.observed)
        missed = Bounds(reported.missed, opposite.missed)
        if missed.differ:
            rows[2][column] = f"{missed.reported}; {missed.text(MEDICATIONS_CAUSE)}"
    return rows


def binary_cells_with_bounds(
    timepoints: pl.DataFrame, opposite_timepoints: pl.DataFrame, column: str, labels: Sequence[str]
) -> dict[str, str]:
    """Per time point label, the observed-case cell of the 0/1 ``column``
    (:func:`remission.analysis.endpoints.summarise_binary` of the patients' values) followed by
    its bounds where the opposite rule's time points give another count. Both tables are outputs
    of :func:`remission.analysis.windows.derive_timepoints` (``timepoint``, ``column``).

    >>> tp = pl.DataFrame({"timepoint": ["month 3", "month 3"], "f": [1, 0]})
    >>> op = pl.DataFrame({"timepoint": ["month 3", "month 3"], "f": [1, 1]})
    >>> binary_cells_with_bounds(tp, op, "f", ["month 3"])
    {'month 3': '1/2 (50%); 1–2 depending on partially dated medications'}
    """

    def summary(frame: pl.DataFrame, label: str) -> BinarySummary:
        return summarise_binary(frame.filter(pl.col("timepoint") == label)[column].to_list())

    return {
        label: summary_with_bounds(summary(timepoints, label), summary(opposite_timepoints, label)) for label in labels
    }
