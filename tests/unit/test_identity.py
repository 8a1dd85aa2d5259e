"""Role resolution of components.identity (DESIGN §9): who is an operator, from an ID token's claims (Keycloak's
nested realm roles, flat roles/groups, namespaced claim names) or from the allow-list; what is recorded as the actor;
logins too old; the [madinina.roles] settings; hostile and malformed claims (property-tested: never an exception,
never an operator unless the rules say so, identities bounded and printable)."""

from __future__ import annotations

import math
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import identity
from components.identity import NOBODY, RoleRules, RolesConfigError, claim_values, resolve, rules_from

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
ISSUED = NOW.timestamp() - 600  # logged in 10 minutes ago
KEYCLOAK = RoleRules(claim="realm_access.roles", operator_roles=frozenset({"madinina-operator"}))


def user(**claims) -> dict:
    """What st.user holds after a login: the ID token's claims plus is_logged_in."""
    base = {"is_logged_in": True, "sub": "f3b1c2d4-0000-4000-8000-000000000001", "iat": ISSUED}
    base.update(claims)
    return {k: v for k, v in base.items() if v is not ...}


# -- settings -------------------------------------------------------------------------------------------------------
def test_rules_defaults_and_shapes():
    assert rules_from(None) == RoleRules(claim="roles", operator_roles=frozenset({"operator"}), session_hours=12.0)
    rules = rules_from(
        {"claim": " groups ", "operator_roles": "/madinina/operators", "operators": ["a@x.org", " sub-1 ", ""]}
    )
    assert rules.claim == "groups" and rules.operator_roles == {"/madinina/operators"}
    assert rules.operators == {"a@x.org", "sub-1"}
    assert rules_from({"session_hours": 0}).session_hours == 0.0


@pytest.mark.parametrize(
    "section",
    [
        {"operator": ["a@x.org"]},  # misspelt: refused, not silently ignored
        {"claim": ""},
        {"claim": 3},
        {"operator_roles": [1, 2]},
        {"operators": {"a": 1}},
        {"session_hours": -1},
        {"session_hours": True},
        {"session_hours": math.inf},
        {"session_hours": "12"},
        ["claim"],
    ],
)
def test_invalid_settings_are_refused(section):
    with pytest.raises(RolesConfigError):
        rules_from(section)


# -- claims ---------------------------------------------------------------------------------------------------------
def test_claim_values_shapes():
    keycloak = {"realm_access": {"roles": ["offline_access", "madinina-operator"]}}
    assert claim_values(keycloak, "realm_access.roles") == {"offline_access", "madinina-operator"}
    client_roles = {"resource_access": {"madinina-dashboard": {"roles": ["operator"]}}}
    assert claim_values(client_roles, "resource_access.madinina-dashboard.roles") == {"operator"}
    assert claim_values({"https://madinina.example/roles": ["operator"]}, "https://madinina.example/roles") == {
        "operator"
    }  # a namespaced claim name with dots is looked up whole first
    assert claim_values({"roles": "viewer operator,auditor"}, "roles") == {"viewer", "operator", "auditor"}
    assert claim_values({"groups": ["/madinina/operators", 7, None, ["operator"], {"x": 1}]}, "groups") == {
        "/madinina/operators"
    }


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"roles": None},
        {"roles": 1},
        {"roles": True},
        {"roles": {"operator": True}},
        {"roles": [["operator"]]},
        {"realm_access": ["roles", "operator"]},
        {"realm_access": "operator"},
        {"realm_access": {"roles": None}},
    ],
)
def test_claims_of_other_shapes_give_nothing(claims):
    path = "realm_access.roles" if "realm_access" in claims else "roles"
    assert claim_values(claims, path) == frozenset()


# -- roles ----------------------------------------------------------------------------------------------------------
def test_not_logged_in_is_a_reader_who_cannot_act():
    for claims in ({}, {"is_logged_in": False}, {"is_logged_in": "true"}, {"email": "test@example.com"}):
        session = resolve(claims, RoleRules(), NOW)
        assert session == identity.Session(NOBODY, "anonymous") and not session.actor.can_act


def test_operator_by_keycloak_realm_role():
    claims = user(
        email="Marie@Madinina.example",
        email_verified=True,
        name="Marie-Josée Opératrice",
        realm_access={"roles": ["default-roles-madinina", "madinina-operator"]},
    )
    session = resolve(claims, KEYCLOAK, NOW)
    assert session.state == "signed_in"
    assert session.actor == identity.Actor("marie@madinina.example", "Marie-Josée Opératrice", "operator", True)
    assert session.actor.can_act


@pytest.mark.parametrize(
    "roles",
    [
        ["default-roles-madinina"],
        ["Madinina-Operator"],  # roles are compared exactly
        ["madinina-operators"],
        ["madinina-operator "],
        ["madinina-operator\u200b"],
        "madinina-operator-trainee",
        [],
    ],
)
def test_viewer_when_the_claim_lacks_the_role(roles):
    session = resolve(user(realm_access={"roles": roles}), KEYCLOAK, NOW)
    assert session.state == "signed_in" and session.actor.role == "viewer" and not session.actor.can_act


def test_the_role_is_read_from_the_configured_claim_only():
    claims = user(roles=["madinina-operator"], groups=["madinina-operator"])  # not realm_access.roles
    assert resolve(claims, KEYCLOAK, NOW).actor.role == "viewer"
    assert resolve(
        claims, RoleRules(claim="groups", operator_roles=frozenset({"madinina-operator"})), NOW
    ).actor.can_act


def test_allow_list_by_verified_email_or_subject():
    rules = RoleRules(operators=frozenset({"Chef.Quart@Madinina.example", "sub-42"}))
    listed = resolve(user(email="chef.quart@madinina.example", email_verified=True), rules, NOW)
    assert listed.actor.can_act and listed.actor.subject == "chef.quart@madinina.example"
    by_sub = resolve(user(sub="sub-42"), rules, NOW)
    assert by_sub.actor.can_act and by_sub.actor.subject == "sub-42"
    as_string = resolve(user(email="chef.quart@madinina.example", email_verified="true"), rules, NOW)
    assert as_string.actor.can_act  # some providers send the flag as a string


@pytest.mark.parametrize("verified", [..., False, "false", 1, "yes", None])
def test_an_unverified_email_neither_matches_the_allow_list_nor_names_the_actor(verified):
    rules = RoleRules(operators=frozenset({"chef.quart@madinina.example"}))
    session = resolve(user(email="chef.quart@madinina.example", email_verified=verified, sub="u-7"), rules, NOW)
    assert session.actor.role == "viewer" and session.actor.subject == "u-7"


def test_a_subject_that_looks_like_an_email_is_not_an_email():
    rules = RoleRules(operators=frozenset({"chef.quart@madinina.example"}))
    assert not resolve(user(sub="chef.quart@madinina.example"), rules, NOW).actor.can_act


def test_without_a_usable_identity_nobody_acts_whatever_the_roles():
    for sub in (..., "", "has space", "x" * 101, "é", 12, None, "demo", "System"):  # the last two: reserved
        claims = user(sub=sub, name="N", roles=["operator"], email="n@x.org", email_verified=False)
        session = resolve(claims, RoleRules(), NOW)
        assert session.state == "no_identity" and not session.actor.can_act
        assert session.actor.display == "N"


def test_display_name_order_and_bounds():
    assert resolve(user(name="  Léa   Lectrice ", preferred_username="lea"), RoleRules(), NOW).actor.display == (
        "Léa Lectrice"
    )
    assert resolve(user(preferred_username="lea"), RoleRules(), NOW).actor.display == "lea"
    assert resolve(user(email="l@x.org"), RoleRules(), NOW).actor.display == "l@x.org"
    assert resolve(user(), RoleRules(), NOW).actor.display == "f3b1c2d4-0000-4000-8000-000000000001"
    hostile = resolve(user(name="[x](https://evil.example)\x00\n" + "a" * 500), RoleRules(), NOW).actor.display
    assert len(hostile) == identity.MAX_DISPLAY and "\x00" not in hostile  # escaped at render (md_escape)


def test_long_or_odd_emails_fall_back_to_the_subject():
    for email in ("a" * 95 + "@x.org", "a b@x.org", "a@x\n.org", "no-at-sign", ""):
        session = resolve(user(email=email, email_verified=True, sub="s-1"), RoleRules(), NOW)
        assert session.actor.subject == "s-1", email


@pytest.mark.parametrize(
    ("iat", "hours", "state"),
    [
        (NOW.timestamp() - 11.9 * 3600, 12, "signed_in"),
        (NOW.timestamp() - 12.1 * 3600, 12, "expired"),
        (NOW.timestamp() - 90 * 86400, 0, "signed_in"),  # 0: no limit but Streamlit's cookie
        (NOW.timestamp() + 60, 12, "signed_in"),  # clock skew
        (NOW.timestamp() + 3600, 12, "expired"),  # from the future: absurd
        (..., 12, "expired"),  # missing
        ("1700000000", 12, "expired"),
        (True, 12, "expired"),
        (math.nan, 12, "expired"),
    ],
)
def test_logins_older_than_session_hours_count_as_logged_out(iat, hours, state):
    rules = RoleRules(operators=frozenset({"op-1"}), session_hours=hours)
    session = resolve(user(sub="op-1", iat=iat), rules, NOW)
    assert session.state == state
    assert session.actor.can_act == (state == "signed_in")


# -- hostile claims (property-based) ------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
CLAIM_NAMES = st.sampled_from(
    ["sub", "email", "email_verified", "name", "preferred_username", "iat", "roles", "groups"]
)


@given(st.dictionaries(CLAIM_NAMES | st.text(max_size=10), JSON, max_size=8), st.booleans())
def test_arbitrary_claims_never_raise_and_stay_bounded(claims, logged_in):
    claims = {**claims, "is_logged_in": logged_in}
    session = resolve(claims, RoleRules(operators=frozenset({"x@y.org"})), NOW)
    actor = session.actor
    assert len(actor.subject) <= identity.MAX_SUBJECT and len(actor.display) <= identity.MAX_DISPLAY
    assert actor.subject == actor.subject.strip() and all(c.isprintable() for c in actor.subject)
    assert all(c.isprintable() for c in actor.display)
    if not logged_in:
        assert actor == NOBODY


ROLE_NAMES = st.sampled_from(["operator", "Operator", "operators", "viewer", " operator", "op"]) | st.text(max_size=12)


@given(st.lists(ROLE_NAMES, max_size=6), st.sampled_from(["list", "string"]), st.booleans())
def test_operator_exactly_when_the_roles_list_holds_the_role(roles, shape, allow_listed):
    """An independent oracle: membership in the list the provider sent (as a list, or as space-separated words)."""
    value = roles if shape == "list" else " ".join(roles)
    sent = roles if shape == "list" else " ".join(roles).split()
    rules = RoleRules(operators=frozenset({"sub-9"} if allow_listed else set()))
    session = resolve(user(sub="sub-9", roles=value), rules, NOW)
    assert session.actor.can_act == ("operator" in sent or allow_listed)


# -- the documented settings ----------------------------------------------------------------------------------------
def _toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, re.S)


def test_the_documented_settings_are_accepted():
    """The README's example and the commented sections of secrets.toml.example parse, hold what st.login requires,
    and give the rules they describe."""
    readme = next(b for b in _toml_blocks((ROOT / "README.md").read_text()) if "[madinina.roles]" in b)
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    uncommented = re.sub(r"^# (?=\[|[a-z_]+ = )", "", example, flags=re.M)
    for text in (readme, uncommented):
        secrets = tomllib.loads(text)
        assert {"redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"} <= set(
            secrets["auth"]
        )
        rules = rules_from(secrets["madinina"]["roles"])
        assert rules.claim == "realm_access.roles" and rules.operator_roles == {"madinina-operator"}
        assert rules.session_hours == 12
    assert "auth" not in tomllib.loads(example)  # shipped commented out: copying the file keeps the demo
