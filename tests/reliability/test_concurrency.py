"""Concurrent writers on one patient: no lost update, no deadlock, one audit row per write.

Writers (threads of one process, and separate processes) each append their own treatments to
the same patient with read-modify-write through :func:`remission.store.update_patient`, retrying
when another writer got there first (StaleVersionError). Afterwards every appended treatment is
there (nothing lost), the version counts every write exactly once, and audit_log has one row per
successful write. Bounded time: a writer that hangs (deadlock) fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date

import pytest
from sqlalchemy import Engine, func, select
from store_worker import WORKER, append_treatments, scaled_cohort

from remission.errors import InvalidInputError, StaleVersionError
from remission.model import Cohort, Patient, Site
from remission.store import connect, save_cohort, schema, update_patient

PATIENT = "C-1"


def seed(url: str) -> None:
    engine = connect(url)
    patient = Patient(
        patient_id=PATIENT, site_id="S1", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015
    )
    save_cohort(engine, Cohort(sites=(Site(site_id="S1"),), patients=(patient,)), actor="seed")
    engine.dispose()


def patient_state(url: str) -> tuple[int, list[str], int]:
    """(version, drugs, audit rows of updates) of the test patient."""
    engine = connect(url)
    with engine.connect() as connection:
        row = connection.execute(select(schema.patients).where(schema.patients.c.patient_id == PATIENT)).one()
        audits = connection.execute(
            select(func.count())
            .select_from(schema.audit_log)
            .where(schema.audit_log.c.entity_id == PATIENT, schema.audit_log.c.action == "update")
        ).scalar_one()
    engine.dispose()
    return row.version, [t["drug"] for t in row.prior_treatments], int(audits)


def test_stale_version_is_refused_and_changes_nothing(db_url: str, store: Engine) -> None:
    seed(db_url)
    engine = store
    assert update_patient(engine, PATIENT, {"diagnosis_year": 2016}, expected_version=1) == 2
    with pytest.raises(StaleVersionError) as caught:
        update_patient(engine, PATIENT, {"diagnosis_year": 2020}, expected_version=1)
    assert (caught.value.expected, caught.value.current) == (1, 2)
    with engine.connect() as connection:
        year = connection.execute(select(schema.patients.c.diagnosis_year)).scalar_one()
    assert year == 2016
    assert patient_state(db_url)[0::2] == (2, 1)  # version 2, one audit row


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"patient_id": "X"}, r"column patient_id: value X: not a field update_patient can change"),
        ({"birth_year": 1800}, r"column birth_year: value 1800: Input should be greater than or equal to 1900"),
        ({"disease": "flu"}, r"column disease: value flu: Input should be 'SLE', 'IIM', 'SSc' or 'other'"),
    ],
    ids=["identity", "out-of-range", "bad-choice"],
)
def test_invalid_update_is_refused_and_writes_nothing(
    db_url: str, store: Engine, changes: dict[str, object], pattern: str
) -> None:
    seed(db_url)
    with pytest.raises(InvalidInputError, match=pattern):
        update_patient(store, PATIENT, changes, expected_version=1)
    assert patient_state(db_url)[0::2] == (1, 0)


def test_unknown_patient_is_refused(store: Engine) -> None:
    with pytest.raises(InvalidInputError, match=r"column patient_id: value nobody: no such patient"):
        update_patient(store, "nobody", {"birth_year": 1990}, expected_version=1)


def test_resaving_a_changed_patient_bumps_its_version_and_an_identical_one_does_not(db_url: str, store: Engine) -> None:
    seed(db_url)
    engine = store
    same = Patient(patient_id=PATIENT, site_id="S1", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
    save_cohort(engine, Cohort(sites=(Site(site_id="S1"),), patients=(same,)))
    assert patient_state(db_url)[0] == 1
    changed = same.model_copy(update={"diagnosis_year": 2016})
    save_cohort(engine, Cohort(sites=(Site(site_id="S1"),), patients=(changed,)))
    assert patient_state(db_url)[0] == 2
    with pytest.raises(StaleVersionError):  # an editor who read version 1 must not overwrite the import
        update_patient(engine, PATIENT, {"diagnosis_year": 2000}, expected_version=1)


THREADS, PER_THREAD = 6, 8


def test_threads_updating_one_patient_lose_nothing(db_url: str, store: Engine) -> None:
    seed(db_url)
    retries: list[int] = []
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            retries.append(append_treatments(db_url, PATIENT, PER_THREAD, name))
        except BaseException as exc:  # reported below: any exception is a failure
            errors.append(exc)

    # An import of other patients runs at the same time: writers of different kinds interleave.
    importer = threading.Thread(target=lambda: save_cohort(store, scaled_cohort("T", 2), actor="import"))
    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(THREADS)]
    for t in [importer, *threads]:
        t.start()
    for t in [importer, *threads]:
        t.join(timeout=120)
        assert not t.is_alive(), "a writer hung: deadlock?"
    assert errors == []
    version, drugs, audits = patient_state(db_url)
    expected = {f"t{i}-{j}" for i in range(THREADS) for j in range(PER_THREAD)}
    assert set(drugs) == expected and len(drugs) == len(expected), "an update was lost or applied twice"
    assert version == 1 + THREADS * PER_THREAD
    assert audits == THREADS * PER_THREAD
    print(f"threads: {THREADS} writers x {PER_THREAD} updates, {sum(retries)} stale retries")


PROCESSES, PER_PROCESS = 4, 30


def test_processes_updating_one_patient_lose_nothing(db_url: str) -> None:
    seed(db_url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "update", db_url, PATIENT, str(PER_PROCESS), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0 and out.startswith("done"), err
    version, drugs, audits = patient_state(db_url)
    expected = {f"p{i}-{j}" for i in range(PROCESSES) for j in range(PER_PROCESS)}
    assert set(drugs) == expected and len(drugs) == len(expected)
    assert version == 1 + PROCESSES * PER_PROCESS
    assert audits == PROCESSES * PER_PROCESS
    retries = sum(int(out.split()[1]) for out, _ in outputs)
    print(f"processes: {PROCESSES} writers x {PER_PROCESS} updates, {retries} stale retries")


def test_prior_treatment_dates_survive_an_update(db_url: str, store: Engine) -> None:
    seed(db_url)
    engine = store
    update_patient(engine, PATIENT, {"prior_treatments": [{"drug": "rituximab", "start_date": date(2020, 1, 2)}]}, 1)
    assert patient_state(db_url)[1] == ["rituximab"]
    with engine.connect() as connection:
        stored = connection.execute(select(schema.patients.c.prior_treatments)).scalar_one()
    assert stored == [{"drug": "rituximab", "start_date": "2020-01-02", "stop_date": None, "synthetic": False}]
