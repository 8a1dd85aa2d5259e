"""The live alert feed and its acknowledgement form.

The feed (a table) is drawn inside the page's auto-refreshing fragment. The form lives in its own fragment that
does not refresh by itself, so typing a comment is never interrupted by a refresh; it lists the open alerts not
yet acknowledged, and the acknowledgement goes through `data_access.alerts.acknowledge` — the dashboard's only
write, a SECURITY DEFINER function callable by the read-only role.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import SEVERITY_BACKGROUNDS
from components.data import engine, load
from components.errors import guard
from components.formatting import fmt_number, fmt_time
from components.i18n import lang, t
from components.identity import current_actor, unauthenticated_notice
from components.names import place
from components.sidebar import lang_key
from components.text import md_escape, scrub_paths
from data_access import alerts
from data_access.engine import DatabaseUnavailable

FEED_LIMIT = 50


def _metric_label(row) -> str:
    if row.metric is None or pd.isna(row.metric):
        return "—"
    label = row.label_fr if lang() == "fr" else row.label_en
    return label if isinstance(label, str) else row.metric


def feed_table(sensor_ids: tuple[str, ...]) -> None:
    """The feed as a table (open first, most severe first), with a caption of the open counts."""
    st.subheader(t("alerts.title"))
    feed = load(alerts.feed, sensor_ids=sensor_ids, limit=FEED_LIMIT)
    if feed.empty:
        st.info(t("alerts.none"), icon=":material/notifications_off:")
        return
    open_rows = feed[feed["is_open"]]
    st.caption(t("alerts.caption", open=len(open_rows), unack=int(open_rows["acknowledged_at"].isna().sum())))
    decimals = 1
    unit = feed["unit"].where(feed["unit"].notna(), "")
    table = pd.DataFrame(
        {
            t("alerts.col.severity"): [t(f"severity.{s}") for s in feed["severity"]],
            t("alerts.col.state"): [
                t("alerts.state.open") if o else t("alerts.state.closed", time=fmt_time(c, lang()))
                for o, c in zip(feed["is_open"], feed["closed_at"], strict=True)
            ],
            t("alerts.col.opened"): [fmt_time(v, lang(), with_date=True) for v in feed["opened_at"]],
            t("col.sensor"): [_short_name(r) for r in feed.itertuples()],
            t("alerts.col.alert"): [
                f"{t(f'alerts.kind.{r.kind}')} · {_metric_label(r)}"
                if isinstance(r.metric, str)
                else t(f"alerts.kind.{r.kind}")
                for r in feed.itertuples()
            ],  # fmt: skip
            t("alerts.col.value"): [
                "—"
                if pd.isna(v)
                else f"{fmt_number(float(v), lang(), decimals)} {u}".strip()
                + ("" if pd.isna(th) else f" ({t('alerts.threshold_short')} {fmt_number(float(th), lang(), decimals)})")
                for v, th, u in zip(feed["value"], feed["threshold"], unit, strict=True)
            ],
            t("alerts.col.ack"): [
                ""
                if pd.isna(at)
                else f"✔ {by} · {fmt_time(at, lang(), with_date=True)}" + (f" — {c}" if isinstance(c, str) else "")
                for at, by, c in zip(feed["acknowledged_at"], feed["acknowledged_by"], feed["ack_comment"], strict=True)
            ],
            t("alerts.col.message"): feed["message"],
            "#": feed["alert_id"],
        }
    )
    backgrounds = [f"background-color: {SEVERITY_BACKGROUNDS[s]}" for s in feed["severity"]]
    styled = table.style.apply(lambda _: backgrounds, subset=[t("alerts.col.severity")], axis=0)
    st.dataframe(styled, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)))


def _short_name(row) -> str:
    """'Qualité de l'air – Fort-de-France Bishop' -> 'Fort-de-France Bishop' (the kind is in the alert column)."""
    return place(row.sensor_name, row.sensor_id)


def _option_label(row) -> str:
    return (
        f"#{row.alert_id} · {t(f'severity.{row.severity}')} · "
        f"{_short_name(row)} · {_metric_label(row)} · "
        f"{fmt_time(row.opened_at, lang(), with_date=True)}"
    )


@st.fragment
@guard
def acknowledge_form(sensor_ids: tuple[str, ...]) -> None:
    """Pick an open, unacknowledged alert; give a name and a comment; acknowledge. Success or error is shown."""
    st.markdown(f"**{t('ack.title')}**")
    actor = current_actor()
    if actor.authenticated or not actor.can_act:  # with the login, the logged-in operator acts, nobody else
        unauthenticated_notice()
        if not actor.can_act:
            return
    flash = st.session_state.pop("ack_flash", None)
    if flash:
        kind, text = flash
        (st.success if kind == "ok" else st.error)(text, icon=":material/task_alt:" if kind == "ok" else None)
    feed = load(alerts.feed, sensor_ids=sensor_ids, limit=FEED_LIMIT)
    pending = feed[feed["is_open"] & feed["acknowledged_at"].isna()] if not feed.empty else feed
    if pending.empty:
        st.caption(t("ack.nothing"))
        return
    labels = {int(r.alert_id): _option_label(r) for r in pending.itertuples()}
    done = st.session_state.get("ack_done", 0)  # bumped after each success: fresh fields, the name kept
    with st.form(f"ack_form_{done}", clear_on_submit=False, border=True):
        alert_id = st.selectbox(t("ack.alert"), list(labels), format_func=labels.get, key=lang_key(f"ack_alert_{done}"))
        if actor.authenticated:
            by = actor.subject
        else:  # the embedded demo (the alert workflow replaces this box with the demo actor)
            by = st.text_input(
                t("ack.by"), value=st.session_state.get("ack_name", ""), max_chars=alerts.MAX_BY, key=f"ack_by_{done}"
            )
        comment = st.text_area(
            t("ack.comment"),
            max_chars=alerts.MAX_COMMENT,
            key=f"ack_comment_{done}",
            help=t("ack.comment_help"),
            height=80,
        )
        submitted = st.form_submit_button(t("ack.submit"), type="primary", icon=":material/done_all:")
    st.button(t("ack.reload"), icon=":material/refresh:", key="ack_reload", type="tertiary")
    if not submitted:
        return
    if not (by or "").strip():
        st.error(t("ack.need_name"))
        return
    try:
        found = alerts.acknowledge(engine(), alert_id=alert_id, by=by, comment=comment)
    except alerts.AcknowledgeError as exc:
        st.error(t("ack.refused", detail=md_escape(exc)))
        return
    except DatabaseUnavailable as exc:
        st.error(t("ack.db_down", detail=md_escape(scrub_paths(exc)[:300])))
        return
    if not found:
        st.session_state["ack_flash"] = ("error", t("ack.missing", id=alert_id))
    else:
        st.session_state["ack_flash"] = ("ok", t("ack.done", id=alert_id, by=md_escape(by.strip())))
        st.session_state["ack_name"] = by.strip()
        st.session_state["ack_done"] = done + 1
    st.cache_data.clear()  # the feed and the counts must show the acknowledgement at once
    st.rerun(scope="app")
