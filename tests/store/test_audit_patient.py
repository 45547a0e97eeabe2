"""The audit log's ``patient_id`` (migration 0008_audit_patient): filled on every insert from the row's
entity and detail, filled in for existing rows by the migration, and read per patient by an index."""

from __future__ import annotations

import json

from sqlalchemy import Engine, insert, select, text

from remission.store import migrate, schema
from remission.store.db import downgrade

ROWS = [
    {"actor": "a", "action": "update", "entity": "patient", "entity_id": "P1", "detail": {}},
    {"actor": "a", "action": "insert", "entity": "labs", "entity_id": "7", "detail": {"patient_id": "P2"}},
    {"actor": "a", "action": "import", "entity": "redcap", "entity_id": "abc", "detail": {"rows": 3}},
    {"actor": "a", "action": "update", "entity": "assessment", "entity_id": "9", "detail": {"patient_id": 12}},
]
EXPECTED = ["P1", "P2", None, "12"]


def _patients(engine: Engine) -> list[str | None]:
    log = schema.audit_log
    with engine.connect() as connection:
        return list(connection.scalars(select(log.c.patient_id).order_by(log.c.id)))


def test_every_insert_names_its_patient(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(schema.audit_log).values(**ROWS[0]))  # one row
        connection.execute(insert(schema.audit_log), ROWS[1:])  # executemany
    assert _patients(engine) == EXPECTED


def test_the_migration_fills_in_existing_rows(engine: Engine) -> None:
    downgrade(engine, "0007_unknown_start")
    with engine.begin() as connection:
        for row in ROWS:
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) "
                    "VALUES (CURRENT_TIMESTAMP, :actor, :action, :entity, :entity_id, :detail)"
                ),
                {**row, "detail": json.dumps(row["detail"])},
            )
    migrate(engine)
    assert _patients(engine) == EXPECTED


def test_a_patients_audit_view_is_an_index_range_scan(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(insert(schema.audit_log), ROWS * 200)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE audit_log")
            connection.exec_driver_sql("SET enable_seqscan = off")  # a 800-row table: force the choice
            plan = connection.exec_driver_sql(
                "EXPLAIN SELECT * FROM audit_log WHERE patient_id = 'P1' ORDER BY id DESC"
            ).all()
        else:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT * FROM audit_log WHERE patient_id = 'P1' ORDER BY id DESC"
            ).all()
    described = " ".join(str(part) for row in plan for part in row)
    assert "ix_audit_log_patient_id_id" in described, described
    assert "SCAN audit_log " not in described + " " and "Seq Scan" not in described
