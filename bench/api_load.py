"""Benchmark: the REST API under an open-loop load of 200 requests/s, on 127.0.0.1 only.

`python bench/api_load.py [--rate 200] [--duration 20] [--workers 1] [--db URL] [--seed 7]`

1. Builds a demo database (`remission demo`, the synthetic cohort, scored) in a temporary folder
   unless `--db` names one, and adds a user `bench` (admin) to it.
2. Starts `remission serve --host 127.0.0.1 --port <free port> [--workers N]` as a subprocess
   (uvicorn) and waits for `GET /api/health`.
3. Sends requests on a fixed schedule — request i at t0 + i / rate, whether or not earlier ones
   have answered (open loop: a slow server makes requests queue, it does not slow the sender) —
   for `--duration` seconds. The mix is drawn from a seeded generator (reproducible): 50 %
   `POST /api/score/sledai2k` with one row of 24 random 0/1 descriptors, 40 %
   `GET /api/patients/{id}` (the patient's whole timeline as JSON: records, scores with their
   explanations, status, periods) and 10 % `GET /api/patients` (the list with statuses).
   Before that, 3 s at 20 requests/s warm the server up (first-request imports), unmeasured.
4. Latency = answer received − *scheduled* send time (so queueing inside the client or server
   counts; no coordinated omission). Prints p50/p95/p99/max per request kind and overall, the
   errors (non-2xx or no answer within 10 s) and the rate achieved, then stops the server.

Only 127.0.0.1 is ever contacted. The target of issue 10 is p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from remission.indices.sledai2k import CODES

SLEDAI_ITEMS = tuple(CODES)  # the 24 SLEDAI-2K descriptors
HOST = "127.0.0.1"
PASSWORD = "bench-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _remission(*args: str, stdin: str | None = None, env: dict[str, str]) -> None:
    exe = Path(sys.executable).with_name("remission")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "remission.cli.main"]
    subprocess.run([*command, *args], input=stdin, text=True, check=True, env=env, stdout=subprocess.DEVNULL)


def prepare(db: str | None, folder: Path, env: dict[str, str]) -> str:
    """The database URL: a fresh demo database unless one is given; user `bench` added."""
    url = db or f"sqlite:///{folder / 'api-load.db'}"
    if db is None:
        _remission("demo", "--db", url, "--out", str(folder / "report"), env=env)
    _remission("user", "add", "--username", "bench", "--role", "admin", "--db", url, stdin=PASSWORD + "\n", env=env)
    return url


def start_server(url: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("remission")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "remission.cli.main"]
    args = ["serve", "--db", url, "--host", HOST, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        [*command, *args, "--log-level", "warning"], env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"remission serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://{HOST}:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError("remission serve did not answer within 60 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its workers (its own process group, started by this script)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def schedule(rate: float, duration: float, seed: int, patients: list[str]) -> list[tuple[float, str, str, Any]]:
    """(send offset s, kind, path, JSON body) for every request: the same list for the same seed."""
    rng = random.Random(seed)
    plan = []
    for i in range(int(rate * duration)):
        draw = rng.random()
        if draw < 0.5:
            row = {item: rng.randint(0, 1) if rng.random() < 0.3 else 0 for item in SLEDAI_ITEMS}
            plan.append((i / rate, "POST /api/score/sledai2k", "/api/score/sledai2k", {"rows": [row]}))
        elif draw < 0.9:
            pid = rng.choice(patients)
            plan.append((i / rate, "GET /api/patients/{id}", f"/api/patients/{pid}", None))
        else:
            plan.append((i / rate, "GET /api/patients", "/api/patients", None))
    return plan


async def drive(base: str, token: str, plan: list[tuple[float, str, str, Any]]) -> dict[str, Any]:
    """Send the plan open-loop; answer latencies (s) and errors per kind."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10.0) as client:

        async def one(at: float, kind: str, path: str, body: Any) -> None:
            try:
                if body is None:
                    response = await client.get(path)
                else:
                    response = await client.post(path, json=body)
                ok = 200 <= response.status_code < 300
            except httpx.HTTPError:
                ok = False
            latencies[kind].append(time.perf_counter() - at)
            if not ok:
                errors[kind] += 1

        tasks = []
        start = time.perf_counter() + 0.2
        for offset, kind, path, body in plan:
            at = start + offset
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at, kind, path, body)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (as numpy's default), q in 0-100."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report(result: dict[str, Any], rate: float, duration: float, workers: int) -> list[dict[str, Any]]:
    rows = []
    every = [v for values in result["latencies"].values() for v in values]
    groups = [*sorted(result["latencies"].items()), ("all", every)]
    print(f"\nopen loop {rate:g} req/s for {duration:g} s, {workers} worker(s); load average {os.getloadavg()}")
    print(f"{'request':32} {'n':>6} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in groups:
        errors = sum(result["errors"].values()) if kind == "all" else result["errors"].get(kind, 0)
        row = {
            "request": kind,
            "n": len(values),
            "errors": errors,
            **{f"p{q}": 1000 * percentile(values, q) for q in (50, 95, 99)},
            "max": 1000 * max(values),
            "mean": 1000 * statistics.fmean(values),
        }
        rows.append(row)
        print(
            f"{kind:32} {row['n']:>6} {errors:>6} {row['p50']:>8.1f} {row['p95']:>8.1f} {row['p99']:>8.1f} "
            f"{row['max']:>8.1f}"
        )
    sent = len(every)
    print(f"sent {sent} requests in {result['elapsed']:.1f} s ({sent / result['elapsed']:.0f} req/s answered)")
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--db", default=None, help="database URL (default: a fresh demo SQLite database)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the request mix (default 7)")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 2000 or not 0 < args.duration <= 600:
        parser.error("rate must be in (0, 2000] and duration in (0, 600] seconds")
    env = dict(os.environ, REMISSION_SECRET_KEY=os.environ.get("REMISSION_SECRET_KEY", "api-load-bench-key"))
    with tempfile.TemporaryDirectory(prefix="remission-api-load-") as tmp:
        url = prepare(args.db, Path(tmp), env)
        port = _free_port()
        server = start_server(url, port, args.workers, env)
        try:
            base = f"http://{HOST}:{port}"
            token = httpx.post(
                f"{base}/api/auth/token", data={"username": "bench", "password": PASSWORD}, timeout=30
            ).json()["access_token"]
            patients = [
                p["patient_id"]
                for p in httpx.get(
                    f"{base}/api/patients", headers={"Authorization": f"Bearer {token}"}, timeout=60
                ).json()["items"]
            ]
            # Warm-up, not measured: every worker imports and caches what its first requests need.
            asyncio.run(drive(base, token, schedule(20, 3, args.seed + 1, patients)))
            plan = schedule(args.rate, args.duration, args.seed, patients)
            print(f"{len(patients)} patients; {len(plan)} requests planned")
            result = asyncio.run(drive(base, token, plan))
        finally:
            stop_server(server)
    return report(result, args.rate, args.duration, args.workers)


if __name__ == "__main__":
    main(sys.argv[1:] if Path(sys.argv[0]).name == "api_load.py" else [])
