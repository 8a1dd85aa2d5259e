"""Every rejection is insertable into the real quarantine table (UTF-8 database, CHECK length(payload) <= 8192),
through the writer's own INSERT statement: the poison corpus and a few hundred hypothesis-generated payloads."""

from __future__ import annotations

import psycopg2.extras
from hypothesis import HealthCheck, given, settings

from ingestion.processor import LiteProcessor
from ingestion.readings import Rejection
from ingestion.validation import Validator
from ingestion.writer import _QUARANTINE, Writer
from tests.data.messages import hostile_payloads
from tests.data.poison_corpus import ACCEPTED_HOSTILE, CORPUS, KEPT, REJECTIONS

NOW = 1_795_000_000.0


def insert(conn, rejections: list[Rejection]) -> int:
    """Insert through the writer's statement, one row per statement so a failing row names itself."""
    inserted = 0
    with conn.cursor() as cur:
        for rejection in rejections:
            try:
                inserted += len(psycopg2.extras.execute_values(cur, _QUARANTINE, [rejection.db_row()], fetch=True))
            except psycopg2.Error as exc:  # pragma: no cover - the failure message is the point
                raise AssertionError(f"not insertable: {rejection!r}: {exc}") from exc
    return inserted


def stored(conn) -> set[tuple[str, str, str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT reason, detail, payload, source FROM quarantine")
        return set(cur.fetchall())


def test_every_corpus_rejection_is_insertable_and_stored_as_given(conn):
    validator = Validator(source="chaos-corpus")
    rejections = [r for _, payload, _ in CORPUS for r in validator.parse(payload, received_at=NOW).rejections]
    assert insert(conn, rejections) == len({(r.reason, r.detail, r.payload) for r in rejections})
    # The text is stored unchanged (what the operator sees is what db_row() gave), one row per corpus message.
    assert stored(conn) == {(r.reason, r.detail, r.payload, r.source) for r in rejections}
    # Reconciled with the corpus itself: one row per expected rejection, each expected reason present.
    with conn.cursor() as cur:
        cur.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason")
        by_reason = dict(cur.fetchall())
    assert sum(by_reason.values()) == sum(REJECTIONS.get(name, 1) for name, _, _ in CORPUS)
    assert {reason for _, _, reason in CORPUS} <= by_reason.keys()


def test_generated_rejections_are_insertable(conn):
    validator = Validator(source="fuzz\x00\udcff" + "s" * 100)  # even a hostile source name
    rejections: list[Rejection] = []

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(hostile_payloads())
    def collect(payload):
        rejections.extend(validator.parse(payload, received_at=NOW).rejections)

    collect()
    assert len(rejections) > 100
    assert insert(conn, rejections) == len({(r.reason, r.detail, r.payload) for r in rejections})
    assert stored(conn) == {(r.reason, r.detail, r.payload, r.source) for r in rejections}


def test_rejections_built_from_anything_are_insertable(conn):
    """Rejection itself makes its text valid, whoever builds it (the Spark sink builds its own)."""
    nasty = [
        b"\x00" * 9000,
        b"\xff\xfe" * 5000,
        "\ud800" * 3000,
        "\x00\udfff" * 5000,
        "é" * 10_000,
        "\U0001f600" * 5000,
        "\x01\x1f\x7f\ufffe\uffff",
    ]
    rejections = [
        Rejection("invalid_json", detail, payload, source="s\x00" * 50, received_at=when)
        for payload, detail, when in zip(
            nasty,
            [b"\x00\xff" * 800, "\ud800" * 2000, "d", "d" * 5000, "e", "f", "g"],
            [None, float("nan"), 1e300, -5, NOW, 0, NOW],
            strict=True,
        )
    ]
    assert insert(conn, rejections) == len(nasty)


def test_the_corpus_through_the_processor_and_the_writer(db_url, conn):
    """The whole path of a consumer (validate, buffer, flush: quarantine and the raw insert with its pipeline KPI
    from sent_at) takes every hostile message; the tables hold what the corpus says, counted from the corpus."""
    with Writer(db_url) as writer:
        processor = LiteProcessor(writer, Validator(source="corpus"))
        for _, payload, _ in CORPUS + ACCEPTED_HOSTILE:
            processor.submit(payload)
        processor.flush()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quarantine")
        assert cur.fetchone()[0] == sum(REJECTIONS.get(name, 1) for name, _, _ in CORPUS)
        cur.execute("SELECT count(*) FROM sensor_data")
        kept = sum(KEPT.values()) + sum(n for _, _, n in ACCEPTED_HOSTILE)
        assert cur.fetchone()[0] == kept
        # Every sent_at of the accepted hostile messages is implausible: no broker stage was recorded for them.
        cur.execute("SELECT count(*) FROM pipeline_kpi WHERE stage = 'source_to_broker'")
        assert cur.fetchone()[0] == 0
