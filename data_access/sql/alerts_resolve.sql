-- Resolve (close) an open alert by hand with a reason, as :actor (SECURITY DEFINER, migration 0010).
SELECT resolve_alert(CAST(:alert_id AS bigint), CAST(:actor AS text), CAST(:reason AS text)) AS event_id
