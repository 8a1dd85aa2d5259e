"""bench/page_calls.py records what each page really reads: checked against the page files themselves (the read
functions their source passes to load()), so the benchmark can neither time a read no page makes nor miss one."""

import ast
from pathlib import Path

import pytest

from bench.page_calls import PAGES, record
from tests.support.apptest import seeded_pages_db

ROOT = Path(__file__).resolve().parents[2]


def loaded_names(path: Path) -> set[str]:
    """Names of the functions a source file passes to load(...) as its first argument (module.fn or fn)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Attribute):
                names.add(first.attr)
            elif isinstance(first, ast.Constant):
                names.add(first.value)
    return names


@pytest.fixture(scope="module")
def seeded(pg_cluster):
    return seeded_pages_db(pg_cluster)


def test_every_page_is_recorded_with_only_reads_its_code_makes(seeded):
    url, now = seeded
    anywhere = set().union(*(loaded_names(p) for p in [*ROOT.glob("pages/*.py"), *ROOT.glob("components/*.py")]))
    for page, params in PAGES.items():
        calls = record(url, page, params, now)
        assert calls, page
        assert {c.name for c in calls} <= anywhere, page
        # every recorded read replays on its own, as the benchmark times it
        from data_access.engine import make_engine

        engine = make_engine(url)
        try:
            for call in calls:
                call(engine)
        finally:
            engine.dispose()


def test_the_pipeline_page_records_each_read_its_file_makes_with_the_pinned_clock(seeded):
    url, now = seeded
    calls = record(url, "pipeline", {"range": "24h"}, now)
    assert {c.name for c in calls} == loaded_names(ROOT / "pages" / "pipeline.py")
    ranged = [dict(c.kwargs) for c in calls if "end" in dict(c.kwargs)]
    assert ranged and all(k["end"] == now for k in ranged)


def test_the_benchmark_activity_seed_is_what_the_pages_then_read(pg_cluster):
    """bench.page_calls.seed_activity on a fresh database: every page records and runs without error on it."""
    from bench.page_calls import data_end, record_pages, seed_activity
    from tests.support.page_seed import pinned_now, seed_history

    url = pg_cluster.url(pg_cluster.fresh_database())
    seed_history(url, hours=1, now=pinned_now())
    end = data_end(url)
    seed_activity(url, end)
    seed_activity(url, end)  # re-seeded at every run: idempotent
    calls, errors = record_pages(url, end, {"pipeline": {"range": "24h"}, "live": {}})
    assert not errors and calls["pipeline"] and calls["live"]
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT processor, count(*) FROM ingest_ledger GROUP BY 1 ORDER BY 1")
        assert [p for p, _ in cur.fetchall()] == ["backfill", "lite"]
