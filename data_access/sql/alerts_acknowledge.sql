-- The dashboard's only write: acknowledge_alert() is SECURITY DEFINER and touches only the acknowledgement columns.
SELECT acknowledge_alert(CAST(:alert_id AS bigint), CAST(:by AS text), CAST(:comment AS text)) AS found
