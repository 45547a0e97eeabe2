"""`remission rescore --dask-scheduler`: Dask workers read their patients straight from the database
(SQLite file or PostgreSQL) and score them; the scores written are those of the local path."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from clusters import local_cluster
from sqlalchemy import Engine
from typer.testing import CliRunner

from remission.cli.main import app
from remission.demo.cohort import generate_demo_cohort
from remission.pipeline import rescore_database
from remission.store import read_table, save_cohort, schema

COLUMNS = ["assessment_id", "index_name", "rule_version", "values", "explain"]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """Two worker processes on loopback: each opens its own connection to the database."""
    with local_cluster(processes=True) as address:
        yield address


def _scores(engine: Engine) -> pl.DataFrame:
    return read_table(engine, "scores").select(COLUMNS).sort("assessment_id", "index_name")


def _clear_scores(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(schema.scores.delete())


def test_the_cluster_writes_the_local_paths_scores(engine: Engine, scheduler: str) -> None:
    save_cohort(engine, generate_demo_cohort(2024))
    local_runs = rescore_database(engine)
    local = _scores(engine)
    _clear_scores(engine)
    steps: list[str] = []
    runs = rescore_database(
        engine, scheduler=scheduler, patients_per_task=4, progress=lambda step, _d, _t: steps.append(step)
    )
    assert _scores(engine).equals(local)
    assert [(r.index, r.scored, r.inserted, len(r.problems)) for r in runs] == [
        (r.index, r.scored, r.inserted, len(r.problems)) for r in local_runs
    ]
    patients = {p.patient_id for p in generate_demo_cohort(2024).patients}
    groups = -(-len(patients) // 4)
    assert f"scored patient group {groups} of {groups}" in steps
    again = rescore_database(engine, scheduler=scheduler, patients_per_task=4)
    assert sum(r.inserted + r.updated for r in again) == 0


def test_filters_apply_on_the_cluster(engine: Engine, scheduler: str) -> None:
    cohort = generate_demo_cohort(2024)
    save_cohort(engine, cohort)
    target = cohort.patients[0].patient_id
    runs = rescore_database(engine, ["sledai2k", "doris"], patients=[target], scheduler=scheduler)
    stored = read_table(engine, "scores").join(
        read_table(engine, "assessments").select(pl.col("id").alias("assessment_id"), "patient_id"),
        on="assessment_id",
    )
    assert set(stored["patient_id"]) == {target}
    assert set(stored["index_name"]) <= {"sledai2k", "doris"}
    assert sum(r.inserted for r in runs) == stored.height > 0


def test_the_cli_option_reaches_the_cluster(tmp_path, scheduler: str) -> None:  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'r.db'}"
    from remission.store import connect, migrate

    engine = connect(db)
    migrate(engine)
    save_cohort(engine, generate_demo_cohort(2024))
    result = CliRunner().invoke(app, ["rescore", "--db", db, "--index", "sledai2k", "--dask-scheduler", scheduler])
    assert result.exit_code == 0, result.output
    assert "sledai2k:" in result.output and "new" in result.output
    assert read_table(engine, "scores").height > 0
    engine.dispose()
