"""Adding an index is adding a module (issue 20 item 3): a throw-away index written in a folder of
its own, found by the registry, appears in the CLI, the web's visit form and the report without
any other file being edited."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner
from webhelpers import page_login

import remission.indices as indices
from remission.cli.main import app

MODULE = """
from typing import Any

import polars as pl

from remission.indices._base import Column, IndexDefinition, ScalarResult


def compute(visits: pl.DataFrame, ctx: Any) -> pl.DataFrame:
    return visits.select((pl.col("pga") == 0).cast(pl.Int8).alias("pga_zero"))


def score_visit(visit: Any, **_: Any) -> ScalarResult:
    pga = visit.get("pga")
    return ScalarResult({"pga_zero": None if pga is None else int(pga == 0)})


INDEX = IndexDefinition(
    name="pga-zero",
    forms=("sle",),
    title="Physician global assessment of zero (throw-away test index)",
    source="test",
    columns=(Column("pga", "float", "physician global assessment", "0-3", 0, 3),),
    outputs=("pga_zero",),
    compute=compute,
    scalar=score_visit,
)
"""


@pytest.fixture
def throwaway_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    folder = tmp_path / "more_indices"
    folder.mkdir()
    (folder / "pga_zero.py").write_text(MODULE)
    monkeypatch.setattr(indices, "__path__", [*indices.__path__, str(folder)])
    indices.registry.cache_clear()
    yield
    indices.registry.cache_clear()
    sys.modules.pop("remission.indices.pga_zero", None)


def test_the_cli_lists_explains_and_scores_it(throwaway_index: None, tmp_path: Path) -> None:
    runner = CliRunner()
    assert "pga-zero" in runner.invoke(app, ["indices"]).output
    shown = runner.invoke(app, ["indices", "pga-zero"])
    assert shown.exit_code == 0 and "physician global assessment" in shown.output
    (tmp_path / "in.csv").write_text("pga\n0\n1.5\n")
    out = tmp_path / "out.csv"
    scored = runner.invoke(app, ["score", "pga-zero", "--input", str(tmp_path / "in.csv"), "--output", str(out)])
    assert scored.exit_code == 0, scored.output
    assert [line.split(",")[-1] for line in out.read_text().strip().splitlines()] == ["pga_zero", "1", "0"]


def test_the_web_offers_its_visit_form(throwaway_index: None, client: Any) -> None:
    page_login(client, "nurse_a")
    patient = client.get("/patients/SLE-A1")
    assert patient.status_code == 200 and "/visit/pga-zero" in patient.text
    form = client.get("/patients/SLE-A1/visit/pga-zero")
    assert form.status_code == 200 and 'name="pga"' in form.text


def test_the_report_names_its_rule(throwaway_index: None, app_engine: Engine, tmp_path: Path) -> None:
    from remission.report.build import build_report_files

    files = build_report_files(app_engine, tmp_path / "report", lambda _step: None)
    assert "pga-zero v1" in files.html.read_text()
