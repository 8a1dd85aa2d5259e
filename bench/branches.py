"""The two branches of DESIGN §2 side by side, for the benchmarks: two embedded servers from the same binaries,
one plain PostgreSQL and one with TimescaleDB preloaded, each in its own data directory under .data/bench/
(kept between runs, so a database a benchmark built is reused), stopped again at the end if this started them.

With DATABASE_URL set, only that server is measured (its branch is whatever its database is on).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from db import settings
from db.embedded import PROJECT_ROOT, EmbeddedPostgres, timescaledb_installed

BRANCHES = ("plain", "timescaledb")
ROOT = PROJECT_ROOT / ".data" / "bench"


def _admin(dsn: str) -> str:
    return settings.with_database(dsn, "postgres")


@contextmanager
def branch_servers(base_port: int | None = None) -> Iterator[dict[str, str]]:
    """Yield {branch: admin URL (database postgres)} for every branch available here."""
    if not settings.is_embedded():
        yield {"server": _admin(settings.owner_url())}
        return
    base_port = base_port or int(os.environ.get("MADININA_BENCH_PORT", "54339"))
    wanted = [b for b in BRANCHES if b == "plain" or timescaledb_installed()]
    if len(wanted) < len(BRANCHES):
        print("TimescaleDB is not installed (scripts/setup.sh builds it): measuring plain PostgreSQL only", flush=True)
    servers = {
        b: EmbeddedPostgres(data_dir=ROOT / b, port=base_port + i, timescaledb=b == "timescaledb")
        for i, b in enumerate(wanted)
    }
    started = []
    try:
        urls = {}
        for branch, server in servers.items():
            if not server.is_running():
                started.append(server)
            urls[branch] = _admin(server.start())
        yield urls
    finally:
        for server in started:
            server.stop()


def url_for(admin: str, database: str) -> str:
    return settings.with_database(admin, database)
