"""Prometheus metrics of the ingestion processes (`run`, `consume`; DESIGN §8), served on `--metrics-port`.

The counts are the database's answers for each committed batch — the processor's Totals call `observe()` after
every commit (replayed batches, already counted before a crash, are not observed) — so they move exactly as the
durable ledger does, never ahead of it. The spool is read at scrape time, so its depth keeps growing on the graph
while the database is away and no batch commits.

  madinina_ingest_received_total              messages handed over by the transport (committed)
  madinina_ingest_stored_total                readings stored
  madinina_ingest_duplicates_total            readings already stored (redeliveries, replays)
  madinina_ingest_quarantined_total{reason}   rejections, by reason (repeats of an already quarantined one too)
  madinina_ingest_quarantine_repeats_total    rejections already in quarantine (stored once)
  madinina_ingest_batches_total               committed batches
  madinina_ingest_batch_size_messages         histogram of messages per batch
  madinina_ingest_batch_latency_seconds       histogram of receipt -> committed (mean receipt instant of a batch)
  madinina_ingest_last_commit_timestamp_seconds  when the last batch was committed (epoch seconds)
  madinina_spool_depth_messages, madinina_spool_bytes, madinina_spool_max_bytes, madinina_spool_oldest_age_seconds
  madinina_ingest_state{state}                1 for the consumer's current state (running, database_down, ...)
Every series carries the consumer's name as label `consumer`.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("ingestion.metrics")

STATES = ("running", "database_down", "error", "spool_full", "spool_unwritable", "stopped")
_SIZE_BUCKETS = (1, 10, 50, 100, 500, 1_000, 5_000, 20_000, 100_000)
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)


class _SpoolCollector:
    """Reads the consumer's spool and state when Prometheus scrapes."""

    def __init__(self, ingest, consumer: str):
        self.ingest = ingest
        self.consumer = consumer

    def collect(self):
        labels = ["consumer"]
        try:
            stats = self.ingest.spool.stats()
            state = self.ingest.state()
        except Exception:  # a closed spool at shutdown: no sample rather than a failed scrape
            return
        oldest = 0.0 if stats.oldest_received_at is None else max(0.0, time.time() - stats.oldest_received_at)
        for name, text, value in (
            ("madinina_spool_depth_messages", "Messages in the durable spool, not yet committed", stats.depth),
            ("madinina_spool_bytes", "Bytes held by the spool", stats.bytes),
            ("madinina_spool_max_bytes", "The spool's bound", stats.max_bytes),
            ("madinina_spool_oldest_age_seconds", "Age of the oldest message waiting in the spool", oldest),
        ):
            family = GaugeMetricFamily(name, text, labels=labels)
            family.add_metric([self.consumer], value)
            yield family
        family = GaugeMetricFamily("madinina_ingest_state", "1 for the current state", labels=[*labels, "state"])
        for s in STATES:
            family.add_metric([self.consumer, s], 1.0 if s == state else 0.0)
        yield family


class IngestMetrics:
    """The metrics of one consumer, in their own registry (several consumers may live in one test process)."""

    def __init__(self, consumer: str, registry: CollectorRegistry | None = None, clock=time.time):
        self.consumer = consumer
        self.registry = registry or CollectorRegistry()
        self.clock = clock
        r, c = self.registry, ["consumer"]
        self.received = Counter("madinina_ingest_received", "Messages handed over by the transport", c, registry=r)
        self.stored = Counter("madinina_ingest_stored", "Readings stored", c, registry=r)
        self.duplicates = Counter("madinina_ingest_duplicates", "Readings already stored", c, registry=r)
        self.quarantined = Counter("madinina_ingest_quarantined", "Rejections by reason", [*c, "reason"], registry=r)
        self.repeats = Counter("madinina_ingest_quarantine_repeats", "Rejections already quarantined", c, registry=r)
        self.batches = Counter("madinina_ingest_batches", "Committed batches", c, registry=r)
        self.batch_size = Histogram(
            "madinina_ingest_batch_size_messages", "Messages per batch", c, buckets=_SIZE_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "madinina_ingest_batch_latency_seconds",
            "Receipt to commit of a batch (its mean receipt instant)",
            c,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.last_commit = Gauge(
            "madinina_ingest_last_commit_timestamp_seconds", "When the last batch was committed", c, registry=r
        )
        # Present from the start at zero, so that rate() and absent() behave before the first batch.
        for metric in (self.received, self.stored, self.duplicates, self.repeats, self.batches):
            metric.labels(consumer)

    def observe(self, batch, result) -> None:
        """Totals' observer: one committed batch (ingestion.writer.Batch, BatchResult). Never raises."""
        try:
            c = self.consumer
            self.received.labels(c).inc(batch.received)
            self.stored.labels(c).inc(result.stored)
            self.duplicates.labels(c).inc(result.duplicates)
            self.repeats.labels(c).inc(result.quarantine_duplicates)
            for reason, n in result.by_reason.items():
                self.quarantined.labels(c, reason).inc(n)
            self.batches.labels(c).inc()
            self.batch_size.labels(c).observe(batch.received)
            now = self.clock()
            if batch.timings is not None and batch.timings.received is not None:
                self.latency.labels(c).observe(max(0.0, now - batch.timings.received))
            self.last_commit.labels(c).set(now)
        except Exception:  # metrics must never stop ingestion
            log.exception("metrics: could not record a batch")

    def watch(self, ingest) -> None:
        """Report the spool and state of a SpooledIngest at scrape time, and observe its processor's commits."""
        self.registry.register(_SpoolCollector(ingest, self.consumer))
        ingest.processor.totals.observer = self.observe


def add_metrics_args(parser) -> None:
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port at /metrics (default off)"
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address of the metrics endpoint (default 127.0.0.1; 0.0.0.0 in a container)",
    )


def serve_metrics(args, ingest) -> IngestMetrics | None:
    """With --metrics-port: start the /metrics endpoint (a daemon thread) for this consumer."""
    if getattr(args, "metrics_port", None) is None:
        return None
    metrics = IngestMetrics(ingest.name)
    metrics.watch(ingest)
    start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
    print(f"metrics: http://{args.metrics_host}:{args.metrics_port}/metrics", flush=True)
    return metrics
