"""CLI: `remission import redcap|sdtm|fhir|registry` and `remission export` exit codes and output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from remission.cli.main import app
from remission.store import connect, schema
from sharedpaths import DATA, needs

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
runner = CliRunner()


def redcap_args(folder: Path, db: str) -> list[str]:
    return [
        "import",
        "redcap",
        "--records",
        str(folder / "records.csv"),
        "--dictionary",
        str(folder / "dictionary.csv"),
        "--mapping",
        str(folder / "mapping.yaml"),
        "--db",
        db,
    ]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    return url


def n_patients(url: str) -> int:
    with connect(url).connect() as c:
        return int(c.execute(select(func.count()).select_from(schema.patients)).scalar_one())


def test_import_redcap_then_again(db: str) -> None:
    first = runner.invoke(app, redcap_args(EXAMPLE, db))
    assert first.exit_code == 0, first.output
    assert "patients" in first.output
    again = runner.invoke(app, redcap_args(EXAMPLE, db))
    assert again.exit_code == 0
    assert n_patients(db) == 3


def test_import_redcap_bad_row_exits_2_and_writes_nothing(db: str, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    shutil.copytree(EXAMPLE, folder)
    records = folder / "records.csv"
    records.write_text(records.read_text().replace("SLE-02,,,2,1,2,1988,2010", "SLE-02,,,2,1,2,1988,1950"))
    result = runner.invoke(app, redcap_args(folder, db))
    assert result.exit_code == 2
    assert "records.csv, row 2 of enrolment (record SLE-02), record: : " in result.output
    assert "diagnosis_year 1950 is before birth_year 1988" in result.output
    assert n_patients(db) == 0
    skipped = runner.invoke(app, [*redcap_args(folder, db), "--on-error", "skip"])
    assert skipped.exit_code == 0
    assert n_patients(db) == 2


def test_import_on_error_value_checked(db: str) -> None:
    result = runner.invoke(app, [*redcap_args(EXAMPLE, db), "--on-error", "maybe"])
    assert result.exit_code == 2
    assert "--on-error: value maybe: expected 'raise' or 'skip'" in result.output


@needs(DATA)
def test_import_sdtm_and_fhir(db: str) -> None:
    sdtm = runner.invoke(app, ["import", "sdtm", "--dir", str(DATA / "cdisc-pilot-sdtm-subset-clinutils"), "--db", db])
    assert sdtm.exit_code == 0, sdtm.output
    assert "excluded 22 labs row(s): character result (no numeric value)" in sdtm.output
    fhir = runner.invoke(app, ["import", "fhir", "--path", str(DATA / "fhir-r4-synthea-smart"), "--db", db])
    assert fhir.exit_code == 0, fhir.output
    assert n_patients(db) == 7 + 3
    bad = runner.invoke(app, ["import", "sdtm", "--dir", str(DATA / "pharmaversesdtm"), "--db", db, "--disease", "RA"])
    assert bad.exit_code == 2
    assert "column disease: value RA: expected SLE, IIM, SSc or other" in bad.output


def test_export_and_registry_import(db: str, tmp_path: Path) -> None:
    assert runner.invoke(app, redcap_args(EXAMPLE, db)).exit_code == 0
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--db", db, "--out", str(out), "--format", "parquet"])
    assert result.exit_code == 0, result.output
    assert (out / "adsl.parquet").exists() and (out / "define.csv").exists()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert runner.invoke(app, ["init", "--db", fresh]).exit_code == 0
    back = runner.invoke(app, ["import", "registry", "--dir", str(out), "--db", fresh])
    assert back.exit_code == 0, back.output
    assert n_patients(fresh) == 3


def test_export_bad_format_and_uninitialised_db(db: str, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["export", "--db", db, "--out", str(tmp_path / "o"), "--format", "xlsx"])
    assert bad.exit_code == 2
    assert "column format: value xlsx: expected csv, parquet, xpt or nonmem" in bad.output
    empty = runner.invoke(app, ["export", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path / "o")])
    assert empty.exit_code == 2
    assert "database not initialised" in empty.output


def test_import_registry_not_an_export(db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "registry", "--dir", str(tmp_path), "--db", db])
    assert result.exit_code == 2
    assert "not a remission export" in result.output


def test_import_into_an_old_schema_asks_for_init(tmp_path: Path) -> None:
    from remission.store.db import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(connect(url), "0001")
    result = runner.invoke(app, redcap_args(EXAMPLE, url))
    assert result.exit_code == 2
    from remission.store.db import head_revision

    assert (
        f"database schema is at 0001, the code needs {head_revision()}: run `remission init` to migrate"
        in result.output
    )


def test_import_into_a_missing_database_leaves_no_file_behind(tmp_path: Path) -> None:
    # Issue 22: the import failed on the uninitialised database and left an empty file there.
    path = tmp_path / "none.db"
    result = runner.invoke(app, redcap_args(EXAMPLE, f"sqlite:///{path}"))
    assert result.exit_code == 2
    assert "no database there: run `remission init` first, or add --create" in result.output
    assert not path.exists()


def test_import_with_create_creates_and_migrates_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'new.db'}"
    result = runner.invoke(app, [*redcap_args(EXAMPLE, url), "--create"])
    assert result.exit_code == 0, result.output
    assert n_patients(url) == 3
