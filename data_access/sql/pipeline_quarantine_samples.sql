-- The :per_reason most recent quarantined messages of each reason in [:start, :end) (one reason when :reason is
-- set); payloads are cut to :max_chars characters here, their full length is returned beside them.
WITH ranked AS (
    SELECT q.quarantine_id, q.received_at, q.source, q.reason, q.detail, left(q.payload, CAST(:max_chars AS integer))
               AS payload, length(q.payload) AS payload_chars,
           row_number() OVER (PARTITION BY q.reason ORDER BY q.received_at DESC, q.quarantine_id DESC) AS rank
      FROM quarantine q
     WHERE q.received_at >= :start AND q.received_at < :end
       AND (CAST(:reason AS text) IS NULL OR q.reason = CAST(:reason AS text))
)
SELECT quarantine_id, received_at, source, reason, detail, payload, payload_chars
  FROM ranked
 WHERE rank <= CAST(:per_reason AS integer)
 ORDER BY reason, received_at DESC, quarantine_id DESC
