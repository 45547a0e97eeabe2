"""The audit log names the patient each row is about, indexed, so a patient's audit view is a range scan.

``patient_id`` is what the per-patient view matched by scanning the whole log: the patient itself
(``entity`` = ``patient``) or the ``patient_id`` of the row's detail. Existing rows are filled in.

Revision ID: 0008_audit_patient
Revises: 0007_unknown_start
Create Date: 2026-12-07
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_patient"
down_revision = "0007_unknown_start"
branch_labels = None
depends_on = None

BATCH = 5000


def patient_of_audit_row(entity: str | None, entity_id: str | None, detail: Any) -> str | None:
    """As ``remission.store.schema.patient_of_audit_row`` at this revision (frozen here)."""
    if entity == "patient":
        return entity_id
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return None
    found = detail.get("patient_id") if isinstance(detail, dict) else None
    return None if found is None else str(found)


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("patient_id", sa.String(64), nullable=True))
    _fill_patient_ids(op.get_bind())
    op.create_index("ix_audit_log_patient_id_id", "audit_log", ["patient_id", "id"])


def _fill_patient_ids(connection: sa.Connection) -> None:
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("entity", sa.String),
        sa.column("entity_id", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("patient_id", sa.String),
    )
    rows = connection.execute(sa.select(log.c.id, log.c.entity, log.c.entity_id, log.c.detail)).all()
    found = [
        {"row_id": r.id, "pid": pid} for r in rows if (pid := patient_of_audit_row(r.entity, r.entity_id, r.detail))
    ]
    statement = log.update().where(log.c.id == sa.bindparam("row_id")).values(patient_id=sa.bindparam("pid"))
    for start in range(0, len(found), BATCH):
        connection.execute(statement, found[start : start + BATCH])


def downgrade() -> None:
    op.drop_index("ix_audit_log_patient_id_id", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("patient_id")
