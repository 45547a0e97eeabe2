"""Source record identity and collected dates for medications and adverse events.

Medications and adverse events were keyed by a natural key (patient + drug + start date, patient +
term + onset date), so distinct source records that share it were merged. They are now keyed by
``source_key``: the source's own identity (SDTM ``STUDYID/USUBJID/DOMAIN/--SEQ``), or, for rows
stored before this revision and sources without identity, ``natural:`` + the old natural key, so
that existing databases keep their idempotent re-imports. The collected ISO 8601 text and the
ADaM imputation flag are kept per date.

Revision ID: 0006_source_identity
Revises: 0005_queries
Create Date: 2026-12-07
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006_source_identity"
down_revision = "0005_queries"
branch_labels = None
depends_on = None

_TABLES = {
    "medications": (("drug", "start_date"), ("start_dtc", "start_date_flag", "stop_dtc", "stop_date_flag")),
    "adverse_events": (
        ("term", "onset_date"),
        ("onset_dtc", "onset_date_flag", "resolution_dtc", "resolution_date_flag"),
    ),
}


def _natural(patient_id: str, text: str, when: object) -> str:
    day = when.isoformat() if isinstance(when, dt.date) else str(when)[:10]
    return f"natural:{patient_id}|{text}|{day}"


def _backfill(table: str, natural: tuple[str, str]) -> None:
    bind = op.get_bind()
    t = sa.table(
        table, sa.column("id"), sa.column("patient_id"), *(sa.column(c) for c in natural), sa.column("source_key")
    )
    rows = bind.execute(sa.select(t.c.id, t.c.patient_id, *(t.c[c] for c in natural))).all()
    if rows:
        bind.execute(
            sa.update(t).where(t.c.id == sa.bindparam("row_id")).values(source_key=sa.bindparam("key")),
            [{"row_id": r[0], "key": _natural(r[1], r[2], r[3])} for r in rows],
        )


def upgrade() -> None:
    for table, (natural, dated) in _TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("source_key", sa.String(length=255), nullable=True))
            for name in dated:
                batch.add_column(sa.Column(name, sa.String(length=1 if name.endswith("_flag") else 32), nullable=True))
            if table == "adverse_events":
                batch.add_column(sa.Column("onset_time", sa.String(length=8), nullable=True))
        _backfill(table, natural)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("source_key", existing_type=sa.String(length=255), nullable=False)
            batch.drop_constraint(f"uq_{table}_patient_id", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_source_key", ["source_key"])
            batch.create_index(f"ix_{table}_patient_id", ["patient_id"])


def downgrade() -> None:
    for table, (natural, dated) in _TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_patient_id")
            batch.drop_constraint(f"uq_{table}_source_key", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_patient_id", ["patient_id", *natural])
            for name in (*dated, "source_key") + (("onset_time",) if table == "adverse_events" else ()):
                batch.drop_column(name)
