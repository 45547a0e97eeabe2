"""The registry's tables (SQLAlchemy Core). Migrations in ``store/migrations`` build exactly these.

Every table has a natural key (a unique constraint) so that imports are idempotent: loading the
same records twice updates rows in place instead of duplicating them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

sites = Table(
    "sites",
    metadata,
    Column("site_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("country", String(100), nullable=False, default=""),
    Column("synthetic", Boolean, nullable=False, default=False),
)

patients = Table(
    "patients",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("site_id", String(64), ForeignKey("sites.site_id"), nullable=False, index=True),
    Column("disease", String(8), nullable=False),
    Column("sex", String(8), nullable=False),
    Column("birth_year", Integer),
    Column("diagnosis_year", Integer),
    Column("prior_treatments", JSON, nullable=False, default=list),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)


def _patient_fk() -> Column[str]:
    return Column("patient_id", String(64), ForeignKey("patients.patient_id", ondelete="CASCADE"), nullable=False)


infusions = Table(
    "infusions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("date", Date, nullable=False),
    Column("product", String(200), nullable=False),
    Column("cells_per_kg", Float, nullable=False),
    Column("conditioning", String(400), nullable=False),
    Column("synthetic", Boolean, nullable=False, default=False),
    UniqueConstraint("patient_id", "date"),
)

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("date", Date, nullable=False),
    Column("day", Integer, nullable=False),
    Column("visit", String(64), nullable=False, default=""),
    Column("form", String(32), nullable=False, default="visit"),
    Column("items", JSON, nullable=False),
    Column("synthetic", Boolean, nullable=False, default=False),
    UniqueConstraint("patient_id", "date", "visit"),
    Index("ix_assessments_patient_id_day", "patient_id", "day"),  # a patient's visits in day order, latest day
)

labs = Table(
    "labs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("date", Date, nullable=False),
    Column("day", Integer, nullable=False),
    Column("analyte", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("lln", Float),
    Column("uln", Float),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("source_key", String(255), nullable=False),
    UniqueConstraint("source_key"),
    Index("ix_labs_patient_id_day", "patient_id", "day"),  # a patient's latest lab day (follow-up), in order
)


def _provenance(*dated: str) -> list[Column[str]]:
    """The source record identity and, per date, the collected ISO 8601 text and its ADaM flag."""
    columns: list[Column[str]] = [Column("source_key", String(255), nullable=False)]
    for name in dated:
        columns.append(Column(name, String(1) if name.endswith("_flag") else String(32)))
    return columns


medications = Table(
    "medications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("drug", String(100), nullable=False),
    Column("dose", Float),
    Column("unit", String(16), nullable=False),
    Column("route", String(32), nullable=False),
    Column("frequency", String(32), nullable=False),
    Column("start_date", Date),  # None: the source gives no start
    Column("stop_date", Date),
    Column("start_day", Integer),
    Column("stop_day", Integer),
    Column("synthetic", Boolean, nullable=False, default=False),
    *_provenance("start_dtc", "start_date_flag", "stop_dtc", "stop_date_flag"),
    UniqueConstraint("source_key"),
    Index("ix_medications_patient_id", "patient_id"),
)

adverse_events = Table(
    "adverse_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("term", String(200), nullable=False),
    Column("category", String(16), nullable=False),
    Column("grade", Integer, nullable=False),
    Column("onset_date", Date, nullable=False),
    Column("onset_day", Integer, nullable=False),
    Column("resolution_date", Date),
    Column("resolution_day", Integer),
    Column("serious", Boolean, nullable=False, default=False),
    Column("organism", String(200), nullable=False, default=""),
    Column("treatment", String(200), nullable=False, default=""),
    Column("synthetic", Boolean, nullable=False, default=False),
    *_provenance("onset_dtc", "onset_date_flag", "resolution_dtc", "resolution_date_flag"),
    Column("onset_time", String(8)),
    UniqueConstraint("source_key"),
    Index("ix_adverse_events_patient_id", "patient_id"),
)

scores = Table(
    "scores",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("assessment_id", Integer, ForeignKey("assessments.id", ondelete="CASCADE"), nullable=False),
    Column("index_name", String(32), nullable=False),
    Column("rule_version", String(32), nullable=False),
    Column("values", JSON, nullable=False),
    Column("explain", Text, nullable=False, default=""),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    UniqueConstraint("assessment_id", "index_name"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    # Filled on insert from entity/detail (audit_patient_of) so that every writer's rows can be read
    # per patient with an index range scan instead of a scan of the whole log.
    Column("patient_id", String(64), nullable=True, default=lambda context: audit_patient_of(context)),
    Index("ix_audit_log_patient_id_id", "patient_id", "id"),
)


def patient_of_audit_row(entity: str | None, entity_id: str | None, detail: Any) -> str | None:
    """The patient an audit row is about: the patient itself, or the patient named in its detail."""
    if entity == "patient":
        return entity_id
    if isinstance(detail, str):  # a JSON document given as text
        try:
            detail = json.loads(detail)
        except ValueError:
            return None
    found = detail.get("patient_id") if isinstance(detail, dict) else None
    return None if found is None else str(found)


def audit_patient_of(context: Any) -> str | None:
    """Column default of ``audit_log.patient_id``: read from the row's own parameters."""
    row = context.get_current_parameters()
    return patient_of_audit_row(row.get("entity"), row.get("entity_id"), row.get("detail"))


users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("site_id", String(64), ForeignKey("sites.site_id"), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
)

#: Web sessions and API tokens: the signed token names its row, so a logout revokes it at once.
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("users.username", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

#: Data-quality queries (``remission check``): one row per rule and record, moved from ``open`` to
#: ``answered`` (the site) and ``closed`` (a monitor, or the checks when the condition vanished).
queries = Table(
    "queries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _patient_fk(),
    Column("record_type", String(32), nullable=False),
    Column("record_id", Integer, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("values", JSON, nullable=False, default=dict),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("answer", Text, nullable=False, default=""),
    Column("close_reason", Text, nullable=False, default=""),
    Column("raised_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    Column("updated_by", String(64), nullable=False, default=""),
    UniqueConstraint("rule", "record_type", "record_id"),
    Index("ix_queries_patient_id_status", "patient_id", "status"),
)

#: Natural key of each record table: what makes an import idempotent.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "sites": ("site_id",),
    "patients": ("patient_id",),
    "infusions": ("patient_id", "date"),
    "assessments": ("patient_id", "date", "visit"),
    "labs": ("source_key",),
    # the source's own record identity (natural key only where a source has none): distinct source
    # records are never merged (docs/decisions/imputation.md)
    "medications": ("source_key",),
    "adverse_events": ("source_key",),
    "scores": ("assessment_id", "index_name"),
}
