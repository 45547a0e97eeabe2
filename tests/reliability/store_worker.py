"""A writer process for the crash-safety and concurrency tests (run as a script, not collected).

``python store_worker.py import URL PREFIX COPIES``: build a cohort of COPIES copies of the demo
cohort (patient ids prefixed ``PREFIX<k>-``), print ``ready``, wait for ``go`` on stdin, save it
in one transaction, print ``done``. ``python store_worker.py update URL PATIENT N NAME``: N read-modify-write
updates of one patient (append ``NAME-i`` to its prior treatments), retrying on stale versions;
prints ``done <retries>``.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from remission.demo.cohort import generate_demo_cohort
from remission.errors import StaleVersionError
from remission.model import Cohort
from remission.store import connect, save_cohort, update_patient
from remission.store.schema import patients

WORKER = Path(__file__).resolve()
RECORD_TABLES = ("patients", "infusions", "assessments", "labs", "medications", "adverse_events")


@cache
def _demo() -> Cohort:
    return generate_demo_cohort()


def scaled_cohort(prefix: str, copies: int) -> Cohort:
    """``copies`` copies of the demo cohort whose patient ids start with ``prefix<k>-``."""
    demo = _demo()
    tables: dict[str, list[object]] = {name: [] for name in RECORD_TABLES}
    for k in range(copies):
        for name in RECORD_TABLES:
            for record in getattr(demo, name):
                new_id = f"{prefix}{k}-{record.patient_id}"  # type: ignore[attr-defined]
                update: dict[str, object] = {"patient_id": new_id}
                if getattr(record, "source_key", None):  # each copy is its own source record
                    update["source_key"] = f"{prefix}{k}-{record.source_key}"  # type: ignore[attr-defined]
                tables[name].append(record.model_copy(update=update))  # type: ignore[attr-defined]
    return Cohort(sites=demo.sites, **{name: tuple(rows) for name, rows in tables.items()})  # type: ignore[arg-type]


def expected_counts(copies: int) -> dict[str, int]:
    demo = _demo()
    return {name: copies * len(getattr(demo, name)) for name in RECORD_TABLES}


def run_import(url: str, prefix: str, copies: int) -> None:
    engine = connect(url)
    cohort = scaled_cohort(prefix, copies)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":  # the test ended before this save's turn
        return
    save_cohort(engine, cohort, actor=f"import-{prefix}")
    print("done", flush=True)


def append_treatments(url: str, patient_id: str, n: int, name: str) -> int:
    """N updates of one patient, each re-read and retried until it wins; returns the retries."""
    from sqlalchemy import select

    engine = connect(url)
    retries = 0
    for i in range(n):
        while True:
            with engine.connect() as connection:
                row = connection.execute(select(patients).where(patients.c.patient_id == patient_id)).one()
            treatments = [*row.prior_treatments, {"drug": f"{name}-{i}"}]
            try:
                update_patient(engine, patient_id, {"prior_treatments": treatments}, row.version, actor=name)
                break
            except StaleVersionError:
                retries += 1
    engine.dispose()
    return retries


if __name__ == "__main__":
    mode, url, *args = sys.argv[1:]
    if mode == "import":
        run_import(url, args[0], int(args[1]))
    else:
        print("done", append_treatments(url, args[0], int(args[1]), args[2]), flush=True)
