"""Indexes for a patient's visits and labs by day (status: latest follow-up day and visit).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assessments_patient_id_day", "assessments", ["patient_id", "day"])
    op.create_index("ix_labs_patient_id_day", "labs", ["patient_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_labs_patient_id_day", table_name="labs")
    op.drop_index("ix_assessments_patient_id_day", table_name="assessments")
