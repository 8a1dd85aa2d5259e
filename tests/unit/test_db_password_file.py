"""The embedded server's password file (db/credentials.py) and the URLs db/settings.py hands out: generated once
and reused, private, the environment's overrides applied, any password (':' and '\\' included) read back by
libpq exactly as written, and no URL of the embedded server carrying a password."""

from __future__ import annotations

import stat
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db import settings as db_settings
from db.credentials import USERS, Credentials, CredentialsError, _escape, _fields
from db.embedded import EmbeddedPostgres

# What a password may hold in a libpq password file: anything but a line break (and NUL, which nothing carries).
PASSWORD = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)), min_size=1)


@given(user=PASSWORD, password=PASSWORD)
@settings(max_examples=300)
def test_a_line_reads_back_as_written(user, password):
    assert _fields(f"*:*:*:{_escape(user)}:{_escape(password)}") == ["*", "*", "*", user, password]


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn", "nul\0"])
def test_a_password_the_file_cannot_hold_is_refused(bad):
    with pytest.raises(CredentialsError):
        _escape(bad)


def test_generated_once_private_and_reused(tmp_path, monkeypatch):
    for name in ("MADININA_WRITER_PASSWORD", "MADININA_READER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    credentials = Credentials(tmp_path / "creds")
    first, created = credentials.ensure()
    assert created and set(first) == set(USERS.values()) and len(set(first.values())) == 3
    assert all(len(p) >= 32 for p in first.values())
    assert stat.S_IMODE(credentials.passfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.directory.stat().st_mode) == 0o700
    credentials.passfile.chmod(0o644)  # loosened by hand: put back
    again, created = credentials.ensure()
    assert again == first and not created and credentials.load() == first
    assert stat.S_IMODE(credentials.passfile.stat().st_mode) == 0o600


def test_the_environment_overrides_the_writer_and_reader_not_the_owner(tmp_path, monkeypatch):
    credentials = Credentials(tmp_path / "creds")
    first, _ = credentials.ensure()
    monkeypatch.setenv("MADININA_READER_PASSWORD", "r: \\ 'x'")
    monkeypatch.setenv("MADININA_OWNER_PASSWORD", "ignored")
    second, _ = credentials.ensure()
    assert second[USERS["reader"]] == "r: \\ 'x'" and credentials.load() == second
    assert second[USERS["owner"]] == first[USERS["owner"]] and second[USERS["writer"]] == first[USERS["writer"]]
    monkeypatch.delenv("MADININA_READER_PASSWORD")
    assert credentials.ensure()[0] == second  # kept once set, until another is given


def test_embedded_urls_name_the_password_file_and_carry_no_password(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name in ("DASHBOARD_DATABASE_URL", "WRITER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(db_settings, "SECRETS_FILE", tmp_path / "none.toml")
    monkeypatch.setenv("MADININA_PG_DATA", str(tmp_path / "my data" / "pg"))
    monkeypatch.setenv("MADININA_PG_PORT", "5999")
    monkeypatch.setenv("MADININA_READER_PASSWORD", "secret-from-env")
    passfile = EmbeddedPostgres(data_dir=tmp_path / "my data" / "pg").credentials.passfile
    assert passfile == tmp_path / "my data" / "pg-credentials" / "pgpass"
    for role, user in (("owner", "postgres"), ("writer", "madinina_writer"), ("reader", "madinina_reader")):
        parts = urlsplit(db_settings.database_url(role))  # type: ignore[arg-type]
        assert (parts.username, parts.password, parts.hostname, parts.port) == (user, None, "127.0.0.1", 5999)
        assert parse_qs(parts.query) == {"passfile": [str(passfile)]}  # decoded as libpq decodes it


def test_a_role_url_derived_from_an_external_owner_url_keeps_its_options(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@db.example:5432/madinina?passfile=/p/pgpass")
    monkeypatch.delenv("DASHBOARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("MADININA_READER_PASSWORD", "p@ss/word")
    monkeypatch.setattr(db_settings, "SECRETS_FILE", db_settings.PROJECT_ROOT / "no-such-secrets.toml")
    url = db_settings.database_url("reader")
    parts = urlsplit(url)
    assert (parts.username, parts.hostname, parts.query) == ("madinina_reader", "db.example", "passfile=/p/pgpass")
    assert "p%40ss%2Fword" in url and db_settings.redacted(url).count("***") == 1
    other = db_settings.with_database(url, "postgres")
    assert urlsplit(other).path == "/postgres" and urlsplit(other).query == "passfile=/p/pgpass"
