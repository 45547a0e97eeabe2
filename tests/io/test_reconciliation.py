"""Rows read = stored + excluded + rejected, per source dataset, on every real fixture (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from remission.cli.main import app
from remission.io.export import export_registry
from remission.io.importing import ImportReport, write_batch
from remission.io.sources import batch_from_fhir, batch_from_registry, batch_from_sdtm
from remission.store import schema

SOURCES = {
    "cdisc-pilot-sdtm": batch_from_sdtm,
    "pharmaversesdtm": batch_from_sdtm,
    "cdisc-pilot-sdtm-subset-clinutils": batch_from_sdtm,
    "fhir-r4-hl7-examples": batch_from_fhir,
    "fhir-r4-synthea-smart": batch_from_fhir,
}


def assert_reconciled(report: ImportReport) -> None:
    rows = report.reconciliation()
    assert rows, "no reconciliation"
    assert set(report.source_rows) == {r["file"] for r in rows}
    for r in rows:
        assert r["read"] == r["stored"] + r["excluded"] + r["rejected"], r
        assert r["unaccounted"] == 0, r


@pytest.mark.parametrize("folder", sorted(SOURCES))
def test_every_row_of_every_fixture_is_stored_excluded_or_rejected(engine: Engine, data: Path, folder: str) -> None:
    report = write_batch(engine, SOURCES[folder](data / folder))
    assert_reconciled(report)
    again = write_batch(engine, SOURCES[folder](data / folder))
    assert_reconciled(again)
    assert again.reconciliation() == report.reconciliation()


def test_the_registry_round_trip_reconciles(engine: Engine, data: Path, tmp_path: Path) -> None:
    write_batch(engine, batch_from_sdtm(data / "cdisc-pilot-sdtm"))
    export_registry(engine, tmp_path / "export")
    report = write_batch(engine, batch_from_registry(tmp_path / "export"))
    assert_reconciled(report)
    assert report.counts["medications"]["unchanged"] == 8101  # the identity travels: nothing merged
    assert report.counts["adverse_events"]["unchanged"] == 1191


def test_pilot_reconciliation_figures(engine: Engine, data: Path) -> None:
    rows = {r["file"]: r for r in write_batch(engine, batch_from_sdtm(data / "cdisc-pilot-sdtm")).reconciliation()}
    assert rows["ae.xpt"] == {
        "file": "ae.xpt",
        "read": 1191,
        "stored": 1191,
        "excluded": 0,
        "rejected": 0,
        "unaccounted": 0,
    }
    assert (rows["cm.xpt"]["read"], rows["cm.xpt"]["stored"], rows["cm.xpt"]["excluded"]) == (7510, 7510, 0)
    assert rows["sv.xpt"]["excluded"] == rows["sv.xpt"]["read"] == 3559  # read and checked, not imported


def test_reconciliation_is_kept_with_the_import_event_and_listed(tmp_path: Path, data: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    run = runner.invoke(app, ["import", "sdtm", "--db", db, "--dir", str(data / "cdisc-pilot-sdtm")])
    assert run.exit_code == 0, run.output
    assert "rows read = stored + excluded + rejected" in run.output
    listed = runner.invoke(app, ["imports", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert "sdtm by import" in listed.output and "ae.xpt" in listed.output and "7510" in listed.output
    from remission.store import connect

    with connect(db).connect() as c:
        detail = c.execute(select(schema.audit_log.c.detail).where(schema.audit_log.c.action == "import")).scalar_one()
    cm = next(r for r in detail["reconciliation"] if r["file"] == "cm.xpt")
    assert (cm["read"], cm["stored"], cm["excluded"], cm["rejected"]) == (7510, 7510, 0, 0)


def test_a_natural_key_collapse_of_plain_csv_is_listed_with_both_rows(engine: Engine, tmp_path: Path) -> None:
    """A source without record identity (a registry CSV) keeps the natural-key collapse, never silently."""
    from remission.io.sources import batch_from_redcap

    example = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
    write_batch(engine, batch_from_redcap(*(example / n for n in ("records.csv", "dictionary.csv", "mapping.yaml"))))
    export_registry(engine, tmp_path / "export")
    labs = tmp_path / "export" / "labs.csv"
    lines = labs.read_text(encoding="utf-8").splitlines(keepends=True)
    labs.write_text("".join([*lines, lines[1]]), encoding="utf-8")  # data row 1 again, as the last row
    report = write_batch(engine, batch_from_registry(tmp_path / "export"))
    assert report.counts["labs"]["merged"] == 1
    (merge,) = [m for m in report.merges if m[0] == "labs"]
    assert merge == ("labs", "labs.csv, row 1", f"labs.csv, row {len(lines)}")
    assert_reconciled(report)
