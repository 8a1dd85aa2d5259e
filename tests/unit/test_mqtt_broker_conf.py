"""The shipped broker file's TLS section (deploy/mosquitto/mosquitto.conf): off as shipped, switched on by the one
renderer (scripts/mqtt_broker.py) with exactly its documented substitutions, and by deploy/compose.yaml with the
same prefix removal and paths that are that service's mount."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.mqtt_broker import CONTAINER_DIR, SHIPPED_CONF, TLS_PREFIX, TlsListener, render

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_TLS = {
    "allow_anonymous": "false",
    "require_certificate": "false",
    "tls_version": "tlsv1.2",
    "certfile": "broker/server.crt",
    "keyfile": "broker/server.key",
    "password_file": "broker/passwd",
    "acl_file": "broker/acl",
}


def active(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def tls_section(text: str) -> dict[str, str]:
    lines = active(text)
    listeners = [i for i, line in enumerate(lines) if line.startswith("listener ")]
    return dict(line.split(" ", 1) for line in lines[listeners[-1] + 1 :]) | {"listener": lines[listeners[-1]]}


def test_as_shipped_and_without_tls_only_the_loopback_listener_is_active():
    text = SHIPPED_CONF.read_text()
    for rendered, port in ((text, 1883), (render(1234, Path("/x/y")), 1234)):
        assert [line for line in active(rendered) if line.startswith("listener ")] == [f"listener {port} 127.0.0.1"]
    assert "per_listener_settings true" in active(text)
    assert sum(line.startswith(TLS_PREFIX) for line in text.splitlines()) == len(EXPECTED_TLS) + 1


def test_render_with_tls_switches_the_section_on_with_its_substitutions_only():
    text = SHIPPED_CONF.read_text()
    rendered = render(1234, Path("/x/y"), tls=TlsListener(8884, Path("/secrets dir"), "0.0.0.0"))
    assert rendered.count("\n") == text.count("\n")  # lines changed, none added or removed
    section = tls_section(rendered)
    assert section.pop("listener") == "listener 8884 0.0.0.0"
    assert section == {k: f"/secrets dir/{v}" if "/" in v else v for k, v in EXPECTED_TLS.items()}
    # The loopback listener keeps its anonymous demo settings.
    lines = active(rendered)
    assert lines[lines.index("listener 1234 127.0.0.1") + 1] == "allow_anonymous true"


def test_render_refuses_a_file_without_the_tls_section():
    text = "\n".join(line for line in SHIPPED_CONF.read_text().splitlines() if not line.startswith(TLS_PREFIX))
    assert render(1, Path("/d"), text=text)  # fine without TLS
    with pytest.raises(ValueError, match="TLS"):
        render(1, Path("/d"), text=text, tls=TlsListener(2, Path("/s")))


def test_compose_switches_on_the_same_section_with_its_mount_and_published_port():
    service = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["mosquitto"]
    command = " ".join(service["command"])
    assert "sed 's/^#tls //' /mosquitto/config/mosquitto.conf" in command
    assert "MQTT_TLS" in service["environment"] and "exec mosquitto -c /tmp/mosquitto.conf" in command
    assert any(v.endswith(f":{CONTAINER_DIR}:ro") for v in service["volumes"])
    assert any(str(p).endswith(":8883") for p in service["ports"])
    # What that sed gives: the file's own TLS lines, whose paths are the mount and whose listener is 8883.
    compose_text = "\n".join(line.removeprefix(TLS_PREFIX) for line in SHIPPED_CONF.read_text().splitlines())
    section = tls_section(compose_text)
    assert section.pop("listener") == "listener 8883"
    assert section == {k: f"{CONTAINER_DIR}/{v}" if "/" in v else v for k, v in EXPECTED_TLS.items()}
