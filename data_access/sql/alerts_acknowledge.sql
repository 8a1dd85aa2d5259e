-- Acknowledge an alert as :actor (SECURITY DEFINER, migration 0010): refuses a closed alert and another actor's
-- acknowledgement, appends one alert_events row. found = false when there is no such alert.
SELECT acknowledge_alert(CAST(:alert_id AS bigint), CAST(:actor AS text), CAST(:comment AS text)) AS found
