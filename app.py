"""Madinina Monitor — entry point: page config, shared sidebar, navigation."""

import streamlit as st

from components.i18n import t
from components.sidebar import render_sidebar

st.set_page_config(page_title="Madinina Monitor", page_icon="🌴", layout="wide")
render_sidebar()

pages = [
    st.Page("pages/live.py", title=t("page.live"), icon=":material/monitoring:", url_path="live", default=True),
]
st.navigation(pages).run()
