"""The webhook settings (environment of the ingestion commands) are parsed into a config or refused with a message
naming the setting; the payload a receiver gets is well-formed JSON whatever the sensor's strings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.notify import SEVERITIES, ConfigError, WebhookConfig, payload


def test_unset_means_no_notifications():
    assert WebhookConfig.from_env({}) is None
    assert WebhookConfig.from_env({"MADININA_WEBHOOK_URL": "  "}) is None


def test_defaults_and_settings():
    config = WebhookConfig.from_env({"MADININA_WEBHOOK_URL": "https://hooks.example/x"})
    assert config.severities == {"warning", "critical"} and config.max_age == timedelta(minutes=15)
    config = WebhookConfig.from_env(
        {
            "MADININA_WEBHOOK_URL": "http://ntfy.local",
            "MADININA_WEBHOOK_SEVERITIES": " Critical , ",
            "MADININA_WEBHOOK_MAX_AGE": "1h",
            "MADININA_WEBHOOK_TOPIC": "alertes",
            "MADININA_DASHBOARD_URL": "https://monitor.example/",
        }
    )
    assert (config.severities, config.max_age, config.topic) == ({"critical"}, timedelta(hours=1), "alertes")
    assert config.dashboard_url == "https://monitor.example"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"MADININA_WEBHOOK_URL": "ftp://x"}, "MADININA_WEBHOOK_URL"),
        ({"MADININA_WEBHOOK_URL": "hooks.example"}, "MADININA_WEBHOOK_URL"),
        ({"MADININA_WEBHOOK_URL": "http://x", "MADININA_WEBHOOK_SEVERITIES": "warning,urgent"}, "SEVERITIES"),
        ({"MADININA_WEBHOOK_URL": "http://x", "MADININA_WEBHOOK_SEVERITIES": ","}, "SEVERITIES"),
        ({"MADININA_WEBHOOK_URL": "http://x", "MADININA_WEBHOOK_MAX_AGE": "soon"}, "MAX_AGE"),
    ],
)
def test_wrong_settings_are_refused_with_their_name(env, names):
    with pytest.raises(ConfigError, match=names):
        WebhookConfig.from_env(env)


@given(st.text(max_size=60))
def test_any_severity_list_is_parsed_or_refused(text):
    try:
        config = WebhookConfig.from_env({"MADININA_WEBHOOK_URL": "http://x", "MADININA_WEBHOOK_SEVERITIES": text})
    except ConfigError:
        return
    assert config.severities and config.severities <= set(SEVERITIES)


@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_the_payload_is_json_with_slack_markup_escaped(sensor_id, name, reason):
    row = {
        "event_id": 7, "action": "resolved", "at": datetime(2026, 12, 2, 14, tzinfo=UTC), "actor": "marie",
        "severity": "critical", "comment": reason, "details": {"value": 91.0, "threshold": 80.0}, "alert_id": 3,
        "kind": "threshold", "sensor_id": sensor_id, "metric": "pm10", "opened_at": datetime(2026, 12, 2, tzinfo=UTC),
        "message": "PM10 : 91 µg/m³", "value": 95.0, "threshold": 80.0, "name": name, "commune": "Le Robert",
        "unit": "µg/m³", "label_fr": "PM10",
    }  # fmt: skip
    body = json.loads(json.dumps(payload(row, WebhookConfig(url="http://x"))))
    assert body["reason"] == reason and body["value"] == 91.0 and body["idempotency_key"] == "madinina-alert-event-7"
    assert "<" not in body["text"] and ">" not in body["text"]
    assert body["opened_at"] == "2026-12-02T00:00:00+00:00"
    assert "/sensor?sensor_id=" in body["dashboard_url"] and "&" not in body["dashboard_url"].split("=", 1)[1]
