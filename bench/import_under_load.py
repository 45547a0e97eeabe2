"""Benchmark: other users' requests while a large REDCap import runs as a job (issue 19, item 3).

`python bench/import_under_load.py [--rows 200000] [--rate 10] [--baseline 10] [--db URL]`

1. Builds a demo database (as bench/api_load.py) and a synthetic REDCap export of ``--rows``
   rows (bench/redcap_export.py) in a temporary folder.
2. Starts `remission serve --with-worker` on 127.0.0.1 (one server process, one worker process).
3. Sends `GET /api/patients/{id}` (the patient timeline) on a fixed open-loop schedule of
   ``--rate`` requests/s: ``--baseline`` seconds without an import, then uploads the export to
   `POST /api/jobs/import` and goes on until `GET /api/jobs/{id}` says the job has ended.
4. Prints, for the baseline and for the time the import ran: requests, p50/p99/max latency
   (answer − scheduled send time) and errors; the upload's answer time (the web process saves the
   files and enqueues) and the job's run time.

Only 127.0.0.1 is contacted. The target of issue 19: p99 of other requests < 100 ms while a
10^6-row import runs (``--rows 1000000``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(name: str, samples: list[tuple[float, bool]]) -> str:
    ms = [s * 1e3 for s, _ in samples]
    errors = sum(1 for _, ok in samples if not ok)
    return (
        f"{name}: {len(ms)} requests, p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
        f"max {max(ms, default=float('nan')):.1f} ms, errors {errors}"
    )


async def load(
    client: httpx.AsyncClient, rate: float, patients: list[str], until: asyncio.Event, out: list[tuple[float, bool]]
) -> None:
    """Open loop: request i at t0 + i / rate, whether or not earlier ones have answered."""
    rng = random.Random(7)
    t0 = time.perf_counter()
    pending: list[asyncio.Task[None]] = []

    async def one(at: float) -> None:
        try:
            ok = (await client.get(f"/api/patients/{rng.choice(patients)}", timeout=10)).status_code == 200
        except (httpx.HTTPError, RuntimeError):  # no answer within 10 s counts as an error
            ok = False
        out.append((time.perf_counter() - at, ok))

    i = 0
    while not until.is_set():
        at = t0 + i / rate
        await asyncio.sleep(max(at - time.perf_counter(), 0))
        pending.append(asyncio.create_task(one(at)))
        i += 1
    await asyncio.gather(*pending)


async def run(url: str, port: int, export: Path, rate: float, baseline: float, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        patients = [p["patient_id"] for p in (await client.get("/api/patients")).json()["items"]]
        before: list[tuple[float, bool]] = []
        stop = asyncio.Event()
        task = asyncio.create_task(load(client, rate, patients, stop, before))
        await asyncio.sleep(baseline)
        stop.set()
        await task
        print(summary("baseline (no import)", before))
        during: list[tuple[float, bool]] = []
        stop = asyncio.Event()
        task = asyncio.create_task(load(client, rate, patients, stop, during))
        files = [(n, (f"{n}.{ext}", (export / f"{n}.{ext}").read_bytes())) for n, ext in
                 (("records", "csv"), ("dictionary", "csv"), ("mapping", "yaml"))]  # fmt: skip
        t = time.perf_counter()
        answer = await client.post("/api/jobs/import", data={"source": "redcap"}, files=files, timeout=600)
        upload = time.perf_counter() - t
        job_url = answer.json()["url"]
        while (job := (await client.get(job_url, timeout=120)).json())["state"] in ("queued", "running"):
            await asyncio.sleep(0.5)
        ran = time.perf_counter() - t
        stop.set()
        await task
        print(summary("during the import job", during))
        size = sum(len(f[1][1]) for f in files) / 2**20
        print(
            f"upload of {size:.0f} MB answered (saved + enqueued) in {upload:.2f} s; "
            f"job {job['state']} after {ran:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--baseline", type=float, default=10)
    parser.add_argument("--db")
    args = parser.parse_args()
    api_load, redcap_export = _load("api_load"), _load("redcap_export")
    folder = Path(tempfile.mkdtemp(prefix="import-under-load-"))
    env = {**os.environ, "REMISSION_MAX_UPLOAD_MB": "4096"}
    env.pop("REMISSION_REDIS_URL", None)
    try:
        url = api_load.prepare(args.db, folder, env)
    except subprocess.CalledProcessError:  # --db given with its user `bench` already added
        url = args.db
    export = redcap_export.generate_export(args.rows, folder / "export")
    port = api_load._free_port()
    exe = Path(sys.executable).with_name("remission")
    command = [str(exe)] if exe.exists() else [sys.executable, "-c", "from remission.cli.main import main; main()"]
    serve = [
        "serve",
        "--db",
        url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--with-worker",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen([*command, *serve], env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        login = {"username": "bench", "password": api_load.PASSWORD}
        token = httpx.post(f"http://127.0.0.1:{port}/api/auth/token", data=login).json()["access_token"]
        asyncio.run(run(url, port, export, args.rate, args.baseline, token))
    finally:
        api_load.stop_server(process)


if __name__ == "__main__":
    main()
