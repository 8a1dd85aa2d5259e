-- End a silence now (or cancel a planned one) as :actor (SECURITY DEFINER, migration 0010).
SELECT lift_silence(CAST(:silence_id AS bigint), CAST(:actor AS text), CAST(:comment AS text)) AS silence_id
