"""Browser-side figures: time to content per page, and 30 simultaneous sessions refreshing every 5 s.

Sets up a fresh database `bench_browser` with 6 h of simulated history, keeps live ingestion running
(`python -m ingestion run`), starts the dashboard (`streamlit run app.py`) and drives Debian's headless Chromium:
  pages        for each page, --visits fresh navigations; time from navigation to the page's content being
               visible (its KPI cards / charts / map), next to the time to the app shell (sidebar) measured on the
               same visits as the baseline.
  server side  the same pages run in AppTest with every read uncached: the page script's time and its reads' time
               (bench/page_calls.py), i.e. what of the time to content is the server's and what the browser's.
  concurrency  --sessions browser contexts on the Live page with a 5 s refresh for --duration seconds;
               counts error elements (Streamlit exceptions, the database banner) and the dashboard's
               connections to PostgreSQL (pg_stat_activity, sampled every second) against the pool bound.

Usage: .venv/bin/python -m bench.browser [--visits 5] [--sessions 30 (0: none)] [--duration 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from bench import load_average
from bench.page_calls import run_page
from data_access.engine import make_engine
from db import settings
from db.settings import ROLE_USERS, with_user
from tests.support.app import dashboard, ingestion
from tests.support.browser import CONTENT, SHELL, chromium, new_context, page_url
from tests.support.services import free_port

from .freshness import ROOT, fresh_database

READY_TIMEOUT_S = 300
POOL_BOUND = 5 + 5  # data_access.engine.make_engine defaults: pool_size + max_overflow, one engine per server

ERRORS = '[data-testid="stException"], :text("Base de données injoignable")'


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) >= 2 else samples[0]


def _visit(context, url: str, selectors: list[str]) -> tuple[float, float]:
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.locator(SHELL).first.wait_for(timeout=60_000)
    shell = time.perf_counter() - started
    for selector in selectors:
        page.locator(selector).first.wait_for(timeout=60_000)
    content = time.perf_counter() - started
    page.close()
    return shell, content


def page_times(browser, base: str, visits: int) -> None:
    """cold: a new browser context per visit (nothing cached); warm: a new tab in a context that has loaded the app
    once (the browser cache holds Streamlit's JavaScript, as for an operator opening a bookmark)."""
    print(
        f"{'page':9s} {'shell p50':>10s} {'cold p50':>9s} {'cold max':>9s} {'warm p50':>9s} {'warm max':>9s}",
        flush=True,
    )
    warm_context = new_context(browser)
    _visit(warm_context, page_url(base, "live"), CONTENT["live"])
    for name, selectors in CONTENT.items():
        shell, cold, warm = [], [], []
        for _ in range(visits):
            context = new_context(browser)
            s, c = _visit(context, page_url(base, name), selectors)
            context.close()
            shell.append(s)
            cold.append(c)
            warm.append(_visit(warm_context, page_url(base, name), selectors)[1])
        print(
            f"{name:9s} {statistics.median(shell):9.2f}s {statistics.median(cold):8.2f}s {max(cold):8.2f}s "
            f"{statistics.median(warm):8.2f}s {max(warm):8.2f}s",
            flush=True,
        )
    warm_context.close()


def server_side(url: str, visits: int) -> None:
    """Where the time goes on the server, same database, same pages as the visits: each page run in AppTest with
    every read uncached (bench/page_calls.py: a first visit's script time) and, of that, the page's reads alone."""
    engine = make_engine(with_user(url, ROLE_USERS["reader"], None))
    print(f"{'page':9s} {'script p50':>11s} {'reads p50':>10s} {'reads':>6s}  slowest read", flush=True)
    try:
        for name in CONTENT:
            scripts, reads, slowest = [], [], {}
            for _ in range(visits):
                calls, seconds, _ = run_page(url, name, {}, datetime.now(UTC))
                scripts.append(seconds)
                total = 0.0
                for call in dict.fromkeys(calls):
                    started = time.perf_counter()
                    call(engine)
                    took = time.perf_counter() - started
                    total += took
                    slowest[call.label] = max(slowest.get(call.label, 0.0), took)
                reads.append(total)
            top = max(slowest, key=slowest.get)
            print(
                f"{name:9s} {statistics.median(scripts):10.2f}s {statistics.median(reads):9.2f}s {len(slowest):6d}  "
                f"{top} {slowest[top]:.2f}s",
                flush=True,
            )
    finally:
        engine.dispose()


def server_cpu_s(base: str) -> float:
    """CPU seconds used so far by the `streamlit run` process serving `base` (found by its --server.port)."""
    port = base.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if b"--server.port" in cmdline and port.encode() in cmdline:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return float("nan")


def dashboard_connections(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'madinina-dashboard'")
        return int(cur.fetchone()[0])


def concurrency(browser, base: str, url: str, sessions: int, duration: float) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    contexts, pages = [], []
    for _ in range(sessions):
        context = new_context(browser, width=1280, height=900)
        page = context.new_page()
        page.goto(page_url(base, "live", "refresh=5"), wait_until="commit", timeout=READY_TIMEOUT_S * 1000)
        contexts.append(context)
        pages.append(page)
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(dashboard_connections(url))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    shown = 0
    for page in pages:
        remaining_ms = max(1, int(READY_TIMEOUT_S * 1000 - (time.monotonic() - started) * 1000))
        try:
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=remaining_ms)
            shown += 1
        except PlaywrightTimeout:
            pass  # counted: `shown` says how many sessions got their KPIs within READY_TIMEOUT_S
    ready_s = time.monotonic() - started
    errors_seen = 0
    cpu_before, wall_before = server_cpu_s(base), time.monotonic()
    started = time.monotonic()
    while time.monotonic() - started < duration:
        # Playwright's sync API is single-threaded: poll the pages in turn (also lets their timers fire).
        for page in pages:
            errors_seen = max(errors_seen, page.locator(ERRORS).count())
        pages[0].wait_for_timeout(1000)
    server_share = (server_cpu_s(base) - cpu_before) / (time.monotonic() - wall_before)
    errors = sum(page.locator(ERRORS).count() for page in pages)
    stop.set()
    sampler.join()
    for context in contexts:
        context.close()
    print(
        f"{sessions} sessions, refresh 5 s, {duration:.0f} s: all showing KPIs after {ready_s:.1f} s ({shown}/"
        f"{sessions}); error elements at the end {errors}, max seen on one page {errors_seen}; dashboard DB "
        f"connections max {max(samples)} / median {statistics.median(samples):.0f} (pool bound {POOL_BOUND}); "
        f"dashboard server CPU while refreshing: {server_share:.2f} core",
        flush=True,
    )


def history_database(name: str) -> tuple[str, Path]:
    """A fresh database `name` with 6 h of backfilled history (the embedded server started if it is the one), and
    the browser benches' output directory test-output/<name with dashes>: what every browser bench starts from."""
    if settings.is_embedded():
        from db.embedded import from_environment

        from_environment().start()
    url = fresh_database(settings.with_database(settings.owner_url(), "postgres"), name)
    out = ROOT / "test-output" / name.replace("_", "-")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "ingestion", "--database-url", url, "backfill", "6h"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return url, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=30, help="0 skips the concurrency part")
    parser.add_argument("--duration", type=float, default=60)
    args = parser.parse_args()
    started = time.perf_counter()
    url, out = history_database("bench_browser")
    print(f"database: 6 h of history in {time.perf_counter() - started:.0f} s", flush=True)
    with (
        ingestion(url, out / "ingestion.log", "run", "--alerts-every", "5"),
        dashboard(url, free_port(), out / "dashboard.log") as base,
        chromium() as browser,
    ):
        print(f"load average: {load_average()}", flush=True)
        page_times(browser, base, args.visits)
        server_side(url, args.visits)
        if args.sessions > 0:  # --sessions 0: time to content only
            concurrency(browser, base, url, args.sessions, args.duration)
    print(f"load average: {load_average()}", flush=True)
    tracebacks = (out / "dashboard.log").read_text().count("Traceback")
    print(f"dashboard log: {tracebacks} tracebacks", flush=True)


if __name__ == "__main__":
    main()
