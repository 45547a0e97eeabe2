"""Everything the report reads from the database, read once (the only I/O of the report's content)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy import Engine

from remission.analysis.endpoints import follow_up_days
from remission.store import assessment_table, read_table, scores_table

DISEASE_ORDER = ("SLE", "IIM", "SSc")


def _frame(engine: Engine, name: str) -> pl.DataFrame:
    table = read_table(engine, name)
    return pl.DataFrame() if table.is_empty() else table


@dataclass
class ReportData:
    """The stored records of a cohort, as polars tables, plus a cache of stored scores per index."""

    engine: Engine
    patients: pl.DataFrame
    infusions: pl.DataFrame
    assessments: pl.DataFrame
    labs: pl.DataFrame
    medications: pl.DataFrame
    adverse_events: pl.DataFrame
    follow_up: pl.DataFrame
    _scores: dict[str, pl.DataFrame] = field(default_factory=dict)

    @classmethod
    def load(cls, engine: Engine) -> ReportData:
        """Read every record table (patients gain ``age``, ``disease_duration`` and
        ``prior_treatment_count``, years at infusion)."""
        patients = _frame(engine, "patients")
        infusions = _frame(engine, "infusions")
        if not patients.is_empty():
            first = (
                infusions.group_by("patient_id").agg(pl.col("date").min().alias("infusion_date"))
                if not infusions.is_empty()
                else pl.DataFrame(schema={"patient_id": pl.String, "infusion_date": pl.Date})
            )
            patients = (
                patients.join(first, on="patient_id", how="left")
                .with_columns(
                    age=pl.col("infusion_date").dt.year() - pl.col("birth_year"),
                    disease_duration=pl.col("infusion_date").dt.year() - pl.col("diagnosis_year"),
                    prior_treatment_count=pl.col("prior_treatments").map_elements(len, return_dtype=pl.Int64),
                )
                .drop("prior_treatments")
                .sort("patient_id")
            )
        assessments = assessment_table(engine)
        labs = _frame(engine, "labs")
        medications = _frame(engine, "medications")
        events = _frame(engine, "adverse_events")
        sources = [t for t in (assessments, labs) if not t.is_empty()]
        if not events.is_empty():
            sources.append(events.select("patient_id", pl.col("onset_day").alias("day")))
        return cls(
            engine=engine,
            patients=patients,
            infusions=infusions,
            assessments=assessments,
            labs=labs,
            medications=medications,
            adverse_events=events,
            follow_up=follow_up_days(*sources),
        )

    @property
    def synthetic(self) -> bool:
        return bool(not self.patients.is_empty() and self.patients["synthetic"].any())

    @property
    def diseases(self) -> list[str]:
        present = set(self.patients["disease"]) if not self.patients.is_empty() else set()
        return [d for d in DISEASE_ORDER if d in present] + sorted(present - set(DISEASE_ORDER))

    def patient_ids(self, disease: str | None = None) -> pl.DataFrame:
        if self.patients.is_empty():
            return pl.DataFrame(schema={"patient_id": pl.String})
        rows = self.patients if disease is None else self.patients.filter(pl.col("disease") == disease)
        return rows.select("patient_id")

    def disease_of(self) -> pl.DataFrame:
        return self.patients.select("patient_id", "disease")

    def scores(self, index: str) -> pl.DataFrame:
        """Stored scores of ``index`` (``patient_id``, ``day``, ``assessment_id``, outputs); empty
        when the index was not computed."""
        if index not in self._scores:
            self._scores[index] = scores_table(self.engine, index)
        return self._scores[index]

    def lab(self, analyte: str) -> pl.DataFrame:
        """One analyte's series: ``patient_id``, ``day``, ``<analyte>`` (value), ``lln``, ``uln``."""
        if self.labs.is_empty():
            return pl.DataFrame(schema={"patient_id": pl.String, "day": pl.Int64, analyte: pl.Float64})
        return (
            self.labs.filter(pl.col("analyte") == analyte)
            .select("patient_id", "day", pl.col("value").alias(analyte), "lln", "uln")
            .sort("patient_id", "day")
        )

    def last_record_date(self) -> date | None:
        if self.assessments.is_empty():
            return None
        return self.assessments["date"].max()  # type: ignore[return-value]
