"""The application's main job: score every stored assessment with every index that applies.

This sits above the store and the indices (it reads records, calls :func:`remission.api.score_table`
and writes the scores back) and below the shells (CLI, web, report), which only call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Engine

from remission.api import score_table
from remission.errors import InvalidInputError, Problem
from remission.indices import IndexDefinition, registry
from remission.medications.exposure import derive_medication_exposure
from remission.store import assessment_table, read_table, save_scores
from remission.store.bulk_scores import ScoreBatch, read_assessments, read_columns, score_frame, write_scores
from remission.store.queries import CHECKS_ACTOR, SyncResult, sync_queries

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexRun:
    """What scoring one index over the database did."""

    index: str
    scored: int
    problems: tuple[Problem, ...]


def assessments_for(definition: IndexDefinition, assessments: pl.DataFrame) -> pl.DataFrame:
    """The stored assessments an index applies to (any of its key items recorded), with the
    columns it reads plus ``assessment_id`` (and ``patient_id``/``day`` for long layouts)."""
    keys = [c for c in definition.marks_assessment() if c in assessments.columns]
    if not keys or assessments.is_empty():
        return pl.DataFrame()
    wanted = {c.code for c in definition.all_columns()} - {"baseline"}
    rows = assessments.filter(pl.any_horizontal([pl.col(c).is_not_null() for c in keys]))
    if definition.forms is not None:
        rows = rows.filter(pl.col("form").is_in(definition.forms))
    rows = with_previous_values(definition, rows)
    return rows.select(["assessment_id", *[c for c in rows.columns if c in wanted and c != "assessment_id"]])


def with_previous_values(definition: IndexDefinition, rows: pl.DataFrame) -> pl.DataFrame:
    """Fill an index's ``<code>_prev`` columns (e.g. BILAG-2004 renal items) from the patient's
    previous assessment of the same index by day, unless the assessment records them itself."""
    codes = {c.code for c in definition.columns}
    pairs = [(c[: -len("_prev")], c) for c in codes if c.endswith("_prev") and c[: -len("_prev")] in codes]
    pairs = [(now, prev) for now, prev in pairs if now in rows.columns]
    if not pairs or rows.is_empty():
        return rows
    ordered = rows.with_row_index("__order").sort("patient_id", "day", "__order")
    shifted = [pl.col(now).shift(1).over("patient_id").alias(f"__{prev}") for now, prev in pairs]
    filled = [
        (pl.coalesce(pl.col(prev), pl.col(f"__{prev}")) if prev in rows.columns else pl.col(f"__{prev}")).alias(prev)
        for _, prev in pairs
    ]
    return (
        ordered.with_columns(shifted)
        .with_columns(filled)
        .sort("__order")
        .drop("__order", *[f"__{p}" for _, p in pairs])
    )


#: Columns derived from the medication records for each stored assessment (medications.md).
EXPOSURE_COLUMNS = ("prednisone_mg_day", "antimalarial", "immunosuppressant", "biologic")


def with_medication_exposure(assessments: pl.DataFrame, medications: pl.DataFrame) -> pl.DataFrame:
    """Add the daily drug exposure of each assessment's day, unless the assessment records it."""
    if assessments.is_empty() or medications.is_empty():
        return assessments
    records = medications.select("patient_id", "drug", "dose", "unit", "frequency", "route", "start_day", "stop_day")
    exposure = derive_medication_exposure(assessments.select("patient_id", "day"), records)
    recorded = [c for c in EXPOSURE_COLUMNS if c in assessments.columns]
    derived = exposure.select([pl.col(c).cast(pl.Utf8) for c in EXPOSURE_COLUMNS])
    merged = [pl.coalesce(pl.col(c), derived[c]).alias(c) if c in recorded else derived[c] for c in EXPOSURE_COLUMNS]
    return assessments.with_columns(merged)


def score_database(
    engine: Engine, indices: Iterable[str] | None = None, progress: Progress | None = None
) -> list[IndexRun]:
    """Score and store every applicable assessment for each index (all wide/long indices by default)."""
    assessments = with_medication_exposure(assessment_table(engine), read_table(engine, "medications"))
    chosen = [registry()[name] for name in indices] if indices is not None else list(registry().values())
    runs = []
    for definition in chosen:
        if definition.layout == "per_patient":
            continue
        if progress:
            progress(definition.name)
        table = assessments_for(definition, assessments)
        if table.is_empty():
            runs.append(IndexRun(definition.name, 0, ()))
            continue
        outcome = score_table(definition.name, table)
        stored = save_scores(engine, definition.name, definition.version, outcome.scored, definition.outputs)
        runs.append(IndexRun(definition.name, stored, tuple(outcome.problems)))
    return runs


def check_database(engine: Engine, *, actor: str = CHECKS_ACTOR, days_before: int | None = None) -> SyncResult:
    """Run every data-quality check (:mod:`remission.analysis.quality`) over the stored records
    and store the queries they raise (:func:`remission.store.queries.sync_queries`)."""
    from remission.analysis.quality import DEFAULT_DAYS_BEFORE, QualityTables, checked_rules, run_checks

    tables = QualityTables(
        assessments=assessment_table(engine),
        labs=read_table(engine, "labs"),
        adverse_events=read_table(engine, "adverse_events"),
        medications=read_table(engine, "medications"),
    )
    window = DEFAULT_DAYS_BEFORE if days_before is None else days_before
    raised = run_checks(tables, days_before=window)
    return sync_queries(engine, raised, checked_rules(), actor=actor)


@dataclass(frozen=True)
class RescoreRun:
    """What :func:`rescore_database` did for one index (scores computed, and how many of them
    were new, changed or already stored as they are)."""

    index: str
    scored: int
    inserted: int
    updated: int
    unchanged: int
    problems: tuple[Problem, ...]


StepProgress = Callable[[str, int, int], None]


def rescore_database(
    engine: Engine,
    indices: Iterable[str] | None = None,
    *,
    since: date | None = None,
    patients: Sequence[str] | None = None,
    actor: str = "system",
    progress: StepProgress | None = None,
    scheduler: str | None = None,
    patients_per_task: int = 500,
) -> list[RescoreRun]:
    """Score stored assessments column-wise and write only new and changed scores (``remission rescore``).

    The same scores as :func:`score_database` (tests compare both), read and written in bulk:
    :func:`remission.store.bulk_scores.read_assessments` (one Core query, items decoded by
    polars), the indices' vectorised forms, then
    :func:`remission.store.bulk_scores.write_scores` (one transaction, one audit event with the
    counts, one per stored score that changed).

    ``patients`` and ``since`` restrict what is written to those patients' assessments and to
    assessments dated on or after ``since``; each chosen patient's other assessments are still
    read, so baselines and previous visits are those of a full rescore. ``progress(step, done,
    total)`` is called per index scored and written.

    With ``scheduler`` (a ``dask.distributed`` scheduler address) the patients are cut into groups
    of ``patients_per_task``; each Dask task opens the database itself, reads its patients'
    assessments and medications straight from it and scores them (:func:`score_patient_group`), so
    no assessment passes through this process. Only the scores come back, and they are written here
    in the one transaction of the local path: a patient's whole course is scored in one task (the
    long indices need it), and the result is the local path's.
    """
    chosen = _chosen_definitions(indices)
    total = len(chosen) * 2 + 1
    if scheduler is None:
        batches, problems = _score_locally(engine, chosen, since, patients, progress, total)
    else:
        batches, problems = _score_on_cluster(engine, chosen, since, patients, scheduler, patients_per_task, progress)

    def written(step: str, done: int, _total: int) -> None:
        if progress:
            progress(step, len(chosen) + 1 + done, total)

    filters = {"since": since.isoformat() if since else None, "patients": len(patients) if patients else None}
    result = write_scores(engine, batches, actor=actor, detail={"filters": filters}, progress=written)
    runs = []
    for definition in chosen:
        c = result.counts.get(definition.name)
        found = problems.get(definition.name, ())
        if c is None:
            runs.append(RescoreRun(definition.name, 0, 0, 0, 0, found))
        else:
            runs.append(RescoreRun(definition.name, c.scored, c.inserted, c.updated, c.unchanged, found))
    return runs


def _chosen_definitions(indices: Iterable[str] | None) -> list[IndexDefinition]:
    table = registry()
    names = list(indices) if indices is not None else list(table)
    return [table[name] for name in names if table[name].layout != "per_patient"]


def _read_for_rescore(engine: Engine, since: date | None, patients: Sequence[str] | None) -> pl.DataFrame:
    """The assessments to rescore, with each visit's medication exposure derived."""
    assessments = read_assessments(engine, patients=patients, since=since)
    if assessments.is_empty():
        return assessments
    assessments = assessments.with_columns(
        [pl.col(c).cast(pl.Utf8) for c in EXPOSURE_COLUMNS if c in assessments.columns]
    )
    chosen_patients = assessments["patient_id"].unique().to_list() if (patients or since) else None
    meds = read_columns(
        engine,
        "medications",
        ("patient_id", "drug", "dose", "unit", "frequency", "route", "start_day", "stop_day"),
        patients=chosen_patients,
    )
    return with_medication_exposure(assessments, meds)


Scored = tuple[list[ScoreBatch], dict[str, tuple[Problem, ...]]]


def _score_locally(
    engine: Engine,
    chosen: Sequence[IndexDefinition],
    since: date | None,
    patients: Sequence[str] | None,
    progress: StepProgress | None,
    total: int,
) -> Scored:
    if progress:
        progress("reading assessments", 0, total)
    assessments = _read_for_rescore(engine, since, patients)

    def scoring(name: str, number: int) -> None:
        if progress:
            progress(f"scoring {name}", number, total)

    return _score_assessments(assessments, chosen, scoped=bool(patients or since), step=scoring)


def _score_assessments(
    assessments: pl.DataFrame,
    chosen: Sequence[IndexDefinition],
    *,
    scoped: bool,
    step: Callable[[str, int], None] | None = None,
) -> Scored:
    """Each chosen index's scores of ``assessments`` (only the rows ``in_scope`` when ``scoped``)."""
    batches: list[ScoreBatch] = []
    problems: dict[str, tuple[Problem, ...]] = {}
    for number, definition in enumerate(chosen, start=1):
        if step:
            step(definition.name, number)
        rows = assessments_for(definition, assessments)
        if rows.is_empty():
            problems[definition.name] = ()
            continue
        rows = _text_where_text(definition, rows)
        outcome = score_table(definition.name, rows)
        scored = outcome.scored
        if scoped and "in_scope" in assessments.columns:
            keep = assessments.filter(pl.col("in_scope")).select("assessment_id")
            scored = scored.join(keep, on="assessment_id", how="semi")
        problems[definition.name] = tuple(outcome.problems)
        frame = score_frame(scored, definition.outputs)
        batches.append(ScoreBatch(definition.name, definition.version, frame, len(outcome.problems)))
    return batches, problems


def score_patient_group(url: str, patients: Sequence[str], indices: Sequence[str], since: date | None = None) -> Scored:
    """Read and score the assessments of ``patients`` from the database at ``url`` (one Dask task
    of :func:`rescore_database`; it runs on a worker, which opens its own connection)."""
    from remission.store import connect

    engine = connect(url)
    try:
        assessments = _read_for_rescore(engine, since, patients)
    finally:
        engine.dispose()
    chosen = _chosen_definitions(indices)
    return _score_assessments(assessments, chosen, scoped=True)


def _score_on_cluster(
    engine: Engine,
    chosen: Sequence[IndexDefinition],
    since: date | None,
    patients: Sequence[str] | None,
    scheduler: str,
    patients_per_task: int,
    progress: StepProgress | None,
) -> Scored:
    """Score patient groups as Dask tasks and gather the scores per index, in patient order."""
    from distributed import Client, as_completed

    url = engine.url.render_as_string(hide_password=False)
    if url.startswith("sqlite") and ":memory:" in url:
        why = "an in-memory database cannot be shared with workers"
        raise InvalidInputError([Problem(None, "--dask-scheduler", scheduler, why)])
    groups = _patient_groups(engine, patients, max(1, patients_per_task))
    names = [d.name for d in chosen]
    parts: dict[int, Scored] = {}
    with Client(scheduler) as client:
        futures = {
            client.submit(score_patient_group, url, group, names, since, pure=False): number
            for number, group in enumerate(groups)
        }
        for done, future in enumerate(as_completed(futures), start=1):
            parts[futures[future]] = future.result()
            if progress:
                progress(f"scored patient group {done} of {len(groups)}", done, len(groups))
    return _merge_parts([parts[n] for n in sorted(parts)], chosen)


def _patient_groups(engine: Engine, patients: Sequence[str] | None, size: int) -> list[list[str]]:
    from sqlalchemy import select

    from remission.store import schema

    a = schema.assessments
    with engine.connect() as connection:
        ids = list(connection.scalars(select(a.c.patient_id).distinct().order_by(a.c.patient_id)))
    if patients is not None:
        wanted = set(patients)
        ids = [pid for pid in ids if pid in wanted]
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _merge_parts(parts: Sequence[Scored], chosen: Sequence[IndexDefinition]) -> Scored:
    """One batch per index from the groups' batches (scores and problem counts added up)."""
    batches: list[ScoreBatch] = []
    problems: dict[str, tuple[Problem, ...]] = {}
    for definition in chosen:
        mine = [b for part in parts for b in part[0] if b.index == definition.name]
        problems[definition.name] = tuple(p for part in parts for p in part[1].get(definition.name, ()))
        if mine:
            frame = pl.concat([b.scores for b in mine], how="vertical_relaxed")
            batches.append(ScoreBatch(definition.name, definition.version, frame, sum(b.problems for b in mine)))
    return batches, problems


def _text_where_text(definition: IndexDefinition, rows: pl.DataFrame) -> pl.DataFrame:
    """Integer item columns that the index reads as category or text, as text (as the row path reads them)."""
    textual = {c.code for c in definition.all_columns() if c.kind in ("category", "text")}
    cast = [pl.col(c).cast(pl.Utf8) for c in rows.columns if c in textual and rows[c].dtype.is_integer()]
    return rows.with_columns(cast) if cast else rows
