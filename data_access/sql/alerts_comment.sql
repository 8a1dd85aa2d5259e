-- Comment an open alert as :actor (SECURITY DEFINER, migration 0010); returns the event id.
SELECT comment_alert(CAST(:alert_id AS bigint), CAST(:actor AS text), CAST(:comment AS text)) AS event_id
