"""Benchmark: `remission rescore` column-wise (`rescore_database`) against the row path (`score_database`).

`PYTHONPATH=src python bench/rescore.py [N]`: imports a REDCap export of N rows (default 10^5:
2 000 SLE patients, 32 000 assessments; `bench/redcap_export.py`) into a fresh SQLite file (and,
with $REMISSION_TEST_PG_URL, a throw-away PostgreSQL database), then times on each: the row path,
the column-wise path on a database without scores (every score new), the column-wise path again
(every score unchanged), and scoring the same table already in memory (`score_table` per index).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from redcap_export import generate_export, patients_of
from redcap_import import _import


def run(url: str, folder: Path) -> None:
    from remission.api import score_table
    from remission.indices import registry
    from remission.pipeline import assessments_for, rescore_database, score_database, with_medication_exposure
    from remission.store import assessment_table, connect, migrate, read_table, schema

    engine = connect(url)
    migrate(engine)
    _import(engine, folder, None)
    t = time.perf_counter()
    runs = score_database(engine)
    old = time.perf_counter() - t
    scores = sum(r.scored for r in runs)
    with engine.begin() as connection:
        connection.execute(schema.scores.delete())
    t = time.perf_counter()
    rescore_database(engine)
    new = time.perf_counter() - t
    t = time.perf_counter()
    rescore_database(engine)
    again = time.perf_counter() - t
    table = with_medication_exposure(assessment_table(engine), read_table(engine, "medications"))
    t = time.perf_counter()
    for definition in registry().values():
        rows = assessments_for(definition, table) if definition.layout != "per_patient" else None
        if rows is not None and not rows.is_empty():
            score_table(definition.name, rows)
    memory = time.perf_counter() - t
    print(f"{engine.dialect.name}: {scores:,} scores; row path {old:.2f} s ({scores / old:,.0f}/s); "
          f"column-wise {new:.2f} s ({scores / new:,.0f}/s), unchanged {again:.2f} s ({scores / again:,.0f}/s); "
          f"in memory {memory:.2f} s; ratio {new / memory:.1f}x; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    engine.dispose()


def main(n: int) -> None:
    from sqlalchemy import create_engine, text

    n = patients_of(n) * 50
    folder = Path(os.environ.get("REMISSION_BENCH_DIR", "out/bench")) / f"redcap-{n}"
    if not (folder / "records.csv").exists():
        generate_export(n, folder)
    db = folder.parent / "rescore.db"
    for ext in ("", "-wal", "-shm"):
        Path(f"{db}{ext}").unlink(missing_ok=True)
    run(f"sqlite:///{db}", folder)
    base = os.environ.get("REMISSION_BENCH_PG_URL") or os.environ.get("REMISSION_TEST_PG_URL")
    if not base:
        return
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"remission_bench_rescore_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(base.rsplit("/", 1)[0] + "/" + name, folder)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**5)
