"""Imports: birth/diagnosis year and medication dose may be unknown (NULL).

SDTM and FHIR sources often lack them; they are stored as NULL, never guessed (see
docs/decisions/import-export.md). ``disease`` = ``other`` and ``sex`` = ``unknown`` fit the
existing String(8) columns, so they need no schema change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.alter_column("birth_year", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("diagnosis_year", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("medications") as batch:
        batch.alter_column("dose", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    """Leave the columns nullable: restoring NOT NULL would need values the sources never gave
    (an unknown dose or birth year would have to be invented). The 0001 code reads them as
    before; only rows imported with unknowns hold NULLs."""
