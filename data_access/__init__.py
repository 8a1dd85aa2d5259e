"""Read side: engine creation and typed query functions returning DataFrames (no Streamlit here)."""
