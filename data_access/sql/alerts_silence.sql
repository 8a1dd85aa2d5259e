-- Silence :sensor_id's :metric (NULL = the whole sensor) for :duration from :starts_at (NULL = now), as :actor
-- (SECURITY DEFINER, migration 0010); returns the silence id.
SELECT create_silence(CAST(:actor AS text), CAST(:sensor_id AS text), CAST(:metric AS text),
                      CAST(:duration AS interval), CAST(:reason AS text),
                      CAST(:starts_at AS timestamptz)) AS silence_id
