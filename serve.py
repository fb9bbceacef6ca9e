"""Server entry (`streamlit run serve.py`): serves app.py and opens the live index as the server starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

from assistant.config import load_settings
from assistant.errors import ConfigError
from assistant.web.preload import preload


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Start opening and warming the index in a background thread; the server does not wait for it."""
    try:
        settings = load_settings()
    except ConfigError as err:  # the server still starts: app.py shows the error to every visitor
        logging.getLogger("assistant.web.preload").warning("未预先打开索引：%s", err)
    else:
        preload(settings)
    yield


app = st.App("app.py", lifespan=lifespan)
