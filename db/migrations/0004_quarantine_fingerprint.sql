-- A rejected message received again (QoS 1 redelivery, a replayed stream) is stored once: replays leave the
-- tables identical. The processors count the repeat as a duplicate, so their counters still reconcile.
ALTER TABLE quarantine ADD COLUMN fingerprint text;
UPDATE quarantine SET fingerprint = md5(reason || E'\x1f' || detail || E'\x1f' || payload);
ALTER TABLE quarantine ALTER COLUMN fingerprint SET NOT NULL;
CREATE UNIQUE INDEX quarantine_fingerprint_idx ON quarantine (fingerprint);
