"""The Dask engine: plan pieces of a Parquet dataset, score them on workers, move the result in.

How it works
------------
1. **Plan** (client, metadata only): the files matching the pattern, in name order, are cut into
   :class:`Piece` s of whole row groups (about ``partition_rows`` rows each); each piece knows the
   0-based index of its first row in the whole dataset, so that every problem is reported with its
   row number over the dataset (the row number ``remission.score`` would give on the files read
   one after the other).
2. **Score** (workers): wide indices score each piece on its own. Indices that need a patient's
   whole course (layout ``long`` and ``per_patient``) first hash-partition every piece by
   ``patient_id`` into buckets on disk (one patient's rows all land in one bucket), then score
   bucket by bucket, rows in input order. Each task validates and scores with
   :func:`remission.api.score_table` (the in-memory code), writes its Parquet part into a
   temporary folder next to the output and returns only counts and problems.
3. **Commit** (client): with ``on_error="raise"`` any problem deletes the temporary folder and
   raises :class:`~remission.InvalidInputError` listing every problem; otherwise the folder is
   renamed into place (and the invalid rows written to ``OUT.errors.csv`` with ``on_error="skip"``).

Only one piece (or bucket) per worker thread is in memory at a time, whatever the dataset size.
On a multi-machine cluster the input files and the output's parent folder must be on a file system
every worker sees under the same path, and every worker needs remission installed (same version).
"""

from __future__ import annotations

import glob
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.indices import get_index
from remission.indices._base import IndexDefinition

GLOBAL_ROW = "__remission_row"
BUCKET = "__remission_bucket"


@dataclass(frozen=True)
class Piece:
    """A slice of one Parquet file (whole row groups): rows ``start`` … ``start + rows - 1`` of
    ``path``, which are rows ``offset`` … ``offset + rows - 1`` (0-based) of the whole dataset."""

    number: int
    path: str
    start: int
    rows: int
    offset: int


@dataclass(frozen=True)
class DatasetOutcome:
    """What :func:`score_dataset` wrote: the output folder of Parquet parts and the counts."""

    output: Path
    parts: int
    rows: int
    rejected: int
    problems: list[Problem] = field(default_factory=list)
    errors: Path | None = None


@dataclass(frozen=True)
class _Report:
    rows: int = 0
    rejected: int = 0
    problems: tuple[Problem, ...] = ()
    written: bool = False


def expand_pattern(pattern: str | Path) -> list[str]:
    """The Parquet files of ``pattern`` (a glob such as ``'DIR/*.parquet'``, a folder or one file),
    as absolute paths in name order."""
    path = Path(pattern)
    found = sorted(str(p) for p in path.glob("*.parquet")) if path.is_dir() else sorted(glob.glob(str(pattern)))
    if not found:
        raise InvalidInputError([Problem(None, "input", str(pattern), "no Parquet file matches")])
    return [str(Path(p).resolve()) for p in found]


def plan_pieces(paths: Sequence[str], partition_rows: int = 1_000_000) -> list[Piece]:
    """Cut the files into pieces of whole row groups of about ``partition_rows`` rows.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> folder = tempfile.mkdtemp()
    >>> pl.DataFrame({"x": range(10)}).write_parquet(f"{folder}/a.parquet", row_group_size=4)
    >>> [(p.start, p.rows, p.offset) for p in plan_pieces([f"{folder}/a.parquet"], partition_rows=5)]
    [(0, 4, 0), (4, 4, 4), (8, 2, 8)]
    """
    import pyarrow.parquet as pq

    pieces: list[Piece] = []
    offset = 0
    for path in paths:
        meta = pq.read_metadata(path)
        start = count = 0
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            if count and count + rows > partition_rows:
                pieces.append(Piece(len(pieces), path, start, count, offset))
                offset, start, count = offset + count, start + count, 0
            count += rows
        if count:
            pieces.append(Piece(len(pieces), path, start, count, offset))
            offset += count
    return pieces


def check_schemas(paths: Sequence[str], definition: IndexDefinition) -> None:
    """Whole-dataset problems found from the files' schemas alone (before any work is sent)."""
    import pyarrow.parquet as pq

    problems: list[Problem] = []
    required = [c.code for c in definition.all_columns() if c.required]
    for path in paths:
        names = set(pq.read_schema(path).names)
        problems += [
            Problem(None, code, Path(path).name, f"required column is missing from the input for {definition.name}")
            for code in required
            if code not in names
        ]
        problems += [
            Problem(None, c, Path(path).name, f"is an output column of {definition.name}; remove it from the input")
            for c in definition.outputs
            if c in names
        ]
    if problems:
        raise InvalidInputError(problems)


# --------------------------------------------------------------------------------------------
# Worker tasks (module-level functions, so that they pickle by reference).
# --------------------------------------------------------------------------------------------


def _read_piece(piece: Piece) -> pl.DataFrame:
    return pl.scan_parquet(piece.path).slice(piece.start, piece.rows).collect()


def _score_part(
    index: str | IndexDefinition,
    frame: pl.DataFrame,
    rows: int | np.ndarray,
    tmp: str,
    name: str,
    settings: dict[str, Any],
) -> _Report:
    """Score one part; write it (and its invalid rows) under ``tmp``; rows renumbered globally."""
    from remission.api import score_table

    try:
        outcome = score_table(index, frame, **settings)
    except InvalidInputError as err:
        return _Report(problems=tuple(err.problems))

    def global_row(local: int) -> int:
        return local + rows if isinstance(rows, int) else int(rows[local - 1]) + 1

    problems = tuple(p if p.row is None else replace(p, row=global_row(p.row)) for p in outcome.problems)
    outcome.scored.write_parquet(Path(tmp) / "parts" / f"{name}.parquet")
    rejected = outcome.rejected
    if rejected.height:
        local = rejected["row"].to_numpy()
        renumbered = local + rows if isinstance(rows, int) else rows[local - 1] + 1
        rejected = rejected.with_columns(pl.Series("row", renumbered, dtype=pl.Int64))
        rejected.write_parquet(Path(tmp) / "errors" / f"{name}.parquet")
    return _Report(outcome.scored.height, rejected.height, problems, True)


def _task_wide(piece: Piece, index: str | IndexDefinition, tmp: str, settings: dict[str, Any]) -> _Report:
    return _score_part(index, _read_piece(piece), piece.offset, tmp, f"part-{piece.number:06d}", settings)


def _task_bucket(piece: Piece, tmp: str, buckets: int) -> int:
    """Hash-partition a piece by patient_id into ``buckets`` folders (one patient, one bucket)."""
    frame = _read_piece(piece)
    key = pl.col("patient_id").cast(pl.Utf8).str.strip_chars()
    frame = frame.with_columns(
        pl.int_range(piece.offset, piece.offset + frame.height, dtype=pl.Int64).alias(GLOBAL_ROW),
        (key.hash(seed=0) % buckets).alias(BUCKET),
    )
    for (bucket,), part in frame.partition_by(BUCKET, as_dict=True, include_key=False).items():
        folder = Path(tmp) / "shuffle" / f"b{bucket:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        part.write_parquet(folder / f"p{piece.number:06d}.parquet")
    return frame.height


def _task_long(bucket: int, index: str | IndexDefinition, tmp: str, settings: dict[str, Any]) -> _Report:
    folder = Path(tmp) / "shuffle" / f"b{bucket:06d}"
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return _Report()
    frame = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed").sort(GLOBAL_ROW)
    rows = frame[GLOBAL_ROW].to_numpy()
    report = _score_part(index, frame.drop(GLOBAL_ROW), rows, tmp, f"part-{bucket:06d}", settings)
    shutil.rmtree(folder, ignore_errors=True)
    return report


# --------------------------------------------------------------------------------------------
# Client side.
# --------------------------------------------------------------------------------------------


@contextmanager
def _client(scheduler: str | None, n_workers: int, memory_limit: str, processes: bool) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit,
            host="127.0.0.1",
            protocol="tcp://",
            dashboard_address="127.0.0.1:0",  # its HTTP server on a free port, no dashboard
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _run(
    client: Any,
    definition: IndexDefinition,
    index: Any,
    pieces: list[Piece],
    tmp: str,
    settings: dict[str, Any],
    partition_rows: int,
) -> list[_Report]:
    if definition.layout == "wide":
        futures = client.map(_task_wide, pieces, index=index, tmp=tmp, settings=settings, pure=False)
        return list(client.gather(futures))
    total = sum(p.rows for p in pieces)
    workers = max(1, sum(client.nthreads().values()))
    buckets = max(workers, -(-total // partition_rows))
    client.gather(client.map(_task_bucket, pieces, tmp=tmp, buckets=buckets, pure=False))
    futures = client.map(_task_long, list(range(buckets)), index=index, tmp=tmp, settings=settings, pure=False)
    return list(client.gather(futures))


def score_dataset(
    index: str | IndexDefinition,
    pattern: str | Path,
    out_dir: str | Path,
    scheduler: str | None = None,
    *,
    missing: str = "empty",
    on_error: str = "raise",
    explain: bool = True,
    partition_rows: int = 1_000_000,
    n_workers: int = 2,
    memory_limit: str = "1GiB",
    processes: bool = True,
    **options: Any,
) -> DatasetOutcome:
    """Score a Parquet dataset out of core on a Dask cluster; write a folder of Parquet parts.

    Parameters
    ----------
    index : str or IndexDefinition
        A registry name (e.g. ``"sledai2k"``) or an index definition.
    pattern : str or Path
        The input files: a glob (``"DIR/*.parquet"``), a folder (its ``*.parquet``) or one file.
        Rows are numbered over the files in name order, as if they were one table.
    out_dir : str or Path
        The output folder of Parquet parts (``part-NNNNNN.parquet``; replaced if it exists). Wide
        indices keep the input order across parts; long and per-patient indices write one part
        per bucket of patients (input order within a part).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``). By default a LocalCluster
        is started on 127.0.0.1 for the call and closed after it.
    missing : {"empty", "absent"}
        As in :func:`remission.score`.
    on_error : {"raise", "skip"}
        ``"raise"``: any invalid row raises :class:`~remission.InvalidInputError` listing every
        problem, and nothing is written. ``"skip"``: valid rows are written and the invalid ones
        go to ``<out_dir stem>.errors.csv`` beside the folder, with their row and problem.
    explain : bool
        ``False`` omits the ``*_explain`` columns.
    partition_rows : int
        About how many rows one task holds in memory (pieces are whole Parquet row groups).
    n_workers, memory_limit, processes
        The default LocalCluster: worker processes (one thread each), the memory limit of each.
    **options
        The index's documented options.

    Returns
    -------
    DatasetOutcome
        The output folder, number of parts, rows written, rows rejected and their problems.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "in").mkdir()
    >>> pl.DataFrame({"arthritis": [1, 0], "rash": [1, 1]}).write_parquet(folder / "in" / "a.parquet")
    >>> done = score_dataset("sledai2k", folder / "in", folder / "out", missing="absent", explain=False,
    ...                      processes=False)
    >>> pl.read_parquet(folder / "out")["sledai2k"].to_list()
    [6, 2]
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError([Problem(None, "on_error", str(on_error), "expected 'raise' or 'skip'")])
    if missing not in ("empty", "absent"):
        raise InvalidInputError([Problem(None, "missing", str(missing), "expected 'empty' or 'absent'")])
    definition = index if isinstance(index, IndexDefinition) else get_index(index)
    definition.parse_options(options)
    paths = expand_pattern(pattern)
    check_schemas(paths, definition)
    pieces = plan_pieces(paths, partition_rows)
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    (tmp / "parts").mkdir(parents=True)
    (tmp / "errors").mkdir()
    settings = {"missing": missing, "explain": explain, **options}
    try:
        with _client(scheduler, n_workers, memory_limit, processes) as client:
            reports = _run(client, definition, index, pieces, str(tmp), settings, partition_rows)
        problems = _merge_problems(reports)
        if problems and on_error == "raise":
            raise InvalidInputError(problems)
        if any(p.row is None for p in problems):  # a part could not be scored at all
            raise InvalidInputError([p for p in problems if p.row is None])
        errors = _write_errors(tmp / "errors", out) if problems else None
        _move_into_place(tmp / "parts", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return DatasetOutcome(
        output=out,
        parts=sum(r.written for r in reports),
        rows=sum(r.rows for r in reports),
        rejected=sum(r.rejected for r in reports),
        problems=problems,
        errors=errors,
    )


def _merge_problems(reports: Sequence[_Report]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for report in reports:
        for p in report.problems:
            seen.setdefault(f"{p.row}\0{p}", p)
    return sorted(seen.values(), key=lambda p: (p.row or 0, p.column))


def _write_errors(folder: Path, out: Path) -> Path:
    target = out.with_name(out.stem + ".errors.csv")
    part = target.with_name(target.name + ".part")
    scans = [pl.scan_parquet(f) for f in sorted(folder.glob("*.parquet"))]
    pl.concat(scans, how="diagonal_relaxed").sort("row").sink_csv(part)
    part.replace(target)
    return target


def _move_into_place(parts: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    if out.exists():
        out.rename(old)
    parts.rename(out)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists():
        old.unlink()
