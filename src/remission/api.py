"""The Python API contract: :func:`score` (mirrors ``remission score`` on the command line)."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from remission.errors import InvalidInputError, MissingColumnsError, Problem, UnknownColumnsWarning
from remission.indices import get_index
from remission.indices._base import (
    ROW,
    Context,
    HeaderCheck,
    IndexDefinition,
    check_header,
    validate_table,
    validate_text_row,
)

OnError = Literal["raise", "skip"]


@dataclass(frozen=True)
class ScoreOutcome:
    """Scored valid rows, plus the invalid input rows with their problems (``on_error="skip"``)."""

    scored: pl.DataFrame
    rejected: pl.DataFrame
    problems: list[Problem]
    #: The header's columns that no input of the index reads, and the codes closest to each.
    header: HeaderCheck = field(default_factory=lambda: HeaderCheck((), ()))


def read_table(source: Any) -> pl.DataFrame:
    """A polars DataFrame from a polars/pandas DataFrame or a CSV/Parquet path.

    CSV is read as text so that every input cell is kept verbatim in the output; values are
    typed by the index's own column specs. pandas NaN becomes missing.
    """
    if isinstance(source, pl.DataFrame):
        return source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise InvalidInputError([Problem(None, "input", str(path), "no such file")])
        if not path.is_file():
            raise InvalidInputError([Problem(None, "input", str(path), "is not a file (a folder?)")])
        if path.suffix.lower() in (".parquet", ".pq"):
            return _read_parquet(path)
        return _read_csv(path)
    if type(source).__module__.startswith("pandas"):
        return _from_pandas(source)
    raise InvalidInputError(
        [Problem(None, "table", type(source).__name__, "expected a polars or pandas DataFrame, or a CSV/Parquet path")]
    )


def _from_pandas(source: Any) -> pl.DataFrame:
    """A pandas table as polars; object columns that mix types (str and float, as
    ``read_excel`` gives) become text, typed later by the index's column specs like CSV cells."""
    try:
        return pl.from_pandas(source, nan_to_null=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        pass
    columns: dict[str, pl.Series] = {}
    for name in source.columns:
        values = source[name]
        if values.dtype == object:
            cells = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
            columns[str(name)] = pl.Series(str(name), cells, dtype=pl.Utf8)
        else:
            try:
                columns[str(name)] = pl.from_pandas(values.to_frame(str(name)), nan_to_null=True).to_series()
            except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
                problem = Problem(None, str(name), str(values.dtype), f"unsupported column type ({exc})")
                raise InvalidInputError([problem]) from exc
    return pl.DataFrame(list(columns.values()))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InvalidInputError([Problem(None, "input", str(path), f"not a readable Parquet file ({exc})")]) from exc


def _read_csv(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as exc:
        from remission.csv_errors import describe_csv_error

        raise InvalidInputError([Problem(None, "input", str(path), describe_csv_error(path, exc))]) from exc


def score_table(
    index: str | IndexDefinition,
    table: Any,
    *,
    missing: str = "empty",
    explain: bool = True,
    allow_missing_columns: bool = True,
    **options: Any,
) -> ScoreOutcome:
    """Validate and score a table, keeping the invalid rows apart instead of raising.

    ``index`` is a registry name or an :class:`IndexDefinition` (e.g. one not in the registry).
    ``allow_missing_columns=False`` (what ``remission score`` and :func:`score` pass by default)
    raises :class:`~remission.errors.MissingColumnsError` when an input the index needs is absent
    from the header; internal callers that build partial tables (a form's visit) keep the default.
    """
    definition = index if isinstance(index, IndexDefinition) else get_index(index)
    if missing not in ("empty", "absent"):
        raise InvalidInputError([Problem(None, "missing", str(missing), "expected 'empty' or 'absent'")])
    ctx = Context(missing=missing, explain=explain, options=definition.parse_options(options))  # type: ignore[arg-type]
    frame = read_table(table)
    header = check_header(frame.columns, definition)
    if header.absent and not allow_missing_columns:
        raise MissingColumnsError(list(header.absent))
    _check_output_clash(frame, definition)
    checked = validate_table(frame, definition)
    valid = checked.valid
    typed = checked.typed.filter(valid) if checked.problems else checked.typed
    original = frame.filter(valid) if checked.problems else frame
    outputs = definition.compute(typed, ctx)
    if definition.layout == "per_patient":
        scored = outputs
    else:
        scored = pl.concat([original, outputs.drop(ROW, strict=False)], how="horizontal")
    rejected = _rejected_rows(frame, checked.problems)
    return ScoreOutcome(scored, rejected, checked.problems, header)


def _check_output_clash(frame: pl.DataFrame, definition: IndexDefinition) -> None:
    clash = [c for c in definition.outputs if c in frame.columns]
    if clash:
        raise InvalidInputError(
            [Problem(None, c, "", f"is an output column of {definition.name}; remove it from the input") for c in clash]
        )


def _rejected_rows(frame: pl.DataFrame, problems: list[Problem]) -> pl.DataFrame:
    by_row: dict[int, list[str]] = {}
    for p in problems:
        if p.row is not None:
            by_row.setdefault(p.row, []).append(str(p))
    rows = sorted(by_row)
    picked = frame.with_row_index("row", offset=1).filter(pl.col("row").is_in(rows))
    return picked.with_columns(
        pl.col("row").cast(pl.Int64), pl.Series("error", [" | ".join(by_row[r]) for r in rows], dtype=pl.Utf8)
    )


def score(
    index: str,
    table: Any,
    *,
    missing: str = "empty",
    on_error: OnError = "raise",
    explain: bool = True,
    allow_missing_columns: bool = False,
    **options: Any,
) -> pl.DataFrame:
    """Score every row of ``table`` with ``index``; the Python mirror of ``remission score``.

    Parameters
    ----------
    index : str
        An index name of the registry (``remission.indices.registry()``), e.g. ``"sledai2k"``.
    table : polars.DataFrame, pandas.DataFrame, str or Path
        Wide (one row per assessment) or long (``patient_id``, ``day``) table with the index's
        column codes, or a path to a CSV/Parquet file.
    missing : {"empty", "absent"}
        ``"absent"`` scores missing descriptors as absent; by default they make outputs empty.
    on_error : {"raise", "skip"}
        ``"raise"`` raises :class:`remission.InvalidInputError` listing every problem;
        ``"skip"`` returns the valid rows only.
    explain : bool
        ``False`` omits the ``*_explain`` columns (bulk work).
    allow_missing_columns : bool
        By default an input column the index needs that is absent from the header (not merely
        empty) raises :class:`remission.errors.MissingColumnsError`, naming it and the header's
        closest names; ``True`` scores such a column as missing in every row. Columns that no
        input reads give an :class:`remission.errors.UnknownColumnsWarning`.
    **options
        The index's documented options (e.g. ``population="juvenile"``).

    Returns
    -------
    polars.DataFrame
        Every input column plus the index's output columns.

    Examples
    --------
    >>> import polars as pl
    >>> visit = pl.DataFrame({"arthritis": [1], "rash": [1]})
    >>> out = score("sledai2k", visit, missing="absent", allow_missing_columns=True)
    >>> out["sledai2k"].to_list(), out["sledai2k_explain"].to_list()
    ([6], ['arthritis=4; rash=2'])
    >>> score("sledai2k", visit.rename({"arthritis": "Arthritis"}))
    Traceback (most recent call last):
    ...
    remission.errors.MissingColumnsError: column seizure: value : no column `seizure` in the header (an input of ...
    ...
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError([Problem(None, "on_error", str(on_error), "expected 'raise' or 'skip'")])
    outcome = score_table(
        index, table, missing=missing, explain=explain, allow_missing_columns=allow_missing_columns, **options
    )
    if outcome.header.unknown:
        warnings.warn(UnknownColumnsWarning(outcome.header.unknown_text()), stacklevel=2)
    if outcome.problems and on_error == "raise":
        raise InvalidInputError(outcome.problems)
    return outcome.scored


# --------------------------------------------------------------------------------------------
# Rows (JSON objects) rather than a table: the web API's `POST /api/score/{index}`
# --------------------------------------------------------------------------------------------

#: Up to this many rows a request is scored row by row with the index's scalar form; a table's
#: fixed cost (≈ 5–10 ms to plan and run the polars query) is then the larger part of the work.
SCALAR_ROWS = 16


@dataclass(frozen=True)
class RowsOutcome:
    """:class:`ScoreOutcome` as lists of JSON-ready objects (one per row)."""

    scored: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    problems: list[Problem]


def rows_to_text_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """JSON rows as an all-text table, as a CSV is read (each index types its own columns);
    ``true``/``false`` become 1/0. A nested value (object or list) is an error naming the cell."""
    codes = list(dict.fromkeys(k for r in rows for k in r))
    problems = [
        Problem(i + 1, k, str(v)[:80], "expected a scalar")
        for i, r in enumerate(rows)
        for k, v in r.items()
        if isinstance(v, dict | list)
    ]
    if problems:
        raise InvalidInputError(problems)
    return pl.DataFrame({c: [_cell_text(r.get(c)) for r in rows] for c in codes}, schema={c: pl.Utf8 for c in codes})


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def score_rows(
    index: str | IndexDefinition,
    rows: Sequence[Mapping[str, Any]],
    *,
    missing: str = "empty",
    explain: bool = True,
    **options: Any,
) -> RowsOutcome:
    """Score JSON-like rows (one mapping of column code → value per visit) with ``index``.

    The same result as :func:`score_table` on :func:`rows_to_text_frame` of the rows (tested
    equal): a few rows of a one-visit index whose cells are plain go through its scalar form,
    anything else through the table."""
    definition = index if isinstance(index, IndexDefinition) else get_index(index)
    if len(rows) <= SCALAR_ROWS:
        quick = _score_rows_scalar(definition, rows, missing, explain, options)
        if quick is not None:
            return quick
    outcome = score_table(definition, rows_to_text_frame(rows), missing=missing, explain=explain, **options)
    return RowsOutcome(outcome.scored.to_dicts(), outcome.rejected.to_dicts(), outcome.problems)


def _scalar_takes(definition: IndexDefinition, names: Sequence[str]) -> bool:
    """Whether the scalar form takes ``missing`` and each option by keyword, as the table does."""
    parameters = inspect.signature(definition.scalar).parameters
    open_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return "missing" in parameters and all(n in parameters or open_keywords for n in names)


def _score_rows_scalar(
    definition: IndexDefinition,
    rows: Sequence[Mapping[str, Any]],
    missing: str,
    explain: bool,
    options: Mapping[str, Any],
) -> RowsOutcome | None:
    """The rows scored one by one by the scalar form, or None where only the table path decides."""
    if definition.layout != "wide" or missing not in ("empty", "absent"):
        return None
    parsed = definition.parse_options(options)
    codes = list(dict.fromkeys(k for r in rows for k in r))
    if not _scalar_takes(definition, list(parsed)) or any(c in definition.outputs for c in codes):
        return None
    if any(isinstance(v, dict | list) for r in rows for v in r.values()):
        return None
    scored, rejected, problems = [], [], []
    outputs = _output_columns(definition, explain, tuple(sorted(parsed.items())))
    for number, row in enumerate(rows, start=1):
        cells = {c: _cell_text(row.get(c)) for c in codes}
        decided = validate_text_row(cells, definition, row=number)
        if decided is None:
            return None
        if decided[1]:
            problems += decided[1]
            rejected.append({"row": number, **cells, "error": " | ".join(str(p) for p in decided[1])})
            continue
        try:
            values = definition.scalar(cells, missing=missing, **parsed).values
        except InvalidInputError:
            return None  # a check of the scalar form beyond the columns': the table path words it
        scored.append({**cells, **{c: values[c] for c in outputs}})
    return RowsOutcome(scored, rejected, problems)


@functools.lru_cache(maxsize=256)
def _output_columns(definition: IndexDefinition, explain: bool, options: tuple[tuple[str, Any], ...]) -> list[str]:
    """The output columns of the table path, in its order (they do not depend on the values)."""
    ctx = Context(missing="empty", explain=explain, options=dict(options))
    codes = [c.code for c in definition.all_columns()]
    empty = pl.DataFrame({c: [None] for c in codes}, schema={c: pl.Utf8 for c in codes})
    typed = validate_table(empty, definition).typed
    return [c for c in definition.compute(typed, ctx).columns if c != ROW]
