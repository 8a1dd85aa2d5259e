"""Engine creation and the one exception pages need to know about."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or refused the connection; pages show a banner, never a traceback."""


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """A pooled engine. The pool bounds the dashboard's connections whatever the number of browser sessions."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={
            "connect_timeout": 3,
            "application_name": "madinina-dashboard",
            # jit off: on these short queries JIT compilation costs more than the query itself (800 ms seen).
            "options": "-c timezone=UTC -c statement_timeout=15000 -c jit=off",
        },
    )
