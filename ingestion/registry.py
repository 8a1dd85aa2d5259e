"""Keep the database's sensors and metrics tables in step with the code catalogue (ingestion/catalogue.py)."""

from __future__ import annotations

import psycopg2.extras

from ingestion.catalogue import METRICS, SENSORS

_METRICS_UPSERT = """
INSERT INTO metrics (metric, unit, label_fr, label_en, valid_min, valid_max, warn_low, warn_high, crit_low,
                     crit_high)
VALUES %s
ON CONFLICT (metric) DO UPDATE SET unit = excluded.unit, label_fr = excluded.label_fr,
    label_en = excluded.label_en, valid_min = excluded.valid_min, valid_max = excluded.valid_max,
    warn_low = excluded.warn_low, warn_high = excluded.warn_high, crit_low = excluded.crit_low,
    crit_high = excluded.crit_high
"""

# installed_at is left alone on update: it is a fact about the field, not about the catalogue.
_SENSORS_UPSERT = """
INSERT INTO sensors (sensor_id, name, kind, commune, insee, latitude, longitude, expected_interval_s, tags)
VALUES %s
ON CONFLICT (sensor_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, commune = excluded.commune,
    insee = excluded.insee, latitude = excluded.latitude, longitude = excluded.longitude,
    expected_interval_s = excluded.expected_interval_s, tags = excluded.tags
"""


def sync_catalogue(conn) -> tuple[int, int]:
    """Upsert the code catalogue; returns (metrics, sensors) written. Commits."""
    metrics = [
        (
            m.metric,
            m.unit,
            m.label_fr,
            m.label_en,
            m.valid_min,
            m.valid_max,
            m.warn_low,
            m.warn_high,
            m.crit_low,
            m.crit_high,
        )
        for m in METRICS.values()
    ]
    sensors = [
        (s.sensor_id, s.name, s.kind, s.commune, s.insee, s.latitude, s.longitude, s.expected_interval_s, list(s.tags))
        for s in SENSORS
    ]
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(cur, _METRICS_UPSERT, metrics)
        psycopg2.extras.execute_values(cur, _SENSORS_UPSERT, sensors)
    conn.commit()
    return len(metrics), len(sensors)
