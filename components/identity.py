"""Who is acting in the dashboard, and what they may do (DESIGN §9).

Interface shared by the alert workflow (which records the actor) and the login (which establishes it):
`current_actor()` is the only way page code learns who acts; no page takes a name from a text box.

This first version knows no login yet: every visitor is the unauthenticated demo operator, and
`unauthenticated_notice()` says so plainly wherever actions are offered. The OIDC login (`st.login`, `[auth]` in
secrets.toml) replaces the body of `current_actor()` without changing this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from components.i18n import t

Role = Literal["viewer", "operator"]


@dataclass(frozen=True)
class Actor:
    """`subject` is what the database records as the actor (stable: the login's email or subject, or "demo");
    `display` is what a person reads; `authenticated` is False for the embedded demo."""

    subject: str
    display: str
    role: Role
    authenticated: bool

    @property
    def can_act(self) -> bool:
        return self.role == "operator"


DEMO = Actor(subject="demo", display="demo", role="operator", authenticated=False)


def current_actor() -> Actor:
    return DEMO


def unauthenticated_notice() -> None:
    """Shown next to every action form when no login is configured."""
    actor = current_actor()
    if not actor.authenticated:
        st.caption(t("identity.unauthenticated"))
