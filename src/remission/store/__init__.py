"""The registry store: SQLAlchemy 2 Core tables, Alembic migrations, transactional repository."""

from remission.store.db import connect, current_revision, migrate, resolve_url
from remission.store.repository import (
    assessment_table,
    bulk_insert,
    read_table,
    save_cohort,
    save_scores,
    scores_table,
    update_patient,
)

__all__ = [
    "assessment_table",
    "bulk_insert",
    "connect",
    "current_revision",
    "migrate",
    "read_table",
    "resolve_url",
    "save_cohort",
    "save_scores",
    "scores_table",
    "update_patient",
]
