-- The backfill run in progress, if any (migration 0011): the newest run still 'running' that reported within the
-- last minute (a run whose process died stops counting as running after that).
SELECT run_id, phase, readings_total, readings_done, covered_from, eta_s, rate, range_start, range_end, updated_at
  FROM backfill_progress
 WHERE state = 'running'
   AND updated_at > CAST(:now AS timestamptz) - interval '60 seconds'
 ORDER BY updated_at DESC
 LIMIT 1
