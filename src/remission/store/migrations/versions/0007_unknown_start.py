"""A medication whose source gives no start date is kept with an empty start.

SDTM CM rows without ``CMSTDTC`` (21 in the CDISC pilot) were excluded; admiral imputes no missing
year, so the record is now stored with ``start_date``/``start_day`` empty and the analyses count it
as taken from before the infusion (docs/decisions/imputation.md).

Revision ID: 0007_unknown_start
Revises: 0006_source_identity
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_unknown_start"
down_revision = "0006_source_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("medications") as batch:
        batch.alter_column("start_date", existing_type=sa.Date(), nullable=True)
        batch.alter_column("start_day", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # Nothing is lost: a schema that requires a start cannot hold these records, so refuse.
    missing = op.get_bind().execute(sa.text("SELECT count(*) FROM medications WHERE start_date IS NULL")).scalar_one()
    if missing:
        raise RuntimeError(f"{missing} medication records have no start date: downgrade would lose them")
    with op.batch_alter_table("medications") as batch:
        batch.alter_column("start_date", existing_type=sa.Date(), nullable=False)
        batch.alter_column("start_day", existing_type=sa.Integer(), nullable=False)
