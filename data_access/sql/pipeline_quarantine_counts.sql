-- Messages quarantined in [:start, :end) by reason: how many, first and last, and from which sources.
SELECT q.reason, count(*) AS messages, min(q.received_at) AS first_at, max(q.received_at) AS last_at,
       string_agg(DISTINCT q.source, ', ' ORDER BY q.source) AS sources
  FROM quarantine q
 WHERE q.received_at >= :start AND q.received_at < :end
 GROUP BY q.reason
 ORDER BY messages DESC, q.reason
