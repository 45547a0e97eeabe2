"""The import job: saved uploads → the CLI's import (one transaction), with the importer's site rules.

Exactly what ``remission import redcap|sdtm|fhir`` runs (:mod:`remission.io.sources` builds the
batch, :func:`remission.io.importing.write_batch` writes it in one transaction, with the user as
the actor of the import's audit record). Investigators import patients of their own site only: a
staged patient of another site, a record of a stored patient of another site, or a new site is
refused (a problem of the import, so that nothing is written unless ``on_error`` is ``skip``,
which leaves those patients out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from remission.store import schema

if TYPE_CHECKING:
    from remission.io.importing import ImportBatch, ImportReport, Progress

SOURCES = ("redcap", "sdtm", "fhir")


@dataclass(frozen=True)
class Importer:
    """Who imports: the web user's name, role and own site (an investigator's)."""

    username: str
    role: str
    site_id: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Importer:
        return cls(str(params["username"]), str(params["role"]), params.get("site_id") or None)


def build_batch(source: str, folder: Path, files: Mapping[str, list[str]], options: Mapping[str, str]) -> ImportBatch:
    """The import layer's batch of the saved uploads, as the CLI builds it."""
    from remission.io.sources import batch_from_fhir, batch_from_redcap, batch_from_sdtm

    on_error = options.get("on_error", "raise")
    if source == "redcap":
        events = files.get("events") or []
        return batch_from_redcap(
            folder / files["records"][0],
            folder / files["dictionary"][0],
            folder / files["mapping"][0],
            folder / events[0] if events else None,
            on_error=on_error,
        )
    if source == "sdtm":
        return batch_from_sdtm(folder, disease=options.get("disease") or "other")
    return batch_from_fhir(folder)


def assign_site(batch: ImportBatch, site_id: str) -> None:
    """Put every patient of a FHIR batch (FHIR names no site) at ``site_id``."""
    from remission.io.sources import FHIR_SITE

    for staged in batch.records:
        if staged.table == "patients":
            staged.data["site_id"] = site_id
    batch.records = [s for s in batch.records if not (s.table == "sites" and s.data.get("site_id") == FHIR_SITE)]
    batch.placeholder_sites.discard(FHIR_SITE)
    batch.add("sites", {"site_id": site_id}, "-", "site")
    batch.placeholder_sites.add(site_id)


def restrict_to_site(engine: Engine, batch: ImportBatch, user: Importer) -> None:
    """Refuse (as problems of the batch) what an investigator may not import, and leave it out.

    Refused: a patient staged at another site; a patient staged at the own site whose identifier
    belongs to a stored patient of another site; a record of a patient that is neither staged nor
    stored at the own site; a site other than the own one. Each refused patient is one problem;
    its records go with it."""
    if user.role == "admin":
        return
    batch.materialise()  # records staged column-wise are checked here one by one, like the others
    own = user.site_id or ""
    staged_patients = {s.data.get("patient_id"): s for s in batch.records if s.table == "patients"}
    referenced = {str(s.data.get("patient_id")) for s in batch.records if s.data.get("patient_id") is not None}
    with engine.connect() as connection:
        stored: dict[str, str] = {
            pid: site
            for pid, site in connection.execute(
                select(schema.patients.c.patient_id, schema.patients.c.site_id).where(
                    schema.patients.c.patient_id.in_(sorted(referenced))
                )
            ).all()
        }
    refused: set[str] = set()
    for pid in sorted(referenced):
        staged = staged_patients.get(pid)
        if staged is not None and staged.data.get("site_id") != own:
            reason = f"a patient of site {staged.data.get('site_id')}: investigators import their own site ({own}) only"
            batch.problem(staged.file, staged.where, "site_id", staged.data.get("site_id"), reason)
            refused.add(pid)
        elif pid in stored and stored[pid] != own:
            first = staged or next(s for s in batch.records if s.data.get("patient_id") == pid)
            batch.problem(first.file, first.where, "patient_id", pid, f"not a patient of your site ({own})")
            refused.add(pid)
    # Sites of refused patients go with them; any other site is a problem of its own.
    explained = {s.data.get("site_id") for pid, s in staged_patients.items() if pid in refused}
    for staged in batch.records:
        site = staged.data.get("site_id")
        if staged.table == "sites" and site != own and site not in explained:
            batch.problem(staged.file, staged.where, "site_id", site, f"investigators import site {own} only")
    batch.records = [
        s
        for s in batch.records
        if str(s.data.get("patient_id")) not in refused and not (s.table == "sites" and s.data.get("site_id") != own)
    ]
    batch.placeholder_sites = {site for site in batch.placeholder_sites if site == own}


def import_files(
    engine: Engine,
    user: Importer,
    source: str,
    folder: Path,
    files: Mapping[str, list[str]],
    options: Mapping[str, str],
    progress: Progress | None = None,
) -> ImportReport:
    """Build, check and write the batch of the files saved in ``folder`` (one transaction).

    Raises :class:`~remission.errors.InvalidInputError` with every problem (nothing written)
    unless ``options["on_error"]`` is ``skip``."""
    from remission.io.importing import write_batch

    if progress is not None:
        progress("reading the source files", 0, 0)
    batch = build_batch(source, folder, files, options)
    if source == "fhir":
        site = options.get("site") or (user.site_id if user.role == "investigator" else "")
        if site:
            assign_site(batch, site)
    restrict_to_site(engine, batch, user)
    return write_batch(
        engine,
        batch,
        on_error="skip" if options.get("on_error") == "skip" else "raise",
        progress=progress,
        actor=user.username,
    )


def import_summary(report: ImportReport) -> dict[str, Any]:
    """The job's result: counts per table, totals, reconciliation of source rows, what was left out."""
    return {
        "counts": {t: dict(c) for t, c in report.counts.items() if sum(c.values())},
        "totals": report.totals(),
        "reconciliation": report.reconciliation(),
        "excluded": [f"{n} {t} row(s): {r}" for (t, r), n in sorted(report.excluded_reasons().items())],
        "not_imported": [f"{name}: {reason}" for name, reason in sorted(report.not_imported.items())],
    }
