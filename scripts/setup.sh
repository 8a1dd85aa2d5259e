#!/usr/bin/env bash
# Set up a fresh Debian machine for Madinina Monitor. Idempotent: a second run only checks.
#   scripts/setup.sh run   what the dashboard + lite ingestion need (PostgreSQL binaries, Python deps)
#   scripts/setup.sh dev   plus what the tests need (Mosquitto, Chromium, Java for Spark, docker-compose to
#                          validate deploy/, VictoriaMetrics and Prometheus for the archive and metrics tests,
#                          Node + the pinned OpenID Connect provider for the login test, test/lint Python deps)
# Both modes build TimescaleDB once from ../shared/vendor/timescaledb-2.28.3.tar.gz when that archive is there
# (scripts/timescaledb.sh; TIMESCALEDB_ARCHIVE overrides the path); without it the database is plain PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"

log() { printf '\033[1;36m[setup]\033[0m %s\n' "$*"; }

# --- system packages (Debian) -------------------------------------------------------------------------
need=()
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || need+=(postgresql)
# TimescaleDB's build needs pg_config + server headers and cmake, installed here BEFORE any server starts.
if bash scripts/timescaledb.sh --needs-build; then
  if pg_version="$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null)" && [ -n "$pg_version" ]; then
    # Pinned to the installed server's version: the newest postgresql-server-dev-15 would pull the newest
    # postgresql-15 with it and upgrade the server binaries under running clusters (which then fail to load
    # plpgsql.so: "undefined symbol").
    dpkg-query -W -f='${Status}' postgresql-server-dev-15 2>/dev/null | grep -q 'install ok installed' ||
      need+=("postgresql-server-dev-15=$pg_version")
  else
    need+=(postgresql-server-dev-15)  # installed together with the server, so both are the same version
  fi
  command -v cmake >/dev/null || need+=(cmake)
  command -v make >/dev/null && command -v cc >/dev/null || need+=(build-essential)
fi
command -v python3 >/dev/null || need+=(python3 python3-venv)
if [ "$MODE" = dev ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  command -v openssl >/dev/null || need+=(openssl)  # the broker's local CA and certificate (scripts/mqtt_broker.py)
  command -v chromium >/dev/null || need+=(chromium)
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
  command -v docker-compose >/dev/null || need+=(docker-compose)  # validates deploy/compose.yaml offline
  # The archive and metrics tests: an InfluxDB-protocol store and a real Prometheus (with promtool).
  command -v victoria-metrics >/dev/null || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
  command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || need+=(prometheus)
  fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
  # The login test's OpenID Connect provider (npm oidc-provider) runs on Node >= 20.
  command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages must not start services of their own: the project starts what it needs on its own ports.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# --- Python virtualenv -----------------------------------------------------------------------------------
req=requirements.txt
[ "$MODE" = dev ] && req=requirements-dev.txt
[ -x .venv/bin/python ] || { log "creating .venv"; python3 -m venv .venv; }
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-16)-$MODE"
if [ ! -f "$stamp" ]; then
  log "installing Python packages from $req"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  touch "$stamp"
fi

# --- the login test's OpenID Connect provider (tests/support/oidc: exact versions from package-lock.json) ---
if [ "$MODE" = dev ]; then
  oidc=tests/support/oidc
  node_major="$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')"
  if [ "${node_major:-0}" -lt 20 ]; then
    echo "warning: Node >= 20 is needed by the login test's OIDC provider (found: $(node --version 2>/dev/null ||
      echo none)); install it from NodeSource or Debian backports" >&2
  fi
  lock_sum="$(sha256sum "$oidc/package-lock.json" | cut -c1-16)"
  if [ ! -f "$oidc/node_modules/.installed-$lock_sum" ]; then
    log "installing the OIDC provider for the login test (npm ci in $oidc)"
    (cd "$oidc" && npm ci --no-audit --no-fund --loglevel=error) && touch "$oidc/node_modules/.installed-$lock_sum"
  fi
fi

# --- TimescaleDB (built once per machine from the vendored archive; a second run only checks) -----------
bash scripts/timescaledb.sh
log "ready ($MODE)"
