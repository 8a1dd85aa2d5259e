"""The ingestion's /metrics scraped by a real Prometheus: a real `python -m ingestion consume --metrics-port` over a
real Mosquitto and PostgreSQL; PromQL through Prometheus' HTTP API returns what the test sent (received, stored,
quarantined by reason), the spool drains to zero, the alerting rules load and their logic passes promtool's tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from ingestion.transports.mqtt import MqttConfig, MqttPublisher
from tests.support.app import ROOT
from tests.support.prometheus import prometheus, prometheus_path, promtool_path
from tests.support.services import free_port, require, wait_for


def sent_messages() -> tuple[list[bytes], dict]:
    """Valid single readings, malformed JSON and unknown metrics; and what the sender knows it sent."""
    now = time.time() - 120
    valid = [
        json.dumps(
            {
                "timestamp": datetime.fromtimestamp(now - k, UTC).isoformat(),
                "sensor_id": "mq-fdf-wx-01",
                "metric": "temperature",
                "value": 25.0 + k / 1000,
            }
        ).encode()
        for k in range(400)
    ]
    bad_json = [f'{{"sensor_id": "mq-fdf-wx-01", broken {k}'.encode() for k in range(7)]
    unknown_metric = [
        json.dumps({"timestamp": datetime.fromtimestamp(now, UTC).isoformat(), "sensor_id": "mq-fdf-wx-01",
                    "metric": f"bogus_{k}", "value": 1.0}).encode()
        for k in range(3)
    ]  # fmt: skip
    messages = valid + bad_json + unknown_metric
    return messages, {"received": len(messages), "stored": len(valid), "invalid_json": 7, "unknown_metric": 3}


def test_prometheus_scrapes_the_counts_that_were_sent(mqtt_port, db_url, output_dir, tmp_path):
    require(prometheus_path() is not None, "Prometheus (Debian package prometheus)")
    metrics_port = free_port()
    log_path = output_dir / "logs" / "consumer-metrics.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    consumer = subprocess.Popen(
        [
            sys.executable, "-m", "ingestion", "--database-url", db_url, "consume", "--mqtt-port", str(mqtt_port),
            "--client-id", "test-metrics", "--alerts-every", "0", "--spool-dir", str(tmp_path / "spool"),
            "--metrics-port", str(metrics_port),
        ],
        cwd=ROOT,
        stdout=open(log_path, "w"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: "persistent session" in log_path.read_text(), 60, "the consumer to connect")
        with prometheus(output_dir / "prometheus", [f"127.0.0.1:{metrics_port}"]) as prom:
            wait_for(lambda: prom.scalar('up{job="madinina-ingestion"}') == 1, 60, "the first scrape")
            assert prom.scalar("sum(madinina_ingest_received_total)") == 0
            messages, want = sent_messages()
            publisher = MqttPublisher(MqttConfig(port=mqtt_port), client_id="test-metrics-pub")
            for message in messages:
                publisher.publish(message)
            publisher.close()

            wait_for(
                lambda: prom.scalar("sum(madinina_ingest_received_total)") == want["received"],
                90,
                f"Prometheus to see {want['received']} messages received",
            )
            assert prom.scalar("sum(madinina_ingest_stored_total)") == want["stored"]
            assert prom.scalar("sum(madinina_ingest_duplicates_total)") == 0
            by_reason = {
                r["metric"]["reason"]: float(r["value"][1])
                for r in prom.query("sum by (reason) (madinina_ingest_quarantined_total)")
            }
            assert by_reason == {"invalid_json": want["invalid_json"], "unknown_metric": want["unknown_metric"]}
            batches = prom.scalar("sum(madinina_ingest_batches_total)")
            assert batches >= 1
            assert prom.scalar("sum(madinina_ingest_batch_size_messages_count)") == batches
            assert prom.scalar("sum(madinina_ingest_batch_size_messages_sum)") == want["received"]
            assert prom.scalar("sum(madinina_ingest_batch_latency_seconds_count)") >= 1
            assert 0 <= prom.scalar("time() - max(madinina_ingest_last_commit_timestamp_seconds)") < 120
            wait_for(lambda: prom.scalar("sum(madinina_spool_depth_messages)") == 0, 30, "the spool to be empty")
            assert prom.scalar('madinina_ingest_state{state="running"}') == 1
            assert prom.scalar('max(madinina_spool_max_bytes{consumer="test-metrics"})') > 0

            rules = prom.api("rules")["groups"]
            loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
            assert {"IngestionStalled", "QuarantineRateHigh", "SpoolGrowing"} <= loaded.keys()
            wait_for(lambda: all(h == "ok" for h in _health(prom).values()), 30, "every rule evaluated")
            # 10 of 410 rejected (2.4 %): under the 5 % threshold, nothing pending.
            assert prom.api("alerts")["alerts"] == []
    finally:
        consumer.terminate()
        consumer.wait(30)
    # The durable ledger agrees with Prometheus and with the sender.
    import psycopg2

    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT sum(received), sum(stored) FROM ingest_ledger")
        assert cur.fetchone() == (want["received"], want["stored"])


def _health(prom) -> dict[str, str]:
    return {r["name"]: r["health"] for g in prom.api("rules")["groups"] for r in g["rules"]}


def test_the_alerting_rules_pass_their_promtool_unit_tests():
    require(promtool_path() is not None, "promtool (Debian package prometheus)")
    rules = ROOT / "deploy" / "prometheus"
    check = subprocess.run([promtool_path(), "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [promtool_path(), "test", "rules", "alerts_test.yml"], cwd=rules, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr
