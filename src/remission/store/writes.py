"""The pieces every write of a patient's records is made of, in one place: the optimistic version
check, the version bump and the audit row (one shape for every writer).

A patient carries a ``version`` that every change of the patient or one of its records increases
in the same transaction as the change. A writer names the version its change was based on; when
another writer got in first the write is refused with :class:`~remission.errors.StaleVersionError`
(the web answers 409), so nothing is lost and nothing written twice. The web, the API and
:func:`remission.store.repository.update_patient` all go through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select, update

from remission.errors import StaleVersionError, VersionRequiredError
from remission.store import schema


def jsonable(value: Any) -> Any:
    """``value`` with dates as ISO text and tuples as lists, as the audit's JSON column holds it.

    >>> jsonable({"day": date(2024, 1, 2), "pair": (1, 2)})
    {'day': '2024-01-02', 'pair': [1, 2]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def append_audit(
    connection: Connection, actor: str, action: str, entity: str, entity_id: str, detail: Mapping[str, Any]
) -> None:
    """Append one audit record in the caller's transaction (the application never updates or
    deletes one). ``detail`` names the patient (``patient_id``) for a record of a patient."""
    connection.execute(
        schema.audit_log.insert().values(
            # a failed login's actor is whatever was typed: NUL (which PostgreSQL text cannot hold) escaped
            actor=actor.replace("\x00", "\\0")[:64],
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail=jsonable(dict(detail)),
        )
    )


def check_version(patient_id: str, current: int, expected: int | None, *, required: bool) -> None:
    """Refuse a write based on another version than ``current``; with ``required``, also one that
    names no version.

    >>> check_version("P1", 3, 3, required=True)
    >>> check_version("P1", 3, None, required=False)
    >>> check_version("P1", 4, 3, required=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    remission.errors.StaleVersionError: column version: value 3: stale; current version is 4
    """
    if expected is None:
        if required:
            raise VersionRequiredError(patient_id)
        return
    if int(expected) != int(current):
        raise StaleVersionError(patient_id, expected=int(expected), current=int(current))


def bump_version(connection: Connection, patient_id: str, version: int) -> int:
    """Move the patient from ``version`` to the next one; refused when another writer moved it
    between the caller's read and this update. Returns the new version."""
    table = schema.patients
    result = connection.execute(
        update(table)
        .where(table.c.patient_id == patient_id, table.c.version == version)
        .values(version=table.c.version + 1, updated_at=func.current_timestamp())
    )
    if result.rowcount != 1:
        now = connection.execute(select(table.c.version).where(table.c.patient_id == patient_id)).scalar()
        raise StaleVersionError(patient_id, expected=version, current=int(now) if now is not None else version)
    return version + 1


__all__ = ["append_audit", "bump_version", "check_version", "jsonable"]
