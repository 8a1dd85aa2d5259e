"""The alert actions (DESIGN §9): acknowledge with a comment, comment, assign, resolve with a reason; silence a sensor
(or one of its metrics) for a chosen duration with a reason, lift a silence. Each is one call of a narrow SQL
function (data_access.alerts, migration 0010) that validates it, refuses a closed alert or another actor's
acknowledgement, and appends it to the alert history.

Who acts is `components.identity.current_actor()` and nothing else: there is no name box. Above the forms,
`identity.unauthenticated_notice()` says as whom an operator acts (without a login, the embedded demo: that actions
are unauthenticated); a viewer gets that note (why they cannot act) instead of the forms. The
forms live in a fragment that does not refresh by itself, so typing is never interrupted by the live refresh.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from components import identity
from components.alerts_feed import FEED_LIMIT, option_label
from components.data import engine, load
from components.errors import guard
from components.i18n import metric_label, t
from components.sensor_panels import fmt_duration, stamp
from components.sidebar import catalogue as sidebar_catalogue
from components.sidebar import lang_key
from components.text import md_escape, scrub_paths
from data_access import alerts
from data_access.engine import DatabaseUnavailable

ACTIONS = ("acknowledge", "comment", "assign", "resolve")
NEEDS_TEXT = ("comment", "resolve")  # the comment, the reason: required (the others take an optional comment)
# Offered silence lengths, all within create_silence()'s bounds (1 minute to 30 days).
DURATIONS = tuple(timedelta(hours=h) for h in (0.5, 1, 2, 4, 8, 24, 72, 168))
DEFAULT_DURATION = timedelta(hours=2)


@st.fragment
@guard
def alert_actions(sensor_ids: tuple[str, ...]) -> None:
    """The action forms for the alerts and sensors of `sensor_ids`, as the current actor may use them."""
    st.markdown(f"**{t('actions.title')}**")
    actor = identity.current_actor()
    identity.unauthenticated_notice()  # as whom the visitor acts (or, unauthenticated, the demo), or why they cannot
    if not actor.can_act:
        return
    flash = st.session_state.pop("actions_flash", None)
    if flash:
        kind, text = flash
        (st.success if kind == "ok" else st.error)(text, icon=":material/task_alt:" if kind == "ok" else None)
    on_alert, on_silence = st.tabs([t("actions.tab.alert"), t("actions.tab.silence")])
    with on_alert:
        _alert_form(actor, sensor_ids)
    with on_silence:
        _silence_form(actor, sensor_ids)
        _lift_form(actor, sensor_ids)
    st.button(t("actions.reload"), icon=":material/refresh:", key="actions_reload", type="tertiary")


def _done() -> int:
    """Bumped after each success: the forms come back empty (their widget keys change)."""
    return st.session_state.get("actions_done", 0)


def _run(call, success: str) -> None:
    """Make the call; a refusal or an outage is said under the form, a success above it after a full rerun (the
    feed, the counts and the history must show it at once)."""
    try:
        result = call()
    except alerts.ActionRefused as exc:
        st.error(t(f"actions.refused.{exc.reason}", detail=md_escape(exc.detail, 300)))
        return
    except DatabaseUnavailable as exc:
        st.error(t("actions.db_down", detail=md_escape(scrub_paths(exc)[:300])))
        return
    if result is False:  # acknowledge_alert(): no such alert any more
        st.session_state["actions_flash"] = ("error", t("actions.refused.not_found", detail=""))
    else:
        st.session_state["actions_flash"] = ("ok", success)
        st.session_state["actions_done"] = _done() + 1
    st.cache_data.clear()
    st.rerun(scope="app")


def _alert_form(actor: identity.Actor, sensor_ids: tuple[str, ...]) -> None:
    feed = load(alerts.feed, sensor_ids=sensor_ids, limit=FEED_LIMIT)
    open_rows = feed[feed["is_open"]] if not feed.empty else feed
    if open_rows.empty:
        st.caption(t("actions.nothing"))
        return
    action = st.segmented_control(
        t("actions.action"),
        ACTIONS,
        format_func=lambda a: t(f"actions.{a}"),
        default="acknowledge",
        required=True,
        key=lang_key("alert_action"),
    )
    action = action or "acknowledge"
    labels = {int(r.alert_id): option_label(r) for r in open_rows.itertuples()}
    done = _done()
    with st.form(f"alert_form_{action}_{done}", border=True):
        alert_id = st.selectbox(
            t("actions.alert"), list(labels), format_func=labels.get, key=lang_key(f"action_alert_{done}")
        )
        assignee = None
        if action == "assign":
            assignee = st.text_input(
                t("actions.assignee"),
                max_chars=alerts.MAX_NAME,
                help=t("actions.assignee_help"),
                key=f"action_assignee_{done}",
            )
        text = st.text_area(
            t(f"actions.text.{action}"), max_chars=alerts.MAX_TEXT, key=f"action_text_{action}_{done}", height=80
        )
        submitted = st.form_submit_button(t(f"actions.submit.{action}"), type="primary")
    if not submitted:
        return
    text = (text or "").strip() or None
    if action in NEEDS_TEXT and not text:
        st.error(t(f"actions.need_text.{action}"))
        return
    who, db = actor.subject, engine()
    calls = {
        "acknowledge": lambda: alerts.acknowledge(db, alert_id=alert_id, actor=who, comment=text),
        "comment": lambda: alerts.comment(db, alert_id=alert_id, actor=who, comment=text),
        "assign": lambda: alerts.assign(db, alert_id=alert_id, actor=who, assignee=assignee, comment=text),
        "resolve": lambda: alerts.resolve(db, alert_id=alert_id, actor=who, reason=text),
    }
    done_key = "unassign" if action == "assign" and not (assignee or "").strip() else action
    _run(calls[action], t(f"actions.done.{done_key}", id=alert_id, actor=md_escape(actor.display)))


def _silence_form(actor: identity.Actor, sensor_ids: tuple[str, ...]) -> None:
    catalogue, metrics = sidebar_catalogue()
    mine = catalogue[catalogue["sensor_id"].isin(list(sensor_ids))].set_index("sensor_id")
    if mine.empty:
        return
    metrics = metrics.set_index("metric")
    st.caption(t("silence.explain"))
    sensor = st.selectbox(
        t("silence.sensor"), list(mine.index), format_func=lambda s: mine.loc[s, "name"], key="silence_sensor"
    )
    sensor = sensor if sensor in mine.index else mine.index[0]
    choices = ["", *(m for m in mine.loc[sensor, "metrics"] if m in metrics.index)]
    done = _done()
    with st.form(f"silence_form_{done}", border=True):
        metric = st.selectbox(
            t("silence.metric"),
            choices,
            format_func=lambda m: metric_label(metrics.loc[m]) if m else t("silence.whole_sensor"),
            key=lang_key(f"silence_metric_{sensor}_{done}"),
        )
        duration = st.selectbox(
            t("silence.duration"),
            DURATIONS,
            index=DURATIONS.index(DEFAULT_DURATION),
            format_func=lambda d: fmt_duration(d.total_seconds()),
            key=lang_key(f"silence_duration_{done}"),
        )
        reason = st.text_area(t("silence.reason"), max_chars=alerts.MAX_TEXT, key=f"silence_reason_{done}", height=80)
        submitted = st.form_submit_button(t("silence.submit"), type="primary", icon=":material/notifications_off:")
    if not submitted:
        return
    if not (reason or "").strip():
        st.error(t("silence.need_reason"))
        return
    _run(
        lambda: alerts.silence(
            engine(), actor=actor.subject, sensor_id=sensor, metric=metric or None, duration=duration, reason=reason
        ),
        t("silence.done", name=md_escape(mine.loc[sensor, "name"]), d=fmt_duration(duration.total_seconds())),
    )


def _lift_form(actor: identity.Actor, sensor_ids: tuple[str, ...]) -> None:
    current = load(alerts.silences, sensor_ids=sensor_ids)
    if current.empty:
        st.caption(t("silence.none"))
        return
    labels = {
        int(r.silence_id): f"#{r.silence_id} · {r.sensor_name or r.sensor_id} · "
        f"{metric_label({'label_fr': r.label_fr, 'label_en': r.label_en}) if r.metric else t('silence.whole_sensor')}"
        f" · {t('silence.until', end=stamp(r.ends_at))}"
        for r in current.itertuples()
    }
    done = _done()
    with st.form(f"lift_form_{done}", border=True):
        silence_id = st.selectbox(t("silence.which"), list(labels), format_func=labels.get, key=f"lift_which_{done}")
        comment = st.text_input(t("silence.lift_comment"), max_chars=alerts.MAX_TEXT, key=f"lift_comment_{done}")
        submitted = st.form_submit_button(t("silence.lift"), icon=":material/notifications_active:")
    if submitted:
        _run(
            lambda: alerts.lift_silence(engine(), silence_id=silence_id, actor=actor.subject, comment=comment or None),
            t("silence.lifted", id=silence_id),
        )
