"""A data-quality query: what a check found about one stored record, as an EDC raises it.

Checks (:mod:`remission.analysis.quality`) yield :class:`RaisedQuery` values; the store keeps them
in the ``queries`` table with a :class:`QueryStatus` that people move on (answer, close).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class QueryStatus(StrEnum):
    """Where a query stands: raised (``open``), answered by the site, or ``closed``."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


@dataclass(frozen=True)
class RaisedQuery:
    """One finding of one check about one record.

    ``record_type`` is the record's table (``assessments``, ``adverse_events``, ``medications``)
    and ``record_id`` its stored id; ``rule`` names the check's rule (one row of a rule table);
    ``values`` holds what the check compared (JSON-serialisable), ``message`` says it in words.
    """

    patient_id: str
    record_type: str
    record_id: int
    rule: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the query across runs: the rule and the record it is about."""
        return (self.rule, self.record_type, self.record_id)
