"""MQTT topic layout: madinina/<commune>/<kind>/<sensor_id> (commune as an ASCII slug)."""

from __future__ import annotations

import json
import re
import unicodedata

from ingestion.catalogue import SENSORS, Sensor

ROOT = "madinina"
SUBSCRIPTION = f"{ROOT}/#"


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def sensor_topic(sensor: Sensor) -> str:
    """The one topic this sensor publishes on (also what the broker's ACL lets its credential write: see
    scripts/mqtt_broker.py)."""
    return f"{ROOT}/{slug(sensor.commune)}/{sensor.kind}/{sensor.sensor_id}"


_TOPICS = {s.sensor_id: sensor_topic(s) for s in SENSORS}


def topic_for(payload: bytes) -> str:
    """The topic a simulated message goes to; unparsable ones (fault injection) go to madinina/unknown/..."""
    try:
        message = json.loads(payload)
        sensor_id = message.get("sensor_id") or message.get("device_id") or str(message.get("id", "")).split(":")[-1]
        sensor_id = sensor_id if isinstance(sensor_id, str) else None
    except (ValueError, AttributeError, TypeError, RecursionError):  # any hostile payload still gets a topic
        sensor_id = None
    if sensor_id in _TOPICS:
        return _TOPICS[sensor_id]
    return f"{ROOT}/unknown/unknown/{slug(sensor_id or 'unknown')[:64] or 'unknown'}"
