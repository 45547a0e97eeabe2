"""Source record identity for laboratory values.

Labs were keyed by patient + date + analyte, so two instances of a REDCap lab form on one day
(three blood pressures in a morning) could not be stored side by side. They are now keyed by
``source_key`` as medications and adverse events are (0006_source_identity): the source's own
identity (REDCap ``redcap:<project>/<record>/<event>/<instrument>/<instance>/<analyte>``), or
``natural:`` + the old natural key (``natural:<patient>|<analyte>|<date>``) for stored rows and
sources without one, so existing databases keep matching their re-imports.

Revision ID: 0009_identity
Revises: 0008_audit_patient
Create Date: 2026-12-07
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0009_identity"
down_revision = "0008_audit_patient"
branch_labels = None
depends_on = None


def _natural(patient_id: str, analyte: str, when: object) -> str:
    day = when.isoformat() if isinstance(when, dt.date) else str(when)[:10]
    return f"natural:{patient_id}|{analyte}|{day}"


def upgrade() -> None:
    with op.batch_alter_table("labs") as batch:
        batch.add_column(sa.Column("source_key", sa.String(length=255), nullable=True))
    bind = op.get_bind()
    columns = ("id", "patient_id", "analyte", "date", "source_key")
    t = sa.table("labs", *(sa.column(c) for c in columns))
    rows = bind.execute(sa.select(t.c.id, t.c.patient_id, t.c.analyte, t.c.date)).all()
    if rows:
        bind.execute(
            sa.update(t).where(t.c.id == sa.bindparam("row_id")).values(source_key=sa.bindparam("key")),
            [{"row_id": r[0], "key": _natural(r[1], r[2], r[3])} for r in rows],
        )
    with op.batch_alter_table("labs") as batch:
        batch.alter_column("source_key", existing_type=sa.String(length=255), nullable=False)
        batch.drop_constraint("uq_labs_patient_id", type_="unique")
        batch.create_unique_constraint("uq_labs_source_key", ["source_key"])


def downgrade() -> None:
    # Two values of one patient, day and analyte cannot live under the old key: refuse, never lose one.
    twice = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM (SELECT 1 FROM labs GROUP BY patient_id, date, analyte HAVING count(*) > 1) d"
            )
        )
        .scalar_one()
    )
    if twice:
        raise RuntimeError(f"{twice} patient/day/analyte groups hold several lab values: downgrade would lose them")
    with op.batch_alter_table("labs") as batch:
        batch.drop_constraint("uq_labs_source_key", type_="unique")
        batch.create_unique_constraint("uq_labs_patient_id", ["patient_id", "date", "analyte"])
        batch.drop_column("source_key")
