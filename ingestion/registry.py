"""The sensors and metrics tables: kept in step with the code catalogue (ingestion/catalogue.py) at start, watched
while running (the validation uses what the database has), and edited by operators (`python -m ingestion sensors`)."""

from __future__ import annotations

import time

import psycopg2
import psycopg2.extras

from ingestion.catalogue import KINDS, METRICS, SENSORS

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


class CatalogueWatcher:
    """The validation catalogue as the database has it (DESIGN §3): read at start, re-read every `refresh_s`
    seconds and at once when the `sensors`/`metrics` tables change (migration 0007 NOTIFYs madinina_catalogue),
    so a sensor an operator adds is accepted without a restart. While the database is away the last catalogue
    read stays in use; `current()` never raises once one catalogue was read."""

    def __init__(self, dsn: str, *, refresh_s: float = 30.0, clock=time.monotonic):
        self.dsn = dsn
        self.refresh_s = refresh_s
        self.clock = clock
        self._conn = None
        self._catalogue = None
        self._read_at = float("-inf")

    def _listen(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn, application_name="madinina-catalogue", connect_timeout=5)
            self._conn.autocommit = True
            with self._conn.cursor() as cur:
                cur.execute("LISTEN madinina_catalogue")
            self._read_at = float("-inf")  # notifications sent while we were away are lost: read again
        return self._conn

    def current(self):
        """The catalogue to validate with. Raises psycopg2.Error only while no catalogue was ever read."""
        from ingestion.validation import Catalogue

        try:
            conn = self._listen()
            conn.poll()
            changed = bool(conn.notifies)
            conn.notifies.clear()
            if changed or self.clock() - self._read_at >= self.refresh_s:
                self._catalogue = Catalogue.from_db(conn)
                self._read_at = self.clock()
        except psycopg2.Error:
            self.close()
            if self._catalogue is None:
                raise
        return self._catalogue

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None


# -- operator commands: python -m ingestion sensors add|list|deactivate|activate -----------------------------------
_SENSOR_COLUMNS = ("sensor_id", "name", "kind", "commune", "insee", "latitude", "longitude", "expected_interval_s")


def add_sensor(conn, *, sensor_id: str, name: str, kind: str, commune: str, insee: str, latitude: float,
               longitude: float, expected_interval_s: int) -> bool:  # fmt: skip
    """Register a sensor (active). Returns False if the id exists already (nothing changed)."""
    if not sensor_id or len(sensor_id) > 64 or not sensor_id.isprintable() or sensor_id != sensor_id.strip():
        raise ValueError("sensor id must be 1 to 64 printable characters without surrounding spaces")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("latitude must be within [-90, 90] and longitude within [-180, 180]")
    if not 0 < expected_interval_s <= 86400:
        raise ValueError("the expected interval must be between 1 s and 1 day")
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO sensors (sensor_id, name, kind, commune, insee, latitude, longitude, expected_interval_s)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sensor_id) DO NOTHING",
            (sensor_id, name, kind, commune, insee, latitude, longitude, expected_interval_s),
        )
        added = cur.rowcount == 1
    conn.commit()
    return added


def set_sensor_active(conn, sensor_id: str, active: bool) -> bool:
    """Activate or deactivate a sensor; returns False if there is no such sensor."""
    with conn.cursor() as cur:
        cur.execute("UPDATE sensors SET active = %s WHERE sensor_id = %s", (active, sensor_id))
        found = cur.rowcount == 1
    conn.commit()
    return found


def list_sensors(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(_SENSOR_COLUMNS)}, active FROM sensors ORDER BY sensor_id")
        return cur.fetchall()
