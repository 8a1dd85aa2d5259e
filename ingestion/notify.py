"""Webhook notifications of alert events (ingestion side; the dashboard never notifies).

What is notified: the outbox `alert_notifications` (migration 0010) receives, by trigger, every alert event that
is an alert opening, reopening, escalating, closing or being resolved by an operator, or still firing when its
silence ends — unless the alert is silenced at that moment or the event is historic (a backfill, the migration).
This module delivers that outbox to one HTTP receiver as a JSON POST, in event order:

- the severities a deployment wants are configured (MADININA_WEBHOOK_SEVERITIES, default warning,critical); the
  other events are marked `skipped`;
- a delivery is retried with exponential backoff (tenacity) on a connection error, a timeout, 408, 429 or 5xx;
  other answers (4xx, redirects) are permanent: the event is marked `failed` with the answer and the next one goes;
  a receiver still failing after the retries keeps the event at the head of the queue (later ones wait, so a
  receiver never sees an escalation before its opening) and the next round tries again;
- an event older than MADININA_WEBHOOK_MAX_AGE (default 15 min) when its turn comes is marked `expired`, not sent
  (a notifier that was off or a receiver down for long does not flood anyone with stale news);
- each event is marked in its own transaction right after its answer: delivery is at-least-once, and a crash
  between the answer and the mark re-sends that one event only. Receivers de-duplicate on `idempotency_key`
  (also sent as the Idempotency-Key header), unique per event.
One notifier delivers at a time per database (advisory lock), so two consumers side by side never interleave.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlparse
from zoneinfo import ZoneInfo

import psycopg2
import requests
import tenacity

from ingestion.cli_common import parse_duration

log = logging.getLogger("ingestion.notify")

SEVERITIES = ("info", "warning", "critical")
LOCAL = ZoneInfo("America/Martinique")
_NOTIFIER_LOCK = 4_862_011
_TRANSIENT_STATUS = {408, 425, 429}
# The human-readable line's words (the alert messages the engine writes are French too).
_ACTIONS_FR = {
    "opened": "ouverte",
    "reopened": "rouverte",
    "escalated": "aggravée",
    "closed": "terminée",
    "resolved": "résolue",
    "unsilenced": "toujours active après la fin du silence",
}
_SEVERITIES_FR = {"info": "Info", "warning": "Avertissement", "critical": "Critique"}
_ICONS = {"info": "🔵", "warning": "🟠", "critical": "🔴"}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    severities: frozenset[str] = frozenset({"warning", "critical"})
    dashboard_url: str = "http://localhost:8501"
    max_age: timedelta = timedelta(minutes=15)
    topic: str | None = None  # ntfy's JSON publishing wants the topic in the body
    attempts: int = 5  # per round; then the event waits `hold` before the next round tries again
    backoff_s: float = 0.5  # first wait between attempts, doubling, at most backoff_max_s
    backoff_max_s: float = 8.0
    hold: timedelta = timedelta(seconds=30)
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ=None) -> WebhookConfig | None:
        """MADININA_WEBHOOK_URL (unset = no notifications), MADININA_WEBHOOK_SEVERITIES (comma-separated),
        MADININA_WEBHOOK_MAX_AGE (15m), MADININA_WEBHOOK_TOPIC, MADININA_DASHBOARD_URL (links)."""
        env = os.environ if environ is None else environ
        url = env.get("MADININA_WEBHOOK_URL", "").strip()
        if not url:
            return None
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ConfigError(f"MADININA_WEBHOOK_URL must be an http(s) URL, not {url!r}")
        wanted = {s.strip().lower() for s in env.get("MADININA_WEBHOOK_SEVERITIES", "warning,critical").split(",")}
        wanted.discard("")
        if not wanted or not wanted <= set(SEVERITIES):
            raise ConfigError(f"MADININA_WEBHOOK_SEVERITIES: a comma-separated subset of {', '.join(SEVERITIES)}")
        try:
            max_age = timedelta(seconds=parse_duration(env.get("MADININA_WEBHOOK_MAX_AGE", "15m")))
        except ValueError as exc:
            raise ConfigError(f"MADININA_WEBHOOK_MAX_AGE: {exc}") from exc
        return cls(
            url=url,
            severities=frozenset(wanted),
            dashboard_url=env.get("MADININA_DASHBOARD_URL", cls.dashboard_url).rstrip("/"),
            max_age=max_age,
            topic=env.get("MADININA_WEBHOOK_TOPIC") or None,
        )


class _Transient(Exception):
    """The receiver may take it later (connection error, timeout, 408/429/5xx)."""


class _Permanent(Exception):
    """The receiver refuses this request for what it is (another 4xx, a redirect): retrying will not help."""


@dataclass
class Round:
    delivered: int = 0
    skipped: int = 0
    failed: int = 0
    expired: int = 0
    waiting: bool = False  # the head of the queue is held after failed attempts
    errors: list[str] = field(default_factory=list)


_EXPIRE = """
UPDATE alert_notifications n SET state = 'expired', last_error = 'older than the maximum age when its turn came'
  FROM alert_events e
 WHERE e.event_id = n.event_id AND n.state = 'pending' AND e.at < now() - %(max_age)s
"""
_HEAD = """
SELECT n.event_id, n.attempts, n.next_attempt_at <= now() AS due, e.action, e.at, e.actor, e.severity, e.comment,
       e.details, a.alert_id, a.kind, a.sensor_id, a.metric, a.opened_at, a.message, a.value, a.threshold,
       s.name, s.commune, m.unit, m.label_fr
  FROM alert_notifications n
  JOIN alert_events e ON e.event_id = n.event_id
  JOIN alerts a ON a.alert_id = e.alert_id
  LEFT JOIN sensors s ON s.sensor_id = a.sensor_id
  LEFT JOIN metrics m ON m.metric = a.metric
 WHERE n.state = 'pending'
 ORDER BY n.event_id
 LIMIT 1
"""
_MARK = """
UPDATE alert_notifications
   SET state = %(state)s, attempts = attempts + %(tries)s, last_attempt_at = now(), last_error = %(error)s,
       delivered_at = CASE WHEN %(state)s = 'delivered' THEN now() END,
       next_attempt_at = now() + %(hold)s
 WHERE event_id = %(event_id)s
"""


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _slack_escape(text: str) -> str:
    """Slack reads &, < and > as markup (links, mentions): escaped as its documentation requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(row: dict, config: WebhookConfig) -> dict:
    """The JSON body for one event (documented in docs/user-guide.md)."""
    details = row["details"] or {}
    value = details.get("value", row["value"])
    threshold = details.get("threshold", row["threshold"])
    link = f"{config.dashboard_url}/sensor?sensor_id={quote(row['sensor_id'], safe='')}"
    severity = row["severity"] or "warning"
    action = _ACTIONS_FR.get(row["action"], row["action"])
    if row["action"] == "escalated":
        before, after = details.get("from"), details.get("to")
        action += f" ({_SEVERITIES_FR.get(before, before)} → {_SEVERITIES_FR.get(after, after)})"
    if row["action"] == "resolved":
        action += f" par {row['actor']} : {row['comment'] or ''}"
    name = row["name"] or row["sensor_id"]
    title = f"{_ICONS.get(severity, '')} {_SEVERITIES_FR.get(severity, severity)} — alerte {action}"
    opened_local = row["opened_at"].astimezone(LOCAL).strftime("%d/%m/%Y %H:%M")
    text = f"{title} · {row['message']} · {name} ({row['sensor_id']}) · ouverte le {opened_local} · {link}"
    body = {
        "text": _slack_escape(text),  # Slack, Mattermost
        "title": title,  # ntfy, Gotify
        "message": text,
        "idempotency_key": f"madinina-alert-event-{row['event_id']}",
        "event_id": row["event_id"],
        "event": row["action"],
        "alert_id": row["alert_id"],
        "severity": severity,
        "kind": row["kind"],
        "sensor_id": row["sensor_id"],
        "sensor_name": row["name"],
        "commune": row["commune"],
        "metric": row["metric"],
        "unit": row["unit"],
        "value": value,
        "threshold": threshold,
        "summary": row["message"],
        "opened_at": _iso(row["opened_at"]),
        "at": _iso(row["at"]),
        "actor": row["actor"],
        "reason": row["comment"] if row["action"] == "resolved" else None,
        "dashboard_url": link,
    }
    if config.topic:
        body["topic"] = config.topic
    return body


class Notifier:
    """Delivers the outbox; `deliver_pending()` is one round, `run()` the loop the ingestion commands start."""

    def __init__(self, dsn: str, config: WebhookConfig, *, stop: threading.Event | None = None):
        self.dsn, self.config = dsn, config
        self.stop = stop or threading.Event()
        self.wake = threading.Event()
        self._conn = None
        self._http = requests.Session()
        self._db_down = False

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn, application_name="madinina-notifier", connect_timeout=5)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._http.close()

    def _post(self, body: dict) -> None:
        try:
            response = self._http.post(
                self.config.url,
                data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": body["idempotency_key"]},
                timeout=self.config.timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= response.status_code < 300:
            return
        detail = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code >= 500 or response.status_code in _TRANSIENT_STATUS:
            raise _Transient(detail)
        raise _Permanent(detail)

    def _send(self, body: dict) -> tuple[str, int, str | None]:
        """(state, tries, error) after up to `attempts` tries with backoff."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.config.attempts) | tenacity.stop_when_event_set(self.stop),
            wait=tenacity.wait_exponential(multiplier=self.config.backoff_s, max=self.config.backoff_max_s),
            sleep=self.stop.wait,
            reraise=True,
        )
        try:
            retrying(self._post, body)
        except _Transient as exc:
            return "pending", retrying.statistics.get("attempt_number", 1), str(exc)
        except _Permanent as exc:
            return "failed", retrying.statistics.get("attempt_number", 1), str(exc)
        return "delivered", retrying.statistics.get("attempt_number", 1), None

    def deliver_pending(self, limit: int = 200) -> Round:
        """Deliver the outbox in order until it is empty, its head is held, or `limit` events were handled."""
        outcome = Round()
        conn = self._connection()
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (_NOTIFIER_LOCK,))
            locked = cur.fetchone()[0]
        conn.commit()
        if not locked:
            return outcome
        try:
            with conn.cursor() as cur:
                cur.execute(_EXPIRE, {"max_age": self.config.max_age})
                outcome.expired = cur.rowcount
            conn.commit()
            for _ in range(limit):
                if self.stop.is_set() or not self._one(conn, outcome):
                    break
        finally:
            if not conn.closed:
                conn.rollback()
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_NOTIFIER_LOCK,))
                conn.commit()
        return outcome

    def _one(self, conn, outcome: Round) -> bool:
        with conn.cursor() as cur:
            cur.execute(_HEAD)
            head = cur.fetchone()
            columns = [c.name for c in cur.description] if head else []
        conn.commit()
        if head is None:
            return False
        row = dict(zip(columns, head, strict=True))
        if not row["due"]:
            outcome.waiting = True
            return False
        if row["severity"] not in self.config.severities:
            state, tries, error = "skipped", 0, f"severity {row['severity']} not configured"
        else:
            state, tries, error = self._send(payload(row, self.config))
        with conn.cursor() as cur:
            cur.execute(
                _MARK,
                {"state": state, "tries": tries, "error": error, "event_id": row["event_id"], "hold": self.config.hold},
            )
        conn.commit()
        if state == "pending":
            outcome.waiting = True
            outcome.errors.append(error)
            log.warning("webhook: event %s not delivered after %s tries (%s); retried later", row["event_id"], tries,
                        error)  # fmt: skip
            return False
        if state == "failed":
            log.error("webhook: event %s refused by the receiver (%s); not retried", row["event_id"], error)
        setattr(outcome, state, getattr(outcome, state) + 1)
        return True

    def run(self, every: float = 2.0) -> None:
        """Deliver, then wait for `wake` (the alerts ticker sets it after each evaluation) or `every` seconds."""
        while not self.stop.is_set():
            try:
                self.deliver_pending()
                if self._db_down:
                    log.warning("webhook notifier: database back")
                    self._db_down = False
            except psycopg2.Error as exc:
                if not self._db_down:
                    log.warning("webhook notifier: database unavailable (%s); retrying", str(exc).strip())
                    self._db_down = True
                if self._conn is not None:
                    self._conn.close()
            self.wake.wait(every)
            self.wake.clear()
        self.close()


def start_from_env(dsn: str) -> Notifier | None:
    """A notifier thread when MADININA_WEBHOOK_URL is set; a wrong setting is logged and disables notifications
    (it never stops ingestion)."""
    try:
        config = WebhookConfig.from_env()
    except ConfigError as exc:
        log.error("webhook notifications disabled: %s", exc)
        return None
    if config is None:
        return None
    notifier = Notifier(dsn, config)
    threading.Thread(target=notifier.run, name="webhook-notifier", daemon=True).start()
    log.info("webhook notifications to %s for %s", urlparse(config.url).netloc, ", ".join(sorted(config.severities)))
    return notifier
