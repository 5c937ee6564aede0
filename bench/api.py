"""Latency of `factory serve` on loopback under an open-loop load.

Run:  .venv/bin/python bench/api.py [--rate 200] [--seconds 10] [--predict-rate 5]
                                    [--db URL --artifacts DIR]

Without ``--db`` it first builds a small factory in a temporary directory (synthetic
planted-signal bars, 8 assets x 700 bars; lightgbm and arima on four feature sets and
two lookbacks, evaluated serially, rated, promoted, rebalanced). With ``--db`` it uses an
existing database and artifact store (e.g. after ``make demo``).

It then starts the real server (``factory serve`` in a subprocess, uvicorn on
127.0.0.1) and drives it open-loop: request i is due at ``start + i / rate`` whatever
happened to the earlier ones, and its latency is measured from that due time to the
end of the response, so a stalled server shows up as latency instead of as a lower
request rate (no coordinated omission). Printed per endpoint: requests, errors,
achieved rate, p50 / p99 / max latency (after 2 s of the same load as a warm-up), and the
goals:

* ``GET /rebalance/latest`` and ``GET /leaderboard`` at 200 requests/s: p99 <= 20 ms;
* ``POST /predict`` for one asset with the live set loaded (pipelines cached after a
  first call): p99 <= 100 ms. The goal is about latency, so the default rate is a modest
  5 requests/s; one server process handles about 1 / (p50 latency) of them per second
  (the work holds the GIL), and a rate near that measures queueing instead.

The load generator shares the machine with the server (and, on a busy box, with other
work): the figures are an upper bound for a dedicated host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Result:
    name: str
    rate: float
    latencies_ms: list[float]
    errors: int
    seconds: float

    def line(self, goal_ms: float) -> str:
        lat = sorted(self.latencies_ms)
        if not lat:
            return f"{self.name:<22} no successful request ({self.errors} errors)"
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        verdict = "meets" if p99 <= goal_ms else "MISSES"
        return (
            f"{self.name:<22} {len(lat) + self.errors:>6} req  {self.errors:>3} err  "
            f"{(len(lat) + self.errors) / self.seconds:>6.1f}/s (target {self.rate:g})  "
            f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {lat[-1]:7.2f} ms  "
            f"goal p99 <= {goal_ms:g} ms: {verdict}"
        )


def build_factory(root: Path) -> dict[str, str]:
    """A small evaluated, rated, promoted and rebalanced factory; returns its env."""
    from factory import catalog
    from factory.app import App
    from factory.data.importer import import_frame
    from factory.data.synth import synth_universe
    from factory.jobs import promote_job, rate_job, rebalance_job
    from factory.settings import load_settings
    from factory.storage.bars import load_market_data
    from scheduler.backends import SerialBackend, single_thread
    from scheduler.sweep import run_sweep

    single_thread()
    env = {
        "FACTORY_DB_URL": f"sqlite:///{root / 'factory.db'}",
        "FACTORY_ARTIFACTS": str(root / "artifacts"),
        "FACTORY_OUTPUT_DIR": str(root / "out"),
        "FACTORY_CACHE_DIR": str(root / "cache"),
    }
    overrides: dict[str, Any] = {
        "db_url": env["FACTORY_DB_URL"],
        "artifacts": env["FACTORY_ARTIFACTS"],
        "output_dir": env["FACTORY_OUTPUT_DIR"],
        "cache_dir": env["FACTORY_CACHE_DIR"],
        "plan.architectures": ["lightgbm", "arima"],
        "plan.feature_sets": ["ohlcv", "momentum", "volatility", "technical"],
        "plan.lookbacks": [8, 16],
        "plan.max_grid": 1,
        "evaluation.min_train": 300,
        "evaluation.retrain_every": 200,
        # Lenient gates so the live set is full-sized on a small synthetic market.
        "rating.min_track_record": 60,
        "rating.dsr_threshold": 0.0,
        "rating.dsr_exit_threshold": 0.0,
        "rating.min_active": 10,
        "rating.max_active": 15,
        "rating.top_k": 12,
    }
    app = App(load_settings(None, **overrides))
    u = synth_universe(8, 700, seed=11, signal="planted")
    import_frame(app.db, u.bars, kind="bars", source="bench", at=app.now())
    data = load_market_data(app.db)
    configs = catalog.plan(app.settings, catalog.profile(data)).configs
    t0 = time.perf_counter()
    run_sweep(app.db, app.settings, data, configs, SerialBackend(), app.clock, progress=False)
    rate_job(app)
    cycle = promote_job(app).cycle
    rebalance_job(app)
    app.close()
    print(
        f"built a factory: {len(configs)} configs evaluated in {time.perf_counter() - t0:.0f} s, "
        f"{len(cycle.active)} in the live set"
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    full.pop("FACTORY_API__TOKEN", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from factory.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


class Connection:
    """One keep-alive HTTP/1.1 connection. A minimal client on purpose: httpx costs about
    a millisecond of CPU per request, which on a small machine would measure the load
    generator rather than the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> int:
        """Send one request, read the whole response; returns the status code."""
        self.writer.write(raw)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def raw_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    return (head + "\r\n").encode() + body


async def open_loop(
    port: int, name: str, rate: float, seconds: float, raw: bytes, connections: int = 32
) -> Result:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(port))
    n = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        conn = await pool.get()
        try:
            ok = await conn.send(raw) == 200
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            conn.close()
            conn = await Connection.open(port)
            ok = False
        pool.put_nowait(conn)
        if ok:
            latencies.append((loop.time() - due) * 1000.0)
        else:
            errors += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    while not pool.empty():
        pool.get_nowait().close()
    return Result(name, rate, latencies, errors, seconds)


def predict_body(env: dict[str, str], bars: int) -> dict[str, Any]:
    """The newest ``bars`` bars of the first stored asset."""
    from factory.storage.bars import load_market_data
    from factory.storage.database import Database

    db = Database(env["FACTORY_DB_URL"])
    data = load_market_data(db, assets=None)
    db.dispose()
    asset = data.assets[0]
    frame = data.bars.xs(asset, level="asset").tail(bars).reset_index()
    rows = []
    for rec in frame.to_dict("records"):
        row = {k: v for k, v in rec.items() if k in ("open", "high", "low", "close", "volume")}
        rows.append({"timestamp": rec["timestamp"].isoformat(), "asset": asset, **row})
    return {"bars": rows}


async def run(args: argparse.Namespace, env: dict[str, str], port: int) -> list[str]:
    body = predict_body(env, args.predict_bars)
    warm = httpx.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=120)
    if warm.status_code != 200:  # the first call loads and caches the live set's pipelines
        raise RuntimeError(f"POST /predict failed: {warm.status_code} {warm.text[:500]}")
    n_configs = len(warm.json()["configs"])
    lines = []
    for path in ("/rebalance/latest", "/leaderboard"):
        raw = raw_request("GET", path)
        await open_loop(port, "warm-up", args.rate, 2, raw)  # steady state first
        res = await open_loop(port, f"GET {path}", args.rate, args.seconds, raw)
        lines.append(res.line(20.0))
    raw = raw_request("POST", "/predict", json.dumps(body).encode())
    res = await open_loop(port, "POST /predict", args.predict_rate, args.seconds, raw, 8)
    lines.append(
        res.line(100.0) + f"  ({n_configs} live configs, 1 asset x {args.predict_bars} bars)"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="GET requests per second")
    parser.add_argument("--predict-rate", type=float, default=5.0, help="POST /predict per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run")
    parser.add_argument("--predict-bars", type=int, default=300, help="bars sent to /predict")
    parser.add_argument("--db", help="use this database instead of building one")
    parser.add_argument("--artifacts", help="artifact store of --db")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        if args.db:
            env = {"FACTORY_DB_URL": args.db}
            if args.artifacts:
                env["FACTORY_ARTIFACTS"] = args.artifacts
        else:
            env = build_factory(Path(tmp))
        port = free_port()
        proc = start_server(env, port)
        try:
            lines = asyncio.run(run(args, env, port))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"factory serve on 127.0.0.1:{port}; open-loop load, {args.seconds:g} s per endpoint")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
