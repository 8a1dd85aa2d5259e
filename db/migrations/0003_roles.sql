-- Roles: ingestion writes with madinina_writer; the dashboard reads with madinina_reader, whose only write
-- is acknowledging an alert through acknowledge_alert() (SECURITY DEFINER, narrow by construction).
-- Passwords are not set here: the migration runner sets them from the environment when given.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'madinina_writer') THEN
        CREATE ROLE madinina_writer LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'madinina_reader') THEN
        CREATE ROLE madinina_reader LOGIN;
    END IF;
END
$$;

CREATE FUNCTION acknowledge_alert(p_alert_id bigint, p_by text, p_comment text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_by IS NULL OR length(trim(p_by)) = 0 OR length(p_by) > 100 THEN
        RAISE EXCEPTION 'acknowledged_by must be 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF p_comment IS NOT NULL AND length(p_comment) > 2000 THEN
        RAISE EXCEPTION 'comment must be at most 2000 characters' USING ERRCODE = '22023';
    END IF;
    UPDATE alerts
       SET acknowledged_at = now(), acknowledged_by = trim(p_by), ack_comment = p_comment
     WHERE alert_id = p_alert_id;
    RETURN FOUND;
END
$$;
REVOKE ALL ON FUNCTION acknowledge_alert(bigint, text, text) FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO madinina_reader, madinina_writer;
GRANT SELECT ON sensors, metrics, sensor_data, sensor_data_agg, sensor_latest, alerts, pipeline_kpi, quarantine
    TO madinina_reader;
GRANT EXECUTE ON FUNCTION get_pipeline_latency_stats(interval) TO madinina_reader, madinina_writer;
GRANT EXECUTE ON FUNCTION acknowledge_alert(bigint, text, text) TO madinina_reader;

GRANT SELECT, INSERT, UPDATE ON sensors, metrics, sensor_data, sensor_data_agg, sensor_latest, alerts,
    pipeline_kpi, quarantine TO madinina_writer;
GRANT DELETE ON sensor_latest TO madinina_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO madinina_writer;
