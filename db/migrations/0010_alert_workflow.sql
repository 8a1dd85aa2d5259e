-- The alert workflow (issue 9, DESIGN §9): an append-only history of every alert action (alert_events), silences
-- (maintenance windows), assignment and manual resolution on the alerts contract, and the outbox the webhook
-- notifier delivers from. Every contract column of `alerts` keeps its meaning; `closed_at` is also set by a manual
-- resolution (then `resolved_by` and `resolution` say who and why).
--
-- The dashboard's role writes nothing directly: it calls the narrow SECURITY DEFINER functions below, which validate
-- every input, refuse acting on a closed alert (SQLSTATE MA001) and overwriting another actor's acknowledgement
-- (MA002), and append exactly one alert_events row per action. SQLSTATEs: 22023 bad input, P0002 unknown alert,
-- silence or sensor, MA001 alert closed, MA002 acknowledged by someone else, MA003 silence already over.

ALTER TABLE alerts
    ADD COLUMN assignee    text,
    ADD COLUMN assigned_by text,
    ADD COLUMN assigned_at timestamptz,
    ADD COLUMN resolved_by text,
    ADD COLUMN resolution  text,
    ADD COLUMN silenced    boolean NOT NULL DEFAULT false;
-- The engine's "reopen on recurrence" looks up the last closed alert of a (sensor, metric, kind).
CREATE INDEX alerts_key_closed_idx ON alerts (sensor_id, (coalesce(metric, '')), kind, closed_at DESC)
    WHERE closed_at IS NOT NULL;

-- A silence covers one metric of a sensor, or the whole sensor (metric NULL), from starts_at to ends_at. Alerts
-- opening or firing under it are still recorded, marked silenced, and not notified. Lifting one early moves ends_at
-- to the lifting time (the planned end stays in its `silenced` event).
CREATE TABLE alert_silences (
    silence_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sensor_id  text NOT NULL,
    metric     text,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    reason     text NOT NULL CHECK (length(trim(reason)) > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    lifted_at  timestamptz,
    lifted_by  text,
    CHECK (ends_at >= starts_at)
);
CREATE INDEX alert_silences_sensor_idx ON alert_silences (sensor_id, ends_at);
CREATE INDEX alert_silences_ends_idx ON alert_silences (ends_at);

-- The one rule of what a silence covers, used by the engine and the reads.
CREATE FUNCTION alert_silenced(p_sensor_id text, p_metric text, p_at timestamptz)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM alert_silences s
                    WHERE s.sensor_id = p_sensor_id AND (s.metric IS NULL OR s.metric = p_metric)
                      AND s.starts_at <= p_at AND p_at < s.ends_at)
$$;

-- One row per thing that happened to an alert (or, for silences, to a sensor): never updated, never deleted.
-- `severity` and `silenced` are the alert's at that moment; `historic` marks events describing the past (the
-- migration below, a backfill): never notified.
CREATE TABLE alert_events (
    event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint REFERENCES alerts (alert_id),
    sensor_id text NOT NULL,
    metric    text,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL CHECK (action IN ('opened', 'reopened', 'escalated', 'deescalated', 'closed',
                                              'acknowledged', 'commented', 'assigned', 'unassigned', 'resolved',
                                              'silenced', 'unsilenced')),
    severity  text CHECK (severity IN ('info', 'warning', 'critical')),
    silenced  boolean NOT NULL DEFAULT false,
    historic  boolean NOT NULL DEFAULT false,
    comment   text,
    details   jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK (alert_id IS NOT NULL OR action IN ('silenced', 'unsilenced'))
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, event_id);
CREATE INDEX alert_events_sensor_idx ON alert_events (sensor_id, at DESC);
CREATE INDEX alert_events_at_idx ON alert_events (at DESC);

CREATE FUNCTION alert_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_events is append-only: % refused', TG_OP USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER alert_events_no_change BEFORE UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_append_only();
CREATE TRIGGER alert_events_no_truncate BEFORE TRUNCATE ON alert_events
    FOR EACH STATEMENT EXECUTE FUNCTION alert_events_append_only();

-- The notification outbox: one row per event a webhook receiver should hear about (an alert opened, reopened,
-- escalated, closed or resolved, or firing again once its silence is over; not silenced, not historic). The
-- notifier (ingestion/notify.py) delivers the pending ones in event order and marks each in its own transaction.
CREATE TABLE alert_notifications (
    event_id        bigint PRIMARY KEY REFERENCES alert_events (event_id),
    queued_at       timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed', 'skipped', 'expired')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX alert_notifications_pending_idx ON alert_notifications (event_id) WHERE state = 'pending';

CREATE FUNCTION alert_events_queue_notification() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_notifications (event_id) VALUES (NEW.event_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_events_notify AFTER INSERT ON alert_events FOR EACH ROW
    WHEN (NEW.alert_id IS NOT NULL AND NOT NEW.silenced AND NOT NEW.historic
          AND NEW.action IN ('opened', 'reopened', 'escalated', 'closed', 'resolved', 'unsilenced'))
    EXECUTE FUNCTION alert_events_queue_notification();

-- The history of the alerts that exist already, so that every alert has its `opened` event (historic: these
-- describe the past and are never notified).
INSERT INTO alert_events (alert_id, sensor_id, metric, at, actor, action, severity, historic, comment, details)
SELECT alert_id, sensor_id, metric, at, actor, action, severity, true, comment, details
  FROM (SELECT alert_id, sensor_id, metric, opened_at AS at, 'system' AS actor, 'opened' AS action, severity,
               NULL::text AS comment, jsonb_build_object('value', value, 'threshold', threshold) AS details, 1 AS o
          FROM alerts
        UNION ALL
        SELECT alert_id, sensor_id, metric, acknowledged_at, coalesce(acknowledged_by, '?'), 'acknowledged',
               severity, ack_comment, '{}'::jsonb, 2
          FROM alerts WHERE acknowledged_at IS NOT NULL
        UNION ALL
        SELECT alert_id, sensor_id, metric, closed_at, 'system', 'closed', severity, NULL,
               jsonb_build_object('value', value, 'threshold', threshold), 3
          FROM alerts WHERE closed_at IS NOT NULL) e
 ORDER BY at, alert_id, o;

-- ---- input checks shared by the action functions ----------------------------------------------------------------
-- An actor (who acts) or an assignee: 1 to 100 characters after trimming, one line; "system" is the engine's.
CREATE FUNCTION alert_check_name(p_value text, p_what text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
DECLARE
    v text := trim(p_value);
BEGIN
    IF v IS NULL OR length(v) = 0 OR length(v) > 100 THEN
        RAISE EXCEPTION '% must be 1 to 100 characters', p_what USING ERRCODE = '22023';
    END IF;
    IF v ~ '[\x01-\x1f\x7f]' THEN
        RAISE EXCEPTION '% must be one line without control characters', p_what USING ERRCODE = '22023';
    END IF;
    IF lower(v) = 'system' THEN
        RAISE EXCEPTION '% "system" is reserved for the alerts engine', p_what USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;

-- A comment or reason: at most 2000 characters; blank is NULL, which p_required refuses.
CREATE FUNCTION alert_check_text(p_value text, p_what text, p_required boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = public, pg_temp AS $$
DECLARE
    v text := nullif(trim(p_value), '');
BEGIN
    IF v IS NULL AND p_required THEN
        RAISE EXCEPTION '% is required', p_what USING ERRCODE = '22023';
    END IF;
    IF length(v) > 2000 THEN
        RAISE EXCEPTION '% must be at most 2000 characters', p_what USING ERRCODE = '22023';
    END IF;
    RETURN v;
END
$$;

-- The open alert, locked against the engine and other operators until the action commits.
CREATE FUNCTION alert_lock_open(p_alert_id bigint)
RETURNS alerts
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    a alerts;
BEGIN
    IF p_alert_id IS NULL THEN
        RAISE EXCEPTION 'alert id is required' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO a FROM alerts WHERE alert_id = p_alert_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'alert % does not exist', p_alert_id USING ERRCODE = 'P0002';
    END IF;
    IF a.closed_at IS NOT NULL THEN
        RAISE EXCEPTION 'alert % is closed: no action on a closed alert', p_alert_id USING ERRCODE = 'MA001';
    END IF;
    RETURN a;
END
$$;

CREATE FUNCTION alert_event_add(a alerts, p_actor text, p_action text, p_comment text, p_details jsonb)
RETURNS bigint
LANGUAGE sql SET search_path = public, pg_temp AS $$
    INSERT INTO alert_events (alert_id, sensor_id, metric, actor, action, severity, silenced, comment, details)
    VALUES (a.alert_id, a.sensor_id, a.metric, p_actor, p_action, a.severity, a.silenced, p_comment, p_details)
    RETURNING event_id
$$;

-- ---- the actions ---------------------------------------------------------------------------------------------------
-- Kept from 0003 with its signature (true = acknowledged, false = no such alert); now refuses a closed alert and
-- another actor's acknowledgement. The same actor acknowledging again updates the comment (acknowledged_at kept).
CREATE OR REPLACE FUNCTION acknowledge_alert(p_alert_id bigint, p_by text, p_comment text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_by      text := alert_check_name(p_by, 'acknowledged_by');
    v_comment text := alert_check_text(p_comment, 'comment', false);
    a         alerts;
BEGIN
    IF p_alert_id IS NULL OR NOT EXISTS (SELECT 1 FROM alerts WHERE alert_id = p_alert_id) THEN
        RETURN false;
    END IF;
    a := alert_lock_open(p_alert_id);
    IF a.acknowledged_at IS NOT NULL AND a.acknowledged_by IS DISTINCT FROM v_by THEN
        RAISE EXCEPTION 'alert % is already acknowledged by %', p_alert_id, a.acknowledged_by
            USING ERRCODE = 'MA002';
    END IF;
    UPDATE alerts
       SET acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = v_by,
           ack_comment = coalesce(v_comment, ack_comment)
     WHERE alert_id = p_alert_id;
    PERFORM alert_event_add(a, v_by, 'acknowledged', v_comment, '{}'::jsonb);
    RETURN true;
END
$$;

CREATE FUNCTION comment_alert(p_alert_id bigint, p_actor text, p_comment text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor   text := alert_check_name(p_actor, 'actor');
    v_comment text := alert_check_text(p_comment, 'comment', true);
BEGIN
    RETURN alert_event_add(alert_lock_open(p_alert_id), v_actor, 'commented', v_comment, '{}'::jsonb);
END
$$;

-- p_assignee NULL or blank = unassign (refused when nobody is assigned).
CREATE FUNCTION assign_alert(p_alert_id bigint, p_actor text, p_assignee text, p_comment text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor    text := alert_check_name(p_actor, 'actor');
    v_assignee text := CASE WHEN nullif(trim(p_assignee), '') IS NULL THEN NULL
                            ELSE alert_check_name(p_assignee, 'assignee') END;
    v_comment  text := alert_check_text(p_comment, 'comment', false);
    a          alerts := alert_lock_open(p_alert_id);
BEGIN
    IF v_assignee IS NULL AND a.assignee IS NULL THEN
        RAISE EXCEPTION 'alert % is not assigned: nothing to unassign', p_alert_id USING ERRCODE = '22023';
    END IF;
    UPDATE alerts
       SET assignee = v_assignee, assigned_by = CASE WHEN v_assignee IS NULL THEN NULL ELSE v_actor END,
           assigned_at = CASE WHEN v_assignee IS NULL THEN NULL ELSE now() END
     WHERE alert_id = p_alert_id;
    RETURN alert_event_add(a, v_actor, CASE WHEN v_assignee IS NULL THEN 'unassigned' ELSE 'assigned' END,
                           v_comment, jsonb_build_object('assignee', v_assignee, 'previous', a.assignee));
END
$$;

-- A manual resolution closes the alert now; the engine reopens it if its condition persists or returns within its
-- reopen window (ingestion/alerts.py).
CREATE FUNCTION resolve_alert(p_alert_id bigint, p_actor text, p_reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor  text := alert_check_name(p_actor, 'actor');
    v_reason text := alert_check_text(p_reason, 'reason', true);
    a        alerts := alert_lock_open(p_alert_id);
BEGIN
    UPDATE alerts SET closed_at = now(), resolved_by = v_actor, resolution = v_reason WHERE alert_id = p_alert_id;
    RETURN alert_event_add(a, v_actor, 'resolved', v_reason,
                           jsonb_build_object('value', a.value, 'threshold', a.threshold));
END
$$;

-- A maintenance window on one metric of a sensor (p_metric) or the whole sensor (p_metric NULL): from p_starts_at
-- (NULL = now; at most 30 days ahead) for p_duration (1 minute to 30 days). Returns the silence id.
CREATE FUNCTION create_silence(p_actor text, p_sensor_id text, p_metric text, p_duration interval, p_reason text,
                               p_starts_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor  text := alert_check_name(p_actor, 'actor');
    v_reason text := alert_check_text(p_reason, 'reason', true);
    v_metric text := nullif(trim(p_metric), '');
    v_start  timestamptz := coalesce(p_starts_at, now());
    v_id     bigint;
BEGIN
    IF p_sensor_id IS NULL OR NOT EXISTS (SELECT 1 FROM sensors WHERE sensor_id = p_sensor_id) THEN
        RAISE EXCEPTION 'unknown sensor %', p_sensor_id USING ERRCODE = 'P0002';
    END IF;
    IF v_metric IS NOT NULL AND NOT EXISTS (SELECT 1 FROM metrics WHERE metric = v_metric) THEN
        RAISE EXCEPTION 'unknown metric %', v_metric USING ERRCODE = 'P0002';
    END IF;
    IF p_duration IS NULL OR p_duration < interval '1 minute' OR p_duration > interval '30 days' THEN
        RAISE EXCEPTION 'duration must be between 1 minute and 30 days' USING ERRCODE = '22023';
    END IF;
    IF v_start < now() - interval '1 minute' OR v_start > now() + interval '30 days' THEN
        RAISE EXCEPTION 'a silence starts between now and 30 days ahead' USING ERRCODE = '22023';
    END IF;
    INSERT INTO alert_silences (sensor_id, metric, starts_at, ends_at, reason, created_by)
    VALUES (p_sensor_id, v_metric, v_start, v_start + p_duration, v_reason, v_actor)
    RETURNING silence_id INTO v_id;
    INSERT INTO alert_events (sensor_id, metric, actor, action, comment, details)
    VALUES (p_sensor_id, v_metric, v_actor, 'silenced', v_reason,
            jsonb_build_object('silence_id', v_id, 'starts_at', v_start, 'ends_at', v_start + p_duration));
    RETURN v_id;
END
$$;

-- Ends a silence now (or cancels one not started yet). Refused when it is already over (MA003).
CREATE FUNCTION lift_silence(p_silence_id bigint, p_actor text, p_comment text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor   text := alert_check_name(p_actor, 'actor');
    v_comment text := alert_check_text(p_comment, 'comment', false);
    s         alert_silences;
BEGIN
    IF p_silence_id IS NULL THEN
        RAISE EXCEPTION 'silence id is required' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO s FROM alert_silences WHERE silence_id = p_silence_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'silence % does not exist', p_silence_id USING ERRCODE = 'P0002';
    END IF;
    IF s.ends_at <= now() THEN
        RAISE EXCEPTION 'silence % is already over', p_silence_id USING ERRCODE = 'MA003';
    END IF;
    UPDATE alert_silences SET ends_at = greatest(starts_at, now()), lifted_at = now(), lifted_by = v_actor
     WHERE silence_id = p_silence_id;
    INSERT INTO alert_events (sensor_id, metric, actor, action, comment, details)
    VALUES (s.sensor_id, s.metric, v_actor, 'unsilenced', v_comment,
            jsonb_build_object('silence_id', s.silence_id, 'starts_at', s.starts_at, 'planned_ends_at', s.ends_at));
    RETURN s.silence_id;
END
$$;

-- ---- privileges ----------------------------------------------------------------------------------------------------
REVOKE ALL ON FUNCTION alert_check_name(text, text), alert_check_text(text, text, boolean), alert_lock_open(bigint),
    alert_event_add(alerts, text, text, text, jsonb), comment_alert(bigint, text, text),
    assign_alert(bigint, text, text, text), resolve_alert(bigint, text, text),
    create_silence(text, text, text, interval, text, timestamptz), lift_silence(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION comment_alert(bigint, text, text), assign_alert(bigint, text, text, text),
    resolve_alert(bigint, text, text), create_silence(text, text, text, interval, text, timestamptz),
    lift_silence(bigint, text, text) TO madinina_reader;
GRANT SELECT ON alert_events, alert_silences TO madinina_reader;
-- The engine (writer) appends events and reads silences; the notifier (writer) marks the outbox.
GRANT SELECT, INSERT ON alert_events TO madinina_writer;
GRANT SELECT ON alert_silences TO madinina_writer;
GRANT SELECT, INSERT, UPDATE ON alert_notifications TO madinina_writer;
