"""Benchmark: `remission import redcap` of an N-row REDCap export into SQLite and PostgreSQL, then scoring.

`python bench/redcap_import.py [N]` (default 10^6 rows of the records CSV; any N ≥ 50, e.g. 20000
for a quick run). The export is generated first (seeded, not timed; `bench/redcap_export.py`
states the mix: N/50 SLE patients, each with 1 enrolment+infusion row, 16 SLEDAI-2K, 24 lab,
5 medication and 4 adverse-event instances) in the car_t_trial example project's format, with
its data dictionary and mapping.

Each database runs in a fresh process (so that its peak memory is its own) and is a fresh one: a
SQLite file under $REMISSION_BENCH_DIR (default out/bench), and, where $REMISSION_BENCH_PG_URL or
$REMISSION_TEST_PG_URL names a PostgreSQL server, a throw-away database created on it and dropped
afterwards. Both are migrated (`remission init`) before the clock starts. Then, timed:

* the import as `remission import redcap` does it: `batch_from_redcap` (read + tidy the export;
  map and stage the records) and `write_batch` (days, validation, references, then the writes,
  all in one transaction, commit included), phase by phase;
* scoring every stored assessment with every index (`score_database`, i.e. `remission rescore`);
* the same import again, which must change nothing (idempotence).

Counts are checked against what the generator put in the export (a mismatch stops the run).
Peak memory is the largest resident set of the benchmark process during each phase, sampled every
0.05 s (it includes what earlier phases left allocated; PostgreSQL's own processes are not
counted). The 1-minute load average of the machine is printed before and after each run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from redcap_export import expected_counts, generate_export, patients_of

ROOT = Path(os.environ.get("REMISSION_BENCH_DIR", "out/bench"))
TARGET_S = 60.0
IMPORT_PHASES = ("read+tidy", "map/validate", "write")


class Phases:
    """Seconds and peak RSS per phase: ``mark(name)`` ends the phase that ran since the last mark."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.results = every, {}  # type: float, dict[str, dict[str, float]]
        self._me = psutil.Process()
        self._peak = self._me.memory_info().rss
        self._start = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._me.memory_info().rss)
            time.sleep(self.every)

    def restart(self) -> None:
        self._start = time.perf_counter()
        self._peak = self._me.memory_info().rss

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        peak = max(self._peak, self._me.memory_info().rss)
        self.results[name] = {"seconds": now - self._start, "peak_rss_mib": peak / 2**20}
        self._start = now
        self._peak = self._me.memory_info().rss

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _import(engine: Any, folder: Path, phases: Phases | None) -> Any:
    """`remission import redcap` without the terminal: the same two calls, in the same way."""
    from remission.io.importing import write_batch
    from remission.io.sources import batch_from_redcap

    def step(name: str) -> None:
        if phases is not None and name == "read":
            phases.mark("read+tidy")

    def tick(step: str, done: int, total: int) -> None:
        if phases is not None and step == "checking references":
            phases.mark("map/validate")

    batch = batch_from_redcap(folder / "records.csv", folder / "dictionary.csv", folder / "mapping.yaml", progress=step)
    return write_batch(engine, batch, progress=tick)


def run_one(url: str, folder: Path, n: int) -> dict[str, Any]:
    """Import, score, re-import into a fresh database at ``url``; return the figures."""
    from remission.pipeline import score_database
    from remission.store import connect, migrate

    engine = connect(url)
    migrate(engine)
    load = os.getloadavg()[0]
    phases = Phases()
    report = _import(engine, folder, phases)
    phases.mark("write")
    expected = expected_counts(n)
    got = {t: report.stored(t) for t in expected}
    if got != expected or report.totals()["inserted"] != sum(expected.values()):
        raise SystemExit(f"first import: stored {got}, the export holds {expected}")
    phases.restart()
    runs = score_database(engine)
    phases.mark("score")
    phases.restart()
    again = _import(engine, folder, None)
    phases.mark("re-import")
    phases.close()
    totals = again.totals()
    if totals["inserted"] or totals["updated"] or totals["unchanged"] != sum(expected.values()):
        raise SystemExit(f"re-import changed something: {totals}")
    engine.dispose()
    return {
        "phases": phases.results,
        "records": sum(expected.values()),
        "assessments": expected["assessments"],
        "scored": {r.index: r.scored for r in runs if r.scored},
        "score_problems": sum(len(r.problems) for r in runs),
        "reimport": totals,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def _in_process(url: str, folder: Path, n: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", url, str(folder), str(n)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{url}: the run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _print(name: str, n: int, r: dict[str, Any]) -> None:
    """One table per database: seconds, rate and peak RSS per phase (score: assessments/s)."""
    print(f"\n{name}: load average {r['load_before']:.1f} before, {r['load_after']:.1f} after")
    print("| phase | seconds | rate | peak RSS (MiB) |\n|---|---:|---:|---:|")
    total = 0.0
    for phase, p in r["phases"].items():
        if phase == "score":
            rate = f"{r['assessments'] / p['seconds']:,.0f} assessments/s"
        else:
            rate = f"{n / p['seconds']:,.0f} rows/s"
        print(f"| {phase} | {p['seconds']:.1f} | {rate} | {p['peak_rss_mib']:,.0f} |")
        total += p["seconds"] if phase in IMPORT_PHASES else 0.0
    if n >= 10**6:
        verdict = ("met" if total * 10**6 / n < TARGET_S else "NOT met") + f" ({total * 10**6 / n:.0f} s per 10^6 rows)"
    else:
        verdict = f"not measured at this N (linear extrapolation: {total * 10**6 / n:.0f} s per 10^6 rows)"
    print(f"| **import** (read+tidy + map/validate + write) | **{total:.1f}** | {n / total:,.0f} rows/s, "
          f"{r['records'] / total:,.0f} records/s | |")  # fmt: skip
    print(f"target < {TARGET_S:.0f} s per 10^6 rows: {verdict}; {r['records']:,} records stored; "
          f"scores stored: {r['scored']} ({r['score_problems']} problems); re-import: {r['reimport']}")  # fmt: skip


def main(n: int) -> None:
    from sqlalchemy import create_engine, text

    n = patients_of(n) * 50
    folder = ROOT / f"redcap-{n}"
    start = time.perf_counter()
    if not (folder / "records.csv").exists():
        generate_export(n, folder)
    size = (folder / "records.csv").stat().st_size / 2**20
    took = time.perf_counter() - start
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; export: {n:,} rows, "
          f"{patients_of(n):,} patients, {size:.0f} MiB (generated or found in {took:.1f} s)")  # fmt: skip
    print(f"expected records: {expected_counts(n)}")
    db = ROOT / "redcap-import.db"
    for ext in ("", "-wal", "-shm"):
        Path(f"{db}{ext}").unlink(missing_ok=True)
    _print("SQLite (WAL file)", n, _in_process(f"sqlite:///{db}", folder, n))
    base = os.environ.get("REMISSION_BENCH_PG_URL") or os.environ.get("REMISSION_TEST_PG_URL")
    if not base:
        print("no PostgreSQL: set REMISSION_BENCH_PG_URL (or REMISSION_TEST_PG_URL)")
        return
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"remission_bench_redcap_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _print("PostgreSQL", n, _in_process(base.rsplit("/", 1)[0] + "/" + name, folder, n))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(run_one(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))))
    else:
        main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6)
