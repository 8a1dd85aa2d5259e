"""What password authentication (scram-sha-256, DESIGN §9) costs per new connection, next to `trust` measured on
the same server in the same run.

  scram     connect as madinina_reader with its password from the password file (what every project process
            does), SELECT 1, close
  trust     the same without a password, this throw-away server's pg_hba.conf switched to `trust` and reloaded
            (the baseline only: the project never writes `trust`); rounds alternate between the two
  query     SELECT 1 on an open connection (what a pooled dashboard query pays instead)

Usage: .venv/bin/python -m bench.db_auth [--connections 300]
Starts its own throw-away PostgreSQL (the project's embedded server code, a temporary directory, a free port).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import psycopg2

from db.credentials import USERS
from db.embedded import EmbeddedPostgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connections(url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        conn.close()
        times.append(time.perf_counter() - started)
    return times


def queries(url: str, n: int) -> list[float]:
    conn = psycopg2.connect(url)
    times = []
    with conn.cursor() as cur:
        for _ in range(n):
            started = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchone()
            times.append(time.perf_counter() - started)
    conn.close()
    return times


def line(name: str, times: list[float], base: float) -> str:
    median = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[18]
    return f"{name:<7} median {median * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms  ({median / base:5.2f}x trust)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="madinina-auth-") as tmp:
        server = EmbeddedPostgres(data_dir=Path(tmp) / "pg", port=_free_port(), timescaledb=False)
        server.start()
        try:
            url = server.url("postgres", USERS["reader"])
            bare = url.split("?", 1)[0]  # no password at all (trust)
            hba = server.data_dir / "pg_hba.conf"
            scram_hba = hba.read_text()
            scram, trust = [], []
            # Alternating rounds, so that a busy machine weighs on both sides alike.
            for _ in range(args.rounds):
                for text, target, times in (
                    (scram_hba, url, scram),
                    (scram_hba.replace("scram-sha-256", "trust"), bare, trust),
                ):
                    hba.write_text(text)
                    with psycopg2.connect(server.url("postgres")) as conn, conn.cursor() as cur:
                        cur.execute("SELECT pg_reload_conf()")
                    connections(target, 5)  # warm-up after the reload
                    times += connections(target, args.connections // args.rounds)
            query = queries(bare, args.connections)  # on an open connection: no authentication involved
        finally:
            server.stop()
    base = statistics.median(trust)
    print(f"{args.connections} new connections each (connect + SELECT 1 + close), one client, loopback TCP")
    for name, times in (("trust", trust), ("scram", scram), ("query", query)):
        print(line(name, times, base))
    print(f"scram costs {1000 * (statistics.median(scram) - base):.2f} ms more per new connection than trust")


if __name__ == "__main__":
    main()
