-- Assign an open alert to :assignee (NULL or blank = unassign) as :actor (SECURITY DEFINER, migration 0010).
SELECT assign_alert(CAST(:alert_id AS bigint), CAST(:actor AS text), CAST(:assignee AS text),
                    CAST(:comment AS text)) AS event_id
