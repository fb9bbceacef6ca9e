"""Streamlit-free helpers of the app: texts, uploads, background rebuilds."""
