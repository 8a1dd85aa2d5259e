"""The MQTT clients' connection options (ingestion/transports/mqtt.py): the password comes from a file or the
environment, never from the command line, and never shows in a repr."""

from __future__ import annotations

import argparse

import pytest

from ingestion.transports.mqtt import MqttConfig, add_mqtt_args, mqtt_config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mqtt_args(parser)
    return parser.parse_args(argv)


def test_defaults_are_the_plain_loopback_listener(monkeypatch):
    for name in ("MQTT_CA_FILE", "MQTT_USERNAME", "MQTT_PASSWORD_FILE", "MQTT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    config = mqtt_config(parse(), client_id="x")
    assert (config.host, config.port, config.ca_file, config.username, config.password) == (
        "127.0.0.1", 1883, None, None, None,
    )  # fmt: skip


def test_tls_and_credentials_from_options_and_a_password_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MQTT_PASSWORD", raising=False)
    secret = tmp_path / "dev.password"
    secret.write_text("s3cret-value\n")
    args = parse(
        "--mqtt-port", "8883", "--mqtt-ca", "/ca.crt", "--mqtt-username", "dev", "--mqtt-password-file", str(secret)
    )
    config = mqtt_config(args, client_id="dev")
    assert (config.port, config.ca_file, config.username, config.password) == (8883, "/ca.crt", "dev", "s3cret-value")
    assert "s3cret-value" not in repr(config) and "s3cret-value" not in str(config)
    # There is no password option (it would show in `ps`); a password typed where the file goes is not echoed.
    with pytest.raises(ValueError, match="cannot read") as refused:
        mqtt_config(parse("--mqtt-username", "dev", "--mqtt-password-file", "typed-by-mistake"))
    assert "typed-by-mistake" not in str(refused.value)


def test_the_environment_gives_the_same_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MQTT_CA_FILE", "/env-ca.crt")
    monkeypatch.setenv("MQTT_USERNAME", "madinina-consumer")
    monkeypatch.delenv("MQTT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("MQTT_PASSWORD", "from-env")
    config = mqtt_config(parse())
    assert (config.ca_file, config.username, config.password) == ("/env-ca.crt", "madinina-consumer", "from-env")


def test_a_password_without_a_username_is_refused(monkeypatch):
    monkeypatch.delenv("MQTT_USERNAME", raising=False)
    monkeypatch.setenv("MQTT_PASSWORD", "orphan")
    with pytest.raises(ValueError, match="username"):
        mqtt_config(parse())
    assert MqttConfig().password is None
