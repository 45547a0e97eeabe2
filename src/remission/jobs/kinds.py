"""What each kind of job does, given its parameters: import, rescore, report.

Each runner takes the registry engine, the job's parameters, a progress callback and the job's own
folder (for reports), and returns the result summary stored on the job. Invalid input raises
:class:`~remission.errors.InvalidInputError`: the job fails with those problems, and since every
runner writes in one transaction (or into a fresh folder), nothing is written.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from remission.errors import Problem

Progress = Callable[[str, int, int], None]
Runner = Callable[[Engine, dict[str, Any], Progress, Path], dict[str, Any]]


def problem_dict(problem: Problem) -> dict[str, Any]:
    """A problem as the job's error list holds it: where (file, row or resource), field, value,
    reason, and ``text``, the line the CLI prints."""
    return {
        "file": getattr(problem, "file", "") or "",
        "where": getattr(problem, "where", "") or "",
        "row": problem.row,
        "column": problem.column,
        "value": problem.value,
        "reason": problem.reason,
        "text": str(problem),
    }


def run_import(engine: Engine, params: dict[str, Any], progress: Progress, folder: Path) -> dict[str, Any]:
    """Import the uploads saved in ``folder`` (see :func:`remission.jobs.imports.import_files`).

    Parameters: ``source``, ``files`` (form field → saved names), ``options`` (``on_error``,
    ``disease``, ``site``) and ``user`` (``username``, ``role``, ``site_id``)."""
    from remission.jobs.imports import Importer, import_files, import_summary

    report = import_files(
        engine,
        Importer.of(params["user"]),
        str(params["source"]),
        folder,
        params["files"],
        params.get("options", {}),
        progress,
    )
    summary = import_summary(report)
    summary["skipped"] = [problem_dict(p) for p in report.skipped]
    return summary


def run_rescore(engine: Engine, params: dict[str, Any], progress: Progress, folder: Path) -> dict[str, Any]:
    """``remission rescore``: parameters ``indices``, ``since`` (ISO date), ``patients``, ``actor``."""
    from remission.pipeline import rescore_database

    since = params.get("since")
    runs = rescore_database(
        engine,
        params.get("indices") or None,
        since=dt.date.fromisoformat(since) if since else None,
        patients=params.get("patients") or None,
        actor=str(params.get("actor", "system")),
        progress=progress,
    )
    return {
        "indices": [
            {
                "index": r.index,
                "scored": r.scored,
                "inserted": r.inserted,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "problems": len(r.problems),
            }
            for r in runs
        ]
    }


def run_report(engine: Engine, params: dict[str, Any], progress: Progress, folder: Path) -> dict[str, Any]:
    """``remission report`` into the job's folder (``report/``; a failed build leaves no report)."""
    from remission.report.build import STEPS, build_report_files

    steps = list(STEPS)
    pdf = bool(params.get("pdf", False))
    total = len(steps) - (0 if pdf else 1)

    def step(name: str) -> None:
        progress(name, steps.index(name) if name in steps else 0, total)

    building, out = folder / ".report-building", folder / "report"
    shutil.rmtree(building, ignore_errors=True)
    files = build_report_files(engine, building, step, pdf=pdf)
    shutil.rmtree(out, ignore_errors=True)
    building.rename(out)  # the whole report appears at once, or none
    return {
        "folder": str(out),
        "html": str(out / files.html.name),
        "pdf": str(out / files.pdf.name) if files.pdf else None,
        "tables": sorted(p.name for p in (out / "tables").glob("*.csv")),
    }


RUNNERS: dict[str, Runner] = {"import": run_import, "rescore": run_rescore, "report": run_report}
