"""Madinina Monitor — entry point: page config, shared sidebar, navigation."""

import streamlit as st

from components.backfill_banner import render_backfill_banner
from components.errors import guarded
from components.i18n import t
from components.sidebar import render_sidebar

st.set_page_config(page_title="Madinina Monitor", page_icon="🌴", layout="wide")
with guarded():  # a failing sidebar must still leave the navigation below
    render_sidebar()

pages = [
    st.Page("pages/live.py", title=t("page.live"), icon=":material/monitoring:", url_path="live", default=True),
    st.Page("pages/trends.py", title=t("page.trends"), icon=":material/trending_up:", url_path="trends"),
    st.Page("pages/map.py", title=t("page.map"), icon=":material/map:", url_path="map"),
    st.Page("pages/sensor.py", title=t("page.sensor"), icon=":material/sensors:", url_path="sensor"),
    st.Page("pages/pipeline.py", title=t("page.pipeline"), icon=":material/lan:", url_path="pipeline"),
]
navigation = st.navigation(pages)
render_backfill_banner()  # on every page while history is being written
with guarded():  # the last resort: a short message with a correlation id, the trace in the server log
    navigation.run()
