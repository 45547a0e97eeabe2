"""Crash safety: an import killed with SIGKILL at random points leaves the database whole.

Each round starts a writer process (tests/reliability/store_worker.py) that saves a cohort of
8 copies of the demo cohort (about 37,000 rows) under a prefix of its own, waits until the
writer says ``ready`` (cohort built), tells it ``go`` (the transaction starts), then kills it
after a random delay drawn over the length of a save. Afterwards: ``PRAGMA integrity_check`` is
``ok`` (SQLite), every round's cohort is there completely or not at all, and a re-run of a
killed import completes. The same runs on PostgreSQL when ``$REMISSION_TEST_PG_URL`` is set.

The next round's writer starts up while this round's saves: a writer's start (interpreter,
imports, cohort) takes longer than the rest of a round.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select
from store_worker import RECORD_TABLES, WORKER, expected_counts

from remission.store import connect, schema

KILLS = int(os.environ.get("REMISSION_KILLS", "20"))
COPIES = 8


def start_import(url: str, prefix: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), "import", url, prefix, str(COPIES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def go_when_ready(process: subprocess.Popen[str]) -> None:
    """Wait for the writer's ``ready``, then start its save."""
    assert process.stdout is not None and process.stdin is not None
    first = process.stdout.readline().strip()
    if first != "ready":
        _, err = process.communicate(timeout=30)
        raise AssertionError(f"writer did not start: {err}")
    process.stdin.write("go\n")
    process.stdin.flush()


def counts_by_prefix(url: str, prefix: str) -> dict[str, int]:
    engine = connect(url)
    out = {}
    with engine.connect() as connection:
        for name in RECORD_TABLES:
            table = schema.metadata.tables[name]
            query = select(func.count()).select_from(table).where(table.c.patient_id.like(f"{prefix}%"))
            out[name] = int(connection.execute(query).scalar_one())
    engine.dispose()
    return out


def integrity_ok(url: str) -> bool:
    engine = connect(url)
    try:
        if engine.dialect.name != "sqlite":
            return True  # PostgreSQL: checked by the all-or-nothing counts (no page-level check)
        with engine.connect() as connection:
            return connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        engine.dispose()


def test_sigkill_during_import_leaves_whole_cohorts_or_nothing(db_url: str) -> None:
    rng = random.Random(20240611)
    full = expected_counts(COPIES)
    started = time.monotonic()
    outcomes = {"killed": 0, "completed": 0}
    upcoming = start_import(db_url, "K0-")
    try:
        for round_ in range(KILLS):
            process = upcoming
            if round_ + 1 < KILLS:  # starts up while this round saves
                upcoming = start_import(db_url, f"K{round_ + 1}-")
            go_when_ready(process)
            time.sleep(rng.uniform(0.0, 0.8))  # a save takes about 0.4 s on SQLite here
            process.send_signal(signal.SIGKILL)
            rest, _ = process.communicate(timeout=30)
            outcomes["completed" if "done" in rest else "killed"] += 1
            counts = counts_by_prefix(db_url, f"K{round_}-")
            assert counts in ({name: 0 for name in full}, full), f"round {round_}: half-imported {counts}"
            assert integrity_ok(db_url), f"round {round_}: integrity check failed"
    finally:
        if upcoming.poll() is None:  # a failed round left the next writer waiting
            upcoming.kill()
            upcoming.communicate()
    assert time.monotonic() - started < 120, "the kill rounds must stay bounded"
    assert outcomes["killed"] >= KILLS // 4, outcomes  # most kills land inside the transaction

    # A re-run of the first killed import completes and stores the whole cohort.
    missing = next((f"K{r}-" for r in range(KILLS) if counts_by_prefix(db_url, f"K{r}-")["patients"] == 0), "K-rerun-")
    rerun = start_import(db_url, missing)
    go_when_ready(rerun)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and "done" in out, err
    assert counts_by_prefix(db_url, missing) == full
    assert integrity_ok(db_url)
    print(f"kills: {outcomes}")  # figures for docs/reliability.md (pytest -s)
