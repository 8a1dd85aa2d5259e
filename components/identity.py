"""Who is acting in the dashboard, and what they may do (DESIGN §9).

Interface shared by the alert workflow (which records the actor) and the login (which establishes it):
`current_actor()` is the only way page code learns who acts; no page takes a name from a text box. Next to every
action form, `unauthenticated_notice()` says in what capacity the visitor acts (or why they cannot).

The mode comes from the secrets (`.streamlit/secrets.toml`, or the files named by Streamlit's `secrets.files`):
- no secrets, or no `[auth]` section: the **embedded demo**. Every visitor is the unauthenticated demo operator,
  and the sidebar and the action forms say plainly that actions are unauthenticated.
- `[auth]`: Streamlit's built-in OIDC login (`st.login`, Authlib; Keycloak in production). A visitor who is not
  logged in is a viewer: reads everything, acts on nothing. A logged-in user is an operator when a claim of their ID
  token holds an operator role (`[madinina.roles] claim`, e.g. Keycloak's `realm_access.roles`) or when their
  verified e-mail or their subject is on the allow-list (`[madinina.roles] operators`); otherwise a viewer.
  Streamlit keeps the ID token's claims in a signed cookie for 30 days and never re-checks them, so a login older
  than `session_hours` (default 12) counts as logged out: a revoked operator role lasts at most that long.
- secrets that exist but cannot be read, or an invalid `[madinina.roles]`: nobody acts (fail closed) and the
  sidebar says why; the details go to the server log only.

The recorded identity (`Actor.subject`) is the verified e-mail (lower-cased: people read the history), else the
token's `sub`; `display` is the name a person reads. Both come from the identity provider and are shown as text.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import streamlit as st
from streamlit.errors import StreamlitAuthError

from components import clock
from components.i18n import t
from components.text import clip, md_escape
from data_access.alerts import MAX_NAME

log = logging.getLogger(__name__)

Role = Literal["viewer", "operator"]
State = Literal["demo", "anonymous", "expired", "signed_in", "no_identity", "broken"]
MAX_SUBJECT = MAX_NAME  # what the alert functions accept as an actor
MAX_DISPLAY = 100
_SUBJECT = re.compile(r"[\x21-\x7e]+")  # an OIDC `sub`: printable ASCII, no space
_WORDS = re.compile(r"[\s,]+")
_CLOCK_SKEW_S = 300
RESERVED_SUBJECTS = ("demo", "system")  # the embedded demo's actor; the alerts engine's, in alert_events


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
        return self.role == "operator" and bool(self.subject)


DEMO = Actor(subject="demo", display="demo", role="operator", authenticated=False)
NOBODY = Actor(subject="", display="", role="viewer", authenticated=False)


class RolesConfigError(ValueError):
    """`[madinina.roles]` is not what the documentation says; the message names the key."""


@dataclass(frozen=True)
class RoleRules:
    """`[madinina.roles]` of the secrets. An operator is a logged-in user whose `claim` (a claim name, or a dotted
    path into nested claims) holds one of `operator_roles`, or whose verified e-mail or subject is in `operators`."""

    claim: str = "roles"
    operator_roles: frozenset[str] = frozenset({"operator"})
    operators: frozenset[str] = field(default_factory=frozenset)
    session_hours: float = 12.0  # 0 = as long as Streamlit's cookie (30 days)


@dataclass(frozen=True)
class Session:
    actor: Actor
    state: State


def _strings(value: object, key: str) -> frozenset[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise RolesConfigError(f"[madinina.roles] {key}: a string or a list of strings")
    return frozenset(item.strip() for item in items if item.strip())


def rules_from(section: object) -> RoleRules:
    """RoleRules from the `[madinina.roles]` table (None or absent = the defaults). Unknown keys are refused: a
    misspelt `operators` must not silently leave nobody (or everybody) an operator."""
    if section is None:
        return RoleRules()
    if not isinstance(section, Mapping):
        raise RolesConfigError("[madinina.roles] must be a table")
    unknown = set(section) - {"claim", "operator_roles", "operators", "session_hours"}
    if unknown:
        raise RolesConfigError(f"[madinina.roles] unknown keys: {sorted(map(str, unknown))}")
    claim = section.get("claim", RoleRules.claim)
    if not isinstance(claim, str) or not claim.strip():
        raise RolesConfigError("[madinina.roles] claim: a non-empty string")
    hours = section.get("session_hours", RoleRules.session_hours)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours < math.inf:
        raise RolesConfigError("[madinina.roles] session_hours: a number of hours, 0 or more")
    return RoleRules(
        claim=claim.strip(),
        operator_roles=_strings(section.get("operator_roles", ["operator"]), "operator_roles"),
        operators=_strings(section.get("operators", []), "operators"),
        session_hours=float(hours),
    )


_MISSING = object()


def claim_values(claims: Mapping, path: str) -> frozenset[str]:
    """The strings a claim holds. The claim named `path` itself if there is one (namespaced claim names contain
    dots), else the dotted path through nested objects (Keycloak: `realm_access.roles`). A list gives its string
    members, a string its words (space- or comma-separated); anything else (numbers, booleans, objects, nested
    lists, null) gives nothing. Values are compared exactly: no case folding, no prefix matching."""
    value = claims.get(path, _MISSING)
    if value is _MISSING:
        value = claims
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return frozenset()
            value = value[part]
    if isinstance(value, str):
        items = _WORDS.split(value)
    elif isinstance(value, list | tuple):
        items = [item for item in value if isinstance(item, str)]
    else:
        return frozenset()
    return frozenset(item for item in items if item)


def verified_email(claims: Mapping) -> str | None:
    """The e-mail, lower-cased, only when the provider says it is verified (`email_verified` true): an address
    someone merely typed into their profile must not match the allow-list or name them in the history."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if verified is not True and not (isinstance(verified, str) and verified.strip().lower() == "true"):
        return None
    if not isinstance(email, str):
        return None
    email = email.strip().lower()
    ok = 3 <= len(email) <= MAX_SUBJECT and "@" in email and email.isprintable() and not any(c.isspace() for c in email)
    return email if ok else None


def _subject(claims: Mapping) -> str | None:
    """The token's `sub`, unless it could be mistaken for the demo actor or the alerts engine in the history."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or len(sub) > MAX_SUBJECT or not _SUBJECT.fullmatch(sub):
        return None
    return None if sub.lower() in RESERVED_SUBJECTS else sub


def _display(claims: Mapping) -> str:
    for key in ("name", "preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return clip(" ".join(value.split()), MAX_DISPLAY)
    return ""


def _expired(claims: Mapping, rules: RoleRules, now: datetime) -> bool:
    """The login is older than session_hours, judged by the ID token's `iat` (when its claims, roles included, were
    issued); a missing or absurd `iat` counts as expired."""
    if rules.session_hours <= 0:
        return False
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float) or not math.isfinite(issued):
        return True
    age = now.timestamp() - issued
    return age > rules.session_hours * 3600 or age < -_CLOCK_SKEW_S


def resolve(claims: Mapping, rules: RoleRules, now: datetime) -> Session:
    """The session of a visitor, from what Streamlit knows of them (`st.user`: the ID token's claims plus
    `is_logged_in`), when the login is configured."""
    if claims.get("is_logged_in") is not True:
        return Session(NOBODY, "anonymous")
    if _expired(claims, rules, now):
        return Session(NOBODY, "expired")
    email, sub = verified_email(claims), _subject(claims)
    subject = email or sub
    if subject is None:
        return Session(Actor("", _display(claims), "viewer", True), "no_identity")
    listed = any((entry.lower() == email) if "@" in entry else (entry == sub) for entry in rules.operators)
    holds_role = bool(claim_values(claims, rules.claim) & rules.operator_roles)
    role: Role = "operator" if listed or holds_role else "viewer"
    return Session(Actor(subject, _display(claims) or subject, role, True), "signed_in")


# -- Streamlit ----------------------------------------------------------------------------------------------------
def _secrets() -> tuple[Mapping | None, object] | None:
    """([auth] or None, [madinina.roles] or None); None when secrets exist but cannot be read."""
    try:
        auth = st.secrets.get("auth")
        madinina = st.secrets.get("madinina")
    except FileNotFoundError as exc:  # Streamlit's StreamlitSecretNotFoundError: none at all, or unreadable
        if getattr(exc, "error_id", None) == "no-secrets-found":
            return None, None
        log.error("identity: secrets cannot be read, nobody may act: %s", exc)
        return None
    roles = madinina.get("roles") if isinstance(madinina, Mapping) else None
    return (auth if isinstance(auth, Mapping) and auth else None), roles


def _session() -> Session:
    secrets = _secrets()
    if secrets is None:
        return Session(NOBODY, "broken")
    auth, roles = secrets
    if auth is None:
        return Session(DEMO, "demo")
    try:
        rules = rules_from(roles)
    except RolesConfigError as exc:
        log.error("identity: %s; nobody may act", exc)
        return Session(NOBODY, "broken")
    return resolve(st.user.to_dict(), rules, clock.now())


def current_actor() -> Actor:
    return _session().actor


def unauthenticated_notice() -> None:
    """Shown next to every action form: in the demo, that actions are unauthenticated; with the login, as whom an
    operator acts, or why a visitor cannot act. Derived from current_actor() alone, so the two always agree."""
    actor = current_actor()
    if actor.can_act:
        if actor.authenticated:
            st.caption(t("identity.acting_as", name=md_escape(actor.display), subject=md_escape(actor.subject)))
        else:
            st.caption(t("identity.unauthenticated"))
    else:
        st.caption(t("identity.viewer_notice" if actor.authenticated else "identity.login_to_act"))


def _provider(auth: Mapping) -> str | None:
    """The provider st.login() should use: the unnamed one when [auth] holds client_id, else the first
    [auth.NAME] table that does."""
    if "client_id" in auth:
        return None
    return next((name for name, value in auth.items() if isinstance(value, Mapping) and "client_id" in value), None)


def _log_in() -> None:
    """on_click of the login button. A callback, not `if st.button(...)`: with st.navigation (Streamlit 1.67), the
    first click after a page load reaches the script as a page change, which resets button values (the click is
    lost) but still runs callbacks."""
    auth = (_secrets() or (None, None))[0] or {}
    try:
        st.login(_provider(auth))
    except StreamlitAuthError as exc:  # [auth] incomplete, Authlib missing: said in the sidebar, detailed in the log
        log.error("identity: st.login refused: %s", exc)
        st.session_state["identity_login_failed"] = True


def login_controls() -> None:
    """The sidebar's login block (inside `with st.sidebar`): who is logged in and their role, log in / log out;
    in the demo, that actions are unauthenticated."""
    session = _session()
    actor = session.actor
    if session.state == "demo":
        st.caption(t("identity.demo_sidebar"))
        return
    if session.state == "broken":
        st.error(t("identity.broken"), icon=":material/lock:")
        return
    if session.state in ("signed_in", "no_identity"):
        role = "operator" if actor.can_act else "viewer"
        st.markdown(t("identity.signed_in", name=md_escape(actor.display or "—")))
        st.caption(t(f"identity.role.{role}" if session.state == "signed_in" else "identity.no_identity"))
        st.button(t("identity.logout"), key="identity_logout", icon=":material/logout:", on_click=st.logout)
        return
    st.caption(t("identity.expired" if session.state == "expired" else "identity.anonymous"))
    st.button(t("identity.login"), key="identity_login", icon=":material/login:", type="primary", on_click=_log_in)
    if st.session_state.pop("identity_login_failed", False):
        st.error(t("identity.login_failed"))
