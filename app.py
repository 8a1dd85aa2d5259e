"""Madinina Monitor — entry point: page config, shared sidebar, navigation."""

import streamlit as st

from components.backfill_banner import render_backfill_banner
from components.errors import guarded
from components.i18n import t
from components.sidebar import render_sidebar

st.set_page_config(page_title="Madinina Monitor", page_icon="🌴", layout="wide")
# Streamlit's own hints under text fields ("Press Enter to apply", "Press Ctrl+Enter to submit form") exist in English
# only: hidden everywhere (every form has its submit button, every field applies on leaving it). Below 1,000 px
# (a tablet), rows of KPI cards wrap three to a line instead of squeezing five until their labels are cut; Streamlit
# itself stacks columns only under 640 px.
st.html(
    "<style>[data-testid='InputInstructions']{display:none}"
    "@media (max-width:1000px){[data-testid='stMain'] [data-testid='stHorizontalBlock']{flex-wrap:wrap}"
    "[data-testid='stMain'] [data-testid='stColumn']{min-width:calc(33% - 1rem)}}</style>"
)
with guarded():  # a failing sidebar must still leave the navigation below
    render_sidebar()

live = st.Page("pages/live.py", title=t("page.live"), icon=":material/monitoring:", url_path="live")


def home() -> None:
    """The app's root opens the Live page under its own address: Streamlit serves its default page at "/" only, so
    with Live as the default, /live (a bookmark, a shared link) would be "Page not found"."""
    st.switch_page(live, query_params={name: st.query_params.get_all(name) for name in st.query_params})


pages = [
    st.Page(home, title=t("page.live"), url_path="home", default=True, visibility="hidden"),
    live,
    st.Page("pages/trends.py", title=t("page.trends"), icon=":material/trending_up:", url_path="trends"),
    st.Page("pages/map.py", title=t("page.map"), icon=":material/map:", url_path="map"),
    st.Page("pages/sensor.py", title=t("page.sensor"), icon=":material/sensors:", url_path="sensor"),
    st.Page("pages/pipeline.py", title=t("page.pipeline"), icon=":material/lan:", url_path="pipeline"),
]
navigation = st.navigation(pages)
render_backfill_banner()  # on every page while history is being written
with guarded():  # the last resort: a short message with a correlation id, the trace in the server log
    navigation.run()
