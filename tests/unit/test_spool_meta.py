"""The spool's nullable `meta` column (the Kafka consumer's topic/partition/offset): kept with each entry, absent
for the other transports, and a spool file written before the column existed opens, keeps its entries and takes
new ones with meta."""

import sqlite3

from ingestion.spool import FILE_NAME, Spool


def test_meta_travels_with_its_entry_and_is_optional(tmp_path):
    with Spool(tmp_path) as spool:
        assert (
            spool.append([(b"a", 1.0, "mqtt"), (b"b", 2.0, "kafka", '{"offset": 7}'), (b"c", 3.0, "kafka", None)]) == 3
        )
        assert [(e.payload, e.meta) for e in spool.peek(10)] == [(b"a", None), (b"b", '{"offset": 7}'), (b"c", None)]


def test_a_spool_from_before_the_meta_column_still_opens(tmp_path):
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('spool_id', 'old-spool');"
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL,"
        " source TEXT NOT NULL, payload BLOB NOT NULL);"
        "INSERT INTO messages (received_at, source, payload) VALUES (1.0, 'mqtt', x'6f6c64');"
    )
    conn.commit()
    conn.close()
    with Spool(tmp_path) as spool:
        assert spool.spool_id == "old-spool" and spool.depth == 1
        assert spool.append([(b"new", 2.0, "kafka", '{"offset": 1}')]) == 1
        assert [(e.payload, e.meta) for e in spool.peek(10)] == [(b"old", None), (b"new", '{"offset": 1}')]
    with Spool(tmp_path) as spool:  # and again, now that the column exists
        assert spool.depth == 2
