"""A real OpenID Connect provider for the login tests: panva/node-oidc-provider (npm `oidc-provider`, OpenID
Certified), pinned in tests/support/oidc/package-lock.json and installed by `scripts/setup.sh dev` (`npm ci`), run by
Node on a free local port with the accounts and the client a test gives it (tests/support/oidc/provider.js).

It plays the part Keycloak plays in production: discovery, authorization code flow with PKCE, signed ID tokens
carrying the accounts' claims (Keycloak's `realm_access.roles` shape included), RP-initiated logout."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import free_port, wait_for_http

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
MIN_NODE_MAJOR = 20


def node_path() -> str | None:
    """Node (≥ 20) with the pinned provider installed, or None."""
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.match(r"v(\d+)\.", version)
    return node if match and int(match.group(1)) >= MIN_NODE_MAJOR else None


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


@contextmanager
def oidc_provider(workdir: Path, *, accounts: dict[str, dict], redirect_uri: str):
    """Run the provider with `accounts` (login -> claims) and one confidential client allowed to redirect to
    `redirect_uri` (also its post-logout redirect, as Streamlit's st.logout asks). Yields a Provider once its
    discovery document answers."""
    node = node_path()
    if node is None:
        raise RuntimeError("node >= 20 with tests/support/oidc installed (scripts/setup.sh dev: npm ci)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    client = {
        "client_id": "madinina-dashboard",
        "client_secret": secrets.token_urlsafe(24),
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [redirect_uri],
    }
    config = workdir / f"oidc-{port}.json"
    config.write_text(
        json.dumps({"port": port, "client": client, "accounts": accounts, "cookie_key": secrets.token_urlsafe(24)})
    )
    log_path = workdir / f"oidc-{port}.log"
    provider = Provider(f"http://127.0.0.1:{port}", client["client_id"], client["client_secret"])
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [node, str(OIDC_DIR / "provider.js"), str(config)],
            cwd=OIDC_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(
                proc,
                provider.metadata_url,
                lambda response: json.load(response).get("issuer") == provider.issuer,
                30,
                "oidc-provider",
                log_path,
            )
            yield provider
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
