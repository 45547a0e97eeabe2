"""The report's data-quality section: the stored queries counted by rule and listed.

The section reads the ``queries`` table (raised by ``remission check``, and by ``remission demo``
before the report); it never changes a record. Scores elsewhere in the report are computed from
the records as entered: a query asks the site, it does not correct the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from remission.analysis.quality import rule_sources
from remission.report.document import Section
from remission.store.queries import last_check, list_queries

if TYPE_CHECKING:
    from remission.report.sections import Context

TITLE = "7. Data quality"
STATUSES = ("open", "answered", "closed")


def queries_by_rule(queries: pl.DataFrame) -> pl.DataFrame:
    """``rule``, one count column per status and ``total``, by rule (the most queries first).

    >>> q = pl.DataFrame({"rule": ["a", "a", "b"], "status": ["open", "closed", "open"]})
    >>> queries_by_rule(q).rows()
    [('a', 1, 0, 1, 2), ('b', 1, 0, 0, 1)]
    """
    counts = queries.group_by("rule").agg(
        *[(pl.col("status") == s).sum().cast(pl.Int64).alias(s) for s in STATUSES],
        pl.len().cast(pl.Int64).alias("total"),
    )
    return counts.sort(["total", "rule"], descending=[True, False])


def _listing(queries: pl.DataFrame) -> pl.DataFrame:
    return queries.select(
        "id",
        "patient_id",
        (pl.col("record_type") + "/" + pl.col("record_id").cast(pl.String)).alias("record"),
        "rule",
        "status",
        "message",
        "answer",
    )


def quality_section(ctx: Context) -> Section:
    """Counts of queries by rule (with each rule's source) and the list of every query."""
    engine = ctx.data.engine
    ran = last_check(engine)
    if ran is None:
        return Section(TITLE, unavailable="the data-quality checks have not run on this database (`remission check`)")
    rows = list_queries(engine)
    note = (
        f"Checks last run {ran['at']:%Y-%m-%d %H:%M}. A query asks the site to confirm or correct a source record; "
        "no record is changed by a check, and every score in this report is computed from the records as entered. "
        "Rules and sources: docs/decisions/quality.md."
    )
    if not rows:
        return Section(TITLE, note=note + " No query was raised.")
    queries = pl.DataFrame(rows, infer_schema_length=None).select(
        "id", "patient_id", "record_type", "record_id", "rule", "status", "message", "answer"
    )
    sources = rule_sources()
    counts = queries_by_rule(queries).with_columns(
        pl.col("rule")
        .map_elements(lambda r: sources.get(r, "rule no longer checked"), return_dtype=pl.String)
        .alias("source")
    )
    tables = [
        ctx.table(f"Data-quality queries by rule ({queries.height} in all)", counts, "quality_queries_by_rule"),
        ctx.table("Data-quality queries", _listing(queries), "quality_queries"),
    ]
    return Section(TITLE, note=note, tables=tables)
