"""Backup and restore: round trips across backends, snapshots taken while writers run, refusals.

The oracle is :func:`remission.store.backup.export_tables` of the source before the backup:
after a restore into an empty database (SQLite, or PostgreSQL when ``$REMISSION_TEST_PG_URL`` is
set), every table holds exactly the same rows.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from store_worker import RECORD_TABLES, expected_counts, scaled_cohort
from typer.testing import CliRunner

from remission.cli.main import app
from remission.demo.cohort import generate_demo_cohort
from remission.errors import InvalidInputError
from remission.pipeline import score_database
from remission.store import connect, save_cohort, schema, update_patient
from remission.store.backup import backup, export_tables, restore
from remission.store.db import head_revision

runner = CliRunner()


def fill(engine: Engine) -> None:
    """The demo cohort, scored, plus one edit (audit_log, version 2)."""
    save_cohort(engine, generate_demo_cohort(), actor="demo")
    score_database(engine)
    first = generate_demo_cohort().patients[0].patient_id
    update_patient(engine, first, {"diagnosis_year": 2016}, expected_version=1, actor="editor")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


def test_restore_into_an_empty_database_round_trips_every_table(store: Engine, target_url: str, tmp_path: Path) -> None:
    fill(store)
    before = export_tables(store)
    info = backup(store, tmp_path / "registry.backup")
    assert info.rows["scores"] > 0 and info.rows["audit_log"] == 2
    target = connect(target_url)
    try:
        restored = restore(target, info.path)
        after = export_tables(target)
        assert restored.rows == info.rows
        assert after == before
        # Ids continue after the restored ones (PostgreSQL sequences moved past them).
        save_cohort(target, scaled_cohort("N", 1), actor="after-restore")
        with target.connect() as connection:
            assert connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one() == 3
    finally:
        target.dispose()


def test_backup_while_writers_run_is_a_consistent_snapshot(store: Engine, tmp_path: Path) -> None:
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        for k in range(100):
            if stop.is_set():
                return
            save_cohort(store, scaled_cohort(f"W{k}-", 1), actor="writer")
            written.append(f"W{k}-")

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 2:
            thread.join(timeout=0.05)
        info = backup(store, tmp_path / "live.backup")
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    target = connect(f"sqlite:///{tmp_path / 'live-restored.db'}")
    try:
        restore(target, info.path)
        full = expected_counts(1)
        with target.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            complete = 0
            for prefix in written:
                counts = {
                    name: connection.execute(
                        select(func.count())
                        .select_from(schema.metadata.tables[name])
                        .where(schema.metadata.tables[name].c.patient_id.like(f"{prefix}%"))
                    ).scalar_one()
                    for name in RECORD_TABLES
                }
                assert counts in ({n: 0 for n in full}, full), f"{prefix} half in the snapshot: {counts}"
                complete += counts == full
            audits = connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
        assert complete >= 2 and audits == complete  # one audit row per cohort in the snapshot
    finally:
        target.dispose()


def test_restore_refuses_a_database_that_holds_records(store: Engine, tmp_path: Path) -> None:
    fill(store)
    info = backup(store, tmp_path / "b.backup")
    with pytest.raises(InvalidInputError, match=r"value .+: is not empty \(tables audit_log, sites, patients"):
        restore(store, info.path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is not a remission backup"),
        (b"patient_id,rash\nP1,1\n", "is not a remission backup"),
        (b"SQLite format 3\x00" + b"\x00" * 100, "is not a readable SQLite database"),
        (b"\x1f\x8b\x08\x00garbage", "has no readable header"),
    ],
    ids=["empty", "csv", "damaged-sqlite", "damaged-gzip"],
)
def test_restore_refuses_what_is_not_a_backup_and_writes_nothing(tmp_path: Path, content: bytes, reason: str) -> None:
    source = tmp_path / "x.backup"
    source.write_bytes(content)
    target = connect(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with pytest.raises(InvalidInputError, match=f"column backup: value .+: {reason}"):
            restore(target, source)
        assert all(rows == [] for rows in export_tables(target).values())
    finally:
        target.dispose()


def test_truncated_logical_dump_restores_nothing(store: Engine, tmp_path: Path) -> None:
    import gzip

    fill(store)
    dump = tmp_path / "dump.jsonl.gz"
    with gzip.open(dump, "wt", encoding="utf-8") as f:  # a JSON-lines dump, as PostgreSQL gets
        header = {"format": "remission-backup", "format_version": 1, "alembic_revision": head_revision()}
        f.write(json.dumps(header) + "\n")
        f.write('{"t": "sites", "r": {"site_id": "S1", "name": "", "country": "", "synthetic": false}}\n')
        f.write('{"t": "patients", "r": {"patient_id": "P1"')  # cut mid-row
    target = connect(f"sqlite:///{tmp_path / 't.db'}")
    try:
        with pytest.raises(InvalidInputError, match=r"row 3, column backup: value .+: not a backup row"):
            restore(target, dump)
        assert all(rows == [] for rows in export_tables(target).values())  # all or nothing
    finally:
        target.dispose()


def test_cli_backup_and_restore_round_trip(store: Engine, db_url: str, tmp_path: Path) -> None:
    fill(store)
    out = tmp_path / "cli.backup"
    result = runner.invoke(app, ["backup", "--db", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backup: {out} (")
    target_url = f"sqlite:///{tmp_path / 'cli-restored.db'}"
    result = runner.invoke(app, ["restore", "--from", str(out), "--db", target_url])
    assert result.exit_code == 0, result.output
    target = connect(target_url)
    try:
        assert export_tables(target) == export_tables(store)
    finally:
        target.dispose()
    again = runner.invoke(app, ["restore", "--from", str(out), "--db", target_url])
    assert again.exit_code == 2
    assert "restore needs an empty database" in again.output


def test_cli_backup_of_an_uninitialised_database_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backup", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "database not initialised: nothing to back up" in result.output
    assert not (tmp_path / "b").exists()
