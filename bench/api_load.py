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
4. Before the load, measures the server's CPU time per request kind in-process (the ASGI app
   called directly, no HTTP, one request at a time): the capacity of one worker is about
   1 / (mean CPU per request), whatever else the machine is doing.
5. Latency = answer received − *scheduled* send time (so queueing inside the client or server
   counts; no coordinated omission). Prints p50/p95/p99/max per request kind and overall, the
   errors (non-2xx or no answer within 10 s) and the rate achieved, then stops the server.

Only 127.0.0.1 is ever contacted. The target of issue 10 is p99 < 100 ms. `--workers` defaults
to the number of cores.
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


class _Connection:
    """One keep-alive HTTP/1.1 connection, written by hand: httpx costs ~1 ms of CPU per request,
    which on 2 cores made the load generator, not the server, the bottleneck (it topped out near
    150 requests/s against `/api/health`, a route costing the server 0.5 ms)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, port: int, token: str) -> _Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        head = f"Host: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n".encode()
        return cls(reader, writer, head)

    async def request(self, path: str, body: bytes | None) -> int:
        """Send one request and read its whole answer; its HTTP status."""
        if body is None:
            self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head + b"\r\n")
        else:
            length = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            self.writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n" + self.head + length + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.readexactly(int(fields.get("content-length", "0")))
        return int(lines[0].split()[1])

    def close(self) -> None:
        self.writer.close()


async def drive(
    port: int, token: str, plan: list[tuple[float, str, str, Any]], connections: int = 64
) -> dict[str, Any]:
    """Send the plan open-loop over a pool of keep-alive connections; latencies (s) and errors
    per kind. A request waits for a free connection when all are busy; that wait counts."""
    import json

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await _Connection.open(port, token))

    async def one(at: float, kind: str, path: str, body: bytes | None) -> None:
        connection = await pool.get()
        try:
            ok = 200 <= await asyncio.wait_for(connection.request(path, body), 10.0) < 300
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            connection.close()
            connection = await _Connection.open(port, token)
        pool.put_nowait(connection)
        latencies[kind].append(time.perf_counter() - at)
        if not ok:
            errors[kind] += 1

    bodies = [None if body is None else json.dumps(body).encode() for _, _, _, body in plan]
    tasks = []
    start = time.perf_counter() + 0.2
    for (offset, kind, path, _), body in zip(plan, bodies, strict=True):
        at = start + offset
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at, kind, path, body)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def cpu_per_request(url: str, token_user: str, plan: list[tuple[float, str, str, Any]]) -> dict[str, float]:
    """CPU ms per request kind, the app called in-process through ASGI (no HTTP, no queue)."""
    from remission.web.app import create_app
    from remission.web.security import authenticate

    app = create_app(url, secret_key="api-load-bench-key")
    user = authenticate(app.state.engine, token_user, PASSWORD)
    assert user is not None
    token, _ = app.state.signer.issue(app.state.engine, user, "api")
    spent: dict[str, list[float]] = defaultdict(list)

    async def run() -> None:
        for _, _, path, body in plan[:40]:  # warm-up: imports and caches of each request kind
            await _asgi_call(app, token, path, body)
        for _, kind, path, body in plan:
            start = time.process_time()
            status = await _asgi_call(app, token, path, body)
            spent[kind].append(time.process_time() - start)
            if status >= 300:
                raise RuntimeError(f"{kind} answered {status}")

    asyncio.run(run())
    return {kind: 1000 * statistics.fmean(values) for kind, values in sorted(spent.items())}


async def _asgi_call(app: Any, token: str, path: str, body: Any) -> int:
    import json

    payload = b"" if body is None else json.dumps(body).encode()
    headers = [(b"host", HOST.encode()), (b"authorization", f"Bearer {token}".encode())]
    if body is not None:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET" if body is None else "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (HOST, 50000),
        "server": (HOST, 8000),
        "state": {},
    }
    delivered = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


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
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes (default: the cores)"
    )
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
            asyncio.run(drive(port, token, schedule(20, 3, args.seed + 1, patients)))
            cpu = cpu_per_request(url, "bench", schedule(50, 6, args.seed + 2, patients))
            mix = schedule(args.rate, args.duration, args.seed, patients)
            mean_cpu = statistics.fmean(cpu[kind] for _, kind, _, _ in mix)
            print("server CPU per request, in-process: " + ", ".join(f"{k} {v:.1f} ms" for k, v in cpu.items()))
            print(f"mix mean {mean_cpu:.1f} ms: one worker serves at most ~{1000 / mean_cpu:.0f} requests/s")
            plan = mix
            print(f"{len(patients)} patients; {len(plan)} requests planned")
            result = asyncio.run(drive(port, token, plan))
        finally:
            stop_server(server)
    return report(result, args.rate, args.duration, args.workers)


if __name__ == "__main__":
    main(sys.argv[1:] if Path(sys.argv[0]).name == "api_load.py" else [])
